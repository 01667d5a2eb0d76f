"""The officers' inbox: cases filtered, in the order they need attention, a page at a time.

It reads the register in PostgreSQL (activities/inbox.py), never Temporal: a list of thousands of
cases is the register's to answer. Cases with a waiting public-records request come first, then
the nearest deadline; every deadline that has passed is flagged (domain/inbox.py).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated

from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from activities.inbox import InboxFilters, InboxKey, InboxRow, inbox
from domain.clock import require_utc
from domain.inbox import DEADLINE_LABELS_SV, Deadline, DeadlineKind, nearest, overdue, records_request_deadline
from domain.lifecycle import STAGE_LABELS_SV, Stage
from domain.text import Clean
from infra.errors import InputError
from services.teams import MINE, check_team

MAX_LIMIT = 200
_WORD = re.compile(r"[^\W_]+")
_CASE_NUMBER = re.compile(r"[0-9]{4}-[0-9]{5,}", re.ASCII)
_CURSOR_VERSION = "i1"


class InboxQuery(BaseModel):
    """What an officer asks the inbox for. Every filter narrows the list; none is required."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stage: list[Stage] = Field(default=[], max_length=len(Stage), description="Only cases in these stages")
    call: Annotated[str, StringConstraints(min_length=1, max_length=200), Clean] | None = Field(
        default=None, description="Only the call with this id")
    officer: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._@-]{1,100}$")] | None = Field(
        default=None, description="Only cases assigned to this officer; `me` for the signed-in person")
    min_amount: Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2)] | None = Field(
        default=None, description="Amount applied for, at least (kronor)")
    max_amount: Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2)] | None = Field(
        default=None, description="Amount applied for, at most (kronor)")
    overdue: bool = Field(default=False, description="Only cases with a deadline that has passed")
    records_pending: bool = Field(default=False,
                                  description="Only cases with a request for a public document waiting for an answer")
    due_within_days: Annotated[int, Field(ge=1, le=366)] | None = Field(
        default=None, description="Only cases whose nearest deadline is still ahead and within this many days")
    team: Annotated[str, StringConstraints(max_length=50)] | None = Field(
        default=None, description="Only cases assigned to a member of this team; `mine` for the teams of the "
                                  "signed-in person, their own cases included")
    q: Annotated[str, StringConstraints(max_length=200), Clean] | None = Field(
        default=None, description="Words that begin words of the project title or the applicant's name")
    cursor: Annotated[str, StringConstraints(max_length=500)] | None = Field(
        default=None, description="`next_cursor` of the page before")
    limit: Annotated[int, Field(ge=1, le=MAX_LIMIT)] = 50


class InboxDeadline(BaseModel):
    kind: DeadlineKind
    label: str  # Swedish
    at: datetime
    overdue: bool


class InboxCase(BaseModel):
    case_number: str
    call_id: str
    title: str
    applicant_name: str
    stage: Stage
    stage_label: str  # Swedish
    officer: str | None
    requested_amount: Decimal
    next_deadline: InboxDeadline | None
    overdue: list[DeadlineKind]  # every deadline that has passed and is not met, earliest first
    records_pending_since: datetime | None


class StageCount(BaseModel):
    stage: Stage
    label: str  # Swedish
    count: int


class InboxPage(BaseModel):
    cases: list[InboxCase]
    next_cursor: str | None  # None on the last page
    counts: list[StageCount]  # per stage, under every filter but `stage`
    total: int  # the cases under every filter, `stage` too


