"""What an officer's inbox says of a case: the deadlines it is waiting on, and which have passed.

Pure functions of `CaseState`. A case's `next_deadline` is the workflow's next timer (it includes
the reminders the case sends by itself, and drops a deadline once it has run out); the inbox wants
the other thing: every date by which someone has to have done something, including the ones that
have passed and are still not done, since those are what an officer must see first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType

from domain.case import CaseState
from domain.clock import STOCKHOLM, end_of_day, stockholm_date
from domain.lifecycle import Stage
from domain.records import records_request_deadline


class DeadlineKind(StrEnum):
    COMPLETION_REPLY = "completion_reply"  # the applicant's reply to a request for completion
    COMMUNICATION_REPLY = "communication_reply"  # the applicant's reply before the decision (FL 25 §)
    DECISION_REQUEST = "decision_request"  # the four weeks to answer a request for a decision (FL 12 §)
    FINAL_REPORT = "final_report"  # the final report, on the decision's (or the call's) date
    REVOCATION_REPLY = "revocation_reply"  # the applicant's reply before a revocation
    RECLAIM_REPLY = "reclaim_reply"  # the applicant's reply before a reclaim decision
    CLAIM_DUE = "claim_due"  # the reclaimed amount's due date
    RECORDS_REQUEST = "records_request"  # a public-records request, to be handled promptly (OSL 6 kap.)


DEADLINE_LABELS_SV: Mapping[DeadlineKind, str] = MappingProxyType({
    DeadlineKind.COMPLETION_REPLY: "Svar på begäran om komplettering",
    DeadlineKind.COMMUNICATION_REPLY: "Svar på kommunicering",
    DeadlineKind.DECISION_REQUEST: "Beslut efter begäran om avgörande (FL 12 §)",
    DeadlineKind.FINAL_REPORT: "Slutrapport",
    DeadlineKind.REVOCATION_REPLY: "Svar inför återkallelse",
    DeadlineKind.RECLAIM_REPLY: "Svar inför återkrav",
    DeadlineKind.CLAIM_DUE: "Återbetalning av återkrav",
    DeadlineKind.RECORDS_REQUEST: "Begäran om allmän handling",
})



@dataclass(frozen=True, slots=True)
class Deadline:
    """A plain dataclass, not a model: the inbox builds a few for every row of every page. Pydantic
    validates it where it is a field of a model (the register's CaseSnapshot)."""

    kind: DeadlineKind
    at: datetime  # the first instant at which it has passed (UTC)


def deadlines(case: CaseState) -> list[Deadline]:
    """Every deadline the case is still waiting on, earliest first, passed or not."""
    found: list[Deadline] = []

    def add(kind: DeadlineKind, at: datetime | None) -> None:
        if at is not None:
            found.append(Deadline(kind=kind, at=at))

    completion = case.completion
    if completion is not None and completion.answered_at is None and case.stage is Stage.COMPLETENESS:
        add(DeadlineKind.COMPLETION_REPLY, completion.deadline)
    hearing = case.communication
    if hearing is not None and hearing.reply is None and not hearing.expired and case.stage is Stage.DECISION:
        add(DeadlineKind.COMMUNICATION_REPLY, hearing.deadline)
    if case.decision_request is not None and case.decision is None:
        add(DeadlineKind.DECISION_REQUEST, case.decision_request.deadline)
    payments = case.payments
    if payments is not None and payments.final_report is None and case.stage is Stage.PAYMENTS:
        add(DeadlineKind.FINAL_REPORT, end_of_day(payments.report_due))
    revocation = case.revocation
    if (revocation is not None and revocation.pending and not revocation.hearing.settled
            and case.stage in (Stage.PAYMENTS, Stage.FINAL_REPORT)):
        add(DeadlineKind.REVOCATION_REPLY, revocation.hearing.deadline)
    reclaim = case.reclaim
    if reclaim is not None and case.stage is Stage.RECLAIM and reclaim.settled_at is None:
        if reclaim.claim is None and reclaim.hearing is not None and not reclaim.hearing.settled:
            add(DeadlineKind.RECLAIM_REPLY, reclaim.hearing.deadline)
        if reclaim.claim is not None and reclaim.claim.written_off_at is None:
            add(DeadlineKind.CLAIM_DUE, reclaim.claim.due)
    return sorted(found, key=lambda d: (d.at, d.kind.value))


def nearest(found: Iterable[Deadline]) -> Deadline | None:
    return min(found, key=lambda d: (d.at, d.kind.value), default=None)


def overdue(found: Iterable[Deadline], now: datetime) -> list[DeadlineKind]:
    """The kinds of deadline that have passed at `now` (and are still not met), earliest first."""
    return [d.kind for d in sorted(found, key=lambda d: (d.at, d.kind.value)) if d.at <= now]


def records_overdue_before(now: datetime) -> datetime:
    """A records request pending since before this instant is overdue at `now`: the inverse of
    `records_request_deadline`, so that a query can compare the stored instant with it."""
    start = datetime.combine(stockholm_date(now), datetime.min.time(), tzinfo=STOCKHOLM)
    return start.astimezone(now.tzinfo)


__all__ = ["DEADLINE_LABELS_SV", "Deadline", "DeadlineKind", "deadlines", "nearest", "overdue",
           "records_overdue_before", "records_request_deadline"]
