"""What every rule of a call has, and what it is checked against.

A rule is data from a call file (an id, the heading of the call text it comes from,
a severity, the rule in the call's own words) plus the parameters of one generic
check. Nothing here knows which call it serves.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cached_property
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints

from domain.application import Application, CostType
from domain.clock import require_utc, stockholm_date
from domain.findings import Finding, Severity
from domain.money import total
from domain.paths import require_path, resolve
from domain.terms import CallTerms

RuleId = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)+$", max_length=40)]
Heading = Annotated[str, StringConstraints(min_length=1, max_length=200)]
BoolPath = Annotated[str, AfterValidator(lambda p: require_path(Application, p, bool))]
TextPath = Annotated[str, AfterValidator(lambda p: require_path(Application, p, str))]


@dataclass(frozen=True)
class Submission:
    """An application as received for one call: what every check looks at."""

    terms: CallTerms
    application: Application
    received_at: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "received_at", require_utc(self.received_at))

    @property
    def received_on(self) -> date:
        return stockholm_date(self.received_at)

    @cached_property
    def total_costs(self) -> Decimal:
        return total(
            line.amount for line in self.application.budget if line.cost_type is not CostType.PROJECT_REVENUE
        )

    @cached_property
    def project_revenue(self) -> Decimal:
        return total(
            line.amount for line in self.application.budget if line.cost_type is CostType.PROJECT_REVENUE
        )

    @cached_property
    def total_budget(self) -> Decimal:
        """The project's budget: its costs less its own revenue (e.g. participant fees)."""
        return self.total_costs - self.project_revenue


# (field as JSON path, Swedish message)
Problem = tuple[str, str]


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: RuleId
    section: Heading
    severity: Severity
    text: Annotated[str, StringConstraints(min_length=1, max_length=2000)]
    when: BoolPath | None = None
    # For what a call asks "om projektansökan inkluderar denna typ av kostnader": no yes/no
    # field says so, the budget lines do.
    when_budget_has: CostType | None = None

    @abstractmethod  # pydantic's model metaclass is an ABCMeta, so a bare Rule cannot be built
    def problems(self, submission: Submission) -> Iterator[Problem]: ...

    def applies(self, submission: Submission) -> bool:
        if self.when is not None and resolve(submission.application, self.when) is not True:
            return False
        return self.when_budget_has is None or any(
            line.cost_type is self.when_budget_has for line in submission.application.budget
        )

    def evaluate(self, submission: Submission) -> list[Finding]:
        if not self.applies(submission):
            return []
        return [
            Finding(rule=self.id, severity=self.severity, field=field, message=message)
            for field, message in self.problems(submission)
        ]