def encode_cursor(key: InboxKey) -> str:
    raw = json.dumps([_CURSOR_VERSION, int(key.records_last), key.at.isoformat() if key.at else None,
                      key.case_number], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> InboxKey:
    """The key a cursor carries; anything else is an InputError naming `cursor`."""
    bad = InputError.one("cursor", "ogiltig sidmarkör: använd next_cursor från föregående sida, eller börja om utan")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        version, records_last, at, number = json.loads(raw)
    except (binascii.Error, ValueError, TypeError):
        raise bad from None
    if version != _CURSOR_VERSION or records_last not in (0, 1) or not isinstance(number, str) \
            or not _CASE_NUMBER.fullmatch(number) or not (at is None or isinstance(at, str)):
        raise bad
    try:
        instant = require_utc(datetime.fromisoformat(at)) if at is not None else None
    except ValueError:
        raise bad from None
    return InboxKey(records_last=bool(records_last), at=instant, case_number=number)


def filters(query: InboxQuery, now: datetime, me: str | None = None) -> InboxFilters:
    """The query's filters as the register reads them; an InputError names a filter that cannot be used.

    `me` is the signed-in person, whose teams `team=mine` means."""
    if query.min_amount is not None and query.max_amount is not None and query.min_amount > query.max_amount:
        raise InputError.one("max_amount", "får inte vara mindre än min_amount")
    if query.overdue and query.due_within_days is not None:
        raise InputError.one("due_within_days", "kan inte kombineras med overdue: förfallna ärenden har passerat "
                             "sin frist; välj det ena eller det andra")
    words: list[str] = []
    if query.q is not None:
        words = _WORD.findall(query.q)
        if not words:
            raise InputError.one("q", "ska innehålla minst ett ord av bokstäver eller siffror")
        if len(words) > 10:
            raise InputError.one("q", "för många ord: högst 10")
    team = teams_of = None
    if query.team == MINE:
        if me is None:
            raise InputError.one("team", f"{MINE!r} gäller den inloggades team; ange ett teams namn")
        teams_of = me
    elif query.team is not None:
        team = check_team(query.team)
    return InboxFilters(
        now=now, stages=[s.value for s in query.stage], call_id=query.call, officer=query.officer,
        team=team, teams_of=teams_of,
        min_amount=query.min_amount, max_amount=query.max_amount, overdue=query.overdue,
        due_within=timedelta(days=query.due_within_days) if query.due_within_days is not None else None,
        words=words, records_pending=query.records_pending,
    )


def _case(row: InboxRow, now: datetime) -> InboxCase:
    waiting = [Deadline(kind=DeadlineKind(kind), at=at) for kind, at in zip(row.deadline_kinds, row.deadline_ats,
                                                                            strict=True)]
    if row.records_pending_since is not None:
        waiting.append(Deadline(kind=DeadlineKind.RECORDS_REQUEST,
                                at=records_request_deadline(row.records_pending_since)))
    passed = overdue(waiting, now)
    first = nearest(waiting)
    stage = Stage(row.stage)
    return InboxCase(
        case_number=row.case_number, call_id=row.call_id, title=row.subject, applicant_name=row.sender_name,
        stage=stage, stage_label=STAGE_LABELS_SV[stage], officer=row.officer, requested_amount=row.requested_amount,
        next_deadline=None if first is None else InboxDeadline(
            kind=first.kind, label=DEADLINE_LABELS_SV[first.kind], at=first.at, overdue=first.kind in passed),
        overdue=passed, records_pending_since=row.records_pending_since,
    )


async def read_inbox(pool: AsyncConnectionPool, query: InboxQuery, now: datetime, me: str | None = None) -> InboxPage:
    """One page of the inbox at `now` as `me` (the signed-in person) sees it, the cursor to the next,
    and the counts per stage."""
    selected = filters(query, require_utc(now), me)
    after = decode_cursor(query.cursor) if query.cursor is not None else None
    rows, next_key, counts = await inbox(pool, selected, after=after, limit=query.limit)
    wanted = set(selected.stages) or {s.value for s in Stage}
    return InboxPage(
        cases=[_case(row, selected.now) for row in rows],
        next_cursor=encode_cursor(next_key) if next_key is not None else None,
        counts=[StageCount(stage=s, label=STAGE_LABELS_SV[s], count=counts.get(s.value, 0)) for s in Stage],
        total=sum(n for stage, n in counts.items() if stage in wanted),
    )


__all__ = ["MAX_LIMIT", "InboxCase", "InboxDeadline", "InboxPage", "InboxQuery", "StageCount", "decode_cursor",
           "encode_cursor", "filters", "read_inbox"]
