"""What an applicant sees of their own organisation's cases: where each stands and the letters it sent.

Read from the public register, by the organisation number the register writes for the sender: an
applicant is shown their own organisation's cases and never another's.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel

from activities.register import organisation_cases, organisation_letters
from domain.clock import stockholm_date
from domain.lifecycle import OUTCOME_LABELS_SV, STAGE_LABELS_SV, Outcome, Stage
from domain.records import REQUESTER_LETTERS


class ApplicantLetter(BaseModel):
    letter_id: str
    subject: str
    date: date  # the Stockholm day it was written
    written_at: datetime
    sent: bool  # e-mailed; otherwise it waits in the outbox to be posted


class ApplicantCase(BaseModel):
    case_number: str
    call_id: str
    subject: str
    received_at: datetime
    stage: Stage
    stage_label: str  # Swedish
    outcome: Outcome | None
    outcome_label: str | None  # Swedish
    requested_amount: Decimal
    granted_amount: Decimal | None
    next_deadline: datetime | None
    letters: list[ApplicantLetter]


async def organisation_cases_with_letters(pool: AsyncConnectionPool, org_number: str | None) -> list[ApplicantCase]:
    """The organisation's cases, oldest first, each with its letters; `org_number` as sign-in gives it
    (domain.users.applicant_org_number: as the register writes it)."""
    if org_number is None:
        return []
    number = org_number
    rows = await organisation_cases(pool, number)
    letters: dict[str, list[ApplicantLetter]] = {}
    for letter in await organisation_letters(pool, number):
        if letter.kind in REQUESTER_LETTERS:
            continue  # to someone who asked for a public document, not to the applicant
        letters.setdefault(letter.case_number, []).append(ApplicantLetter(
            letter_id=letter.letter_id, subject=letter.subject, date=stockholm_date(letter.created_at),
            written_at=letter.created_at, sent=letter.sent_at is not None))
    result = []
    for row in rows:
        stage = Stage(row.stage)
        outcome = Outcome(row.outcome) if row.outcome else None
        result.append(ApplicantCase(
            case_number=row.case_number, call_id=row.call_id, subject=row.subject, received_at=row.received_at,
            stage=stage, stage_label=STAGE_LABELS_SV[stage], outcome=outcome,
            outcome_label=OUTCOME_LABELS_SV[outcome] if outcome else None,
            requested_amount=row.requested_amount, granted_amount=row.granted_amount,
            next_deadline=row.next_deadline, letters=letters.get(row.case_number, [])))
    return result


__all__ = ["ApplicantCase", "ApplicantLetter", "organisation_cases_with_letters"]
