"""The project period: "Hur länge kan projektet pågå?"."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from domain.rules.base import Problem, Rule, Submission


class PeriodStartsOnOrAfterReceipt(Rule):
    """Costs count from the day the application arrived, never from before."""

    check: Literal["period_starts_on_or_after_receipt"]

    def problems(self, submission: Submission) -> Iterator[Problem]:
        start = submission.application.project.start
        if start < submission.received_on:
            yield "$.project.start", (
                f"Projektet kan starta tidigast den dag ansökan kom in ({submission.received_on.isoformat()}); "
                f"ansökan anger {start.isoformat()}."
            )


class PeriodEndsBy(Rule):
    """The project ends by a date of the call's timeline (operations' end or the final report)."""

    check: Literal["period_ends_by"]
    by: Literal["operations_end", "final_report_due"]

    def problems(self, submission: Submission) -> Iterator[Problem]:
        last_day = getattr(submission.terms.timeline, self.by)
        end = submission.application.project.end
        if last_day is not None and end > last_day:
            limit = (
                "Projektet kan drivas operativt längst till och med"
                if self.by == "operations_end"
                else "Projektet ska vara slutredovisat senast"
            )
            yield "$.project.end", f"{limit} {last_day.isoformat()}; ansökan anger slutdatum {end.isoformat()}."
