"""What the workflows take, give and tell each other: every input, result and signal, as models.

Kept apart from the workflow modules because the sandbox re-imports a workflow's module for
every workflow it runs (and again after each eviction from the cache), and building pydantic
model classes was the largest part of that cost. This module is passed through instead: it is
imported once per worker, and the classes are the same in every workflow.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import AwareDatetime, BaseModel

from activities.register import Opened
from domain.application import Application
from domain.call import SharedCall
from domain.case import CaseState, FundingProposal, new_case
from domain.findings import Verdict

# --- the case ---------------------------------------------------------------------------------


class CaseStart(BaseModel):
    case_number: str
    submission_id: str
    call: SharedCall
    application: Application
    received_at: datetime
    imported: bool = False
    verdict: Verdict | None = None  # the checks at intake, when they were run there
    # What the intake wrote of the case's opening, when it did (not before decision 16): the case
    # then starts with it in the register.
    opened: Opened | None = None

    def new_case(self) -> CaseState:
        """The case as it opens: the intake writes this opening and the case starts from it (decision 16)."""
        return new_case(case_number=self.case_number, submission_id=self.submission_id, call=self.call,
                        application=self.application, received_at=self.received_at, imported=self.imported,
                        verdict=self.verdict)


class CaseInput(BaseModel):
    """A new case, or one continuing as new with all of its state."""

    start: CaseStart | None = None
    resume: CaseState | None = None
    # Continue as new once the history has this many events, besides whenever Temporal suggests
    # it: a case runs for a year, and its history must stay well inside Temporal's limits.
    continue_after_events: int = 10_000


# --- receiving an application ---------------------------------------------------------------


class Submission(BaseModel):
    submission_id: str
    call: SharedCall
    application: Application
    # Set only for an import of applications registered elsewhere: their own received instant.
    imported_received_at: AwareDatetime | None = None


class Intake(BaseModel):
    """What the applicant is told at once: the case number and what the checks found."""

    case_number: str
    verdict: Verdict


# --- the call ---------------------------------------------------------------------------------


class CaseNews(BaseModel):
    case_number: str
    requested: Decimal
    received_at: datetime
    score: int | None = None
    granted: Decimal | None = None


class CallEntry(BaseModel):
    requested: Decimal
    received_at: datetime
    score: int | None = None
    in_running: bool = True
    granted: Decimal | None = None
    proposal: FundingProposal | None = None
    # What the case was last told remains of the budget, so that a decision maker's approval
    # above it is refused before it reaches the case's history.
    told_remaining: Decimal | None = None


class CallState(BaseModel):
    call: SharedCall
    cases: dict[str, CallEntry] = {}


class BudgetRemaining(BaseModel):
    remaining: Decimal


class Standing(BaseModel):
    closed: bool
    budget: Decimal
    granted: Decimal
    ranking: list[tuple[str, FundingProposal]]


class ScoredCase(BaseModel):
    case_number: str
    requested: Decimal
    received_at: datetime
    score: int | None = None
    in_running: bool = True
    granted: Decimal | None = None
    proposal: FundingProposal | None = None


class CallScores(BaseModel):
    """Every case the call has heard of: those in the ranking first, in its order, then the rest by number."""

    closed: bool
    cases: list[ScoredCase]
