"""The facts of a call that the rest of the case needs besides its rules."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from domain.clock import end_of_day, require_utc
from domain.money import Kronor, Share
from domain.state_aid import DeMinimisCeiling

Heading = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class Terms(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Window(Terms):
    """When applications are accepted: `opens` where the call states it, and its last day."""

    opens: date | None = None
    closes: date
    section: Heading

    @model_validator(mode="after")
    def _opens_before_closes(self) -> Window:
        if self.opens is not None and self.opens > self.closes:
            raise ValueError("opens must not be after closes")
        return self

    @property
    def deadline(self) -> datetime:
        """End of the last day in Stockholm, as a UTC instant."""
        return end_of_day(self.closes)

    def is_late(self, received_at: datetime) -> bool:
        return require_utc(received_at) >= self.deadline


class Regulation(StrEnum):
    SFS_2003_596 = "SFS 2003:596"
    SFS_2015_210 = "SFS 2015:210"


class LegalBasis(Terms):
    regulation: Regulation
    provision: str | None = None  # e.g. "13 §"
    title: str
    section: Heading


class StateAidScheme(StrEnum):
    NONE = "none"
    DE_MINIMIS = "de_minimis"


class StateAid(Terms):
    """Whether the grant itself is state aid, and whether companies taking part receive aid."""

    grant: StateAidScheme
    participating_companies: bool
    section: Heading
    # The de minimis regulations that apply to the aid companies receive, each for the days it
    # covers (domain/state_aid.py). A call stored before they were written down has none.
    ceilings: Annotated[list[DeMinimisCeiling], Field(max_length=10)] = []


class Appeal(Terms):
    """FL 33 §: whether a grant decision can be appealed is a setting of the call."""

    grant_decision_appealable: bool
    reclaim_decision_appealable: bool = True


class Funding(Terms):
    budget: Kronor = Field(gt=0)
    budget_section: Heading


class Timeline(Terms):
    operations_end: date | None = None
    final_report_due: date
    section: Heading

    @model_validator(mode="after")
    def _operations_before_report(self) -> Timeline:
        if self.operations_end is not None and self.operations_end > self.final_report_due:
            raise ValueError("operations_end must not be after final_report_due")
        return self


class Deadlines(Terms):
    """Reply periods the law leaves to the agency; each case keeps the values it started with."""

    completion_reply_days: Annotated[int, Field(ge=1, le=120)] = 14
    communication_reply_days: Annotated[int, Field(ge=14, le=120)] = 14  # FL 25 §: at least 14 days here
    decision_request_after_months: Annotated[int, Field(ge=1, le=24)] = 6  # FL 12 §
    decision_request_answer_weeks: Annotated[int, Field(ge=1, le=12)] = 4  # FL 12 §


class PaymentTerms(Terms):
    """How the grant is paid: choices the ordinances leave to the agency, set per call.

    Paid in arrears against reported costs; an advance only where the decision allows one
    (SFS 2003:596: at most half the grant and 400 000 kr); a share withheld until the final
    report is approved; a payment request must come within a time after the period it covers.
    """

    section: Heading
    advance_max_share: Share = Fraction(1, 2)
    advance_max_amount: Kronor = Decimal("400000.00")
    withheld_share: Share = Fraction(1, 10)
    request_within_days: Annotated[int, Field(ge=1, le=366)] = 90


class FollowUpTerms(Terms):
    """The final report's reminders, and the terms of a reclaim (räntelagen 5–6 §§)."""

    section: Heading
    reminders_before_days: Annotated[list[Annotated[int, Field(ge=1, le=180)]], Field(max_length=5)] = [30, 7]
    reminders_after_days: Annotated[list[Annotated[int, Field(ge=1, le=180)]], Field(max_length=5)] = [7]
    missing_report_grace_days: Annotated[int, Field(ge=1, le=366)] = 30
    reclaim_due_days: Annotated[int, Field(ge=10, le=366)] = 30
    interest_margin_before_due: Annotated[Decimal, Field(ge=0, le=20)] = Decimal(2)
    interest_margin_after_due: Annotated[Decimal, Field(ge=0, le=20)] = Decimal(8)

    @model_validator(mode="after")
    def _reminders_before_grace(self) -> FollowUpTerms:
        if any(d >= self.missing_report_grace_days for d in self.reminders_after_days):
            raise ValueError("reminders_after_days must fall before missing_report_grace_days")
        return self


class CallTerms(Terms):
    id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{2,80}$")]
    title: str
    agency: str
    source_text: str  # the call text this file encodes, kept beside it
    legal_basis: LegalBasis
    state_aid: StateAid
    appeal: Appeal
    window: Window
    funding: Funding
    timeline: Timeline
    deadlines: Deadlines = Deadlines()
    payments: PaymentTerms
    follow_up: FollowUpTerms
