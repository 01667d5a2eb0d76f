"""The officers' inbox: one page of the register and its counts per stage, read from PostgreSQL.

A read of what the case workflows' register writes keep up to date (the deadline columns of 0005);
it never asks Temporal. Each filter adds its own condition, so that the planner sees only the
conditions that are there and picks the index that fits them (migration 0005 lists them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from psycopg import sql
from psycopg.rows import class_row
from psycopg_pool import AsyncConnectionPool

from domain.clock import require_utc
from domain.inbox import records_overdue_before

# The order of the inbox, written as the indexes of 0005 write it: cases with a waiting records
# request first, then the nearest deadline, the case number breaking ties.
_KEY = sql.SQL(
    "(records_pending_since IS NULL), (COALESCE(records_pending_since, deadline_at, 'infinity'::timestamptz)), "
    "case_number"
)
_TEXT = sql.SQL("to_tsvector('simple', subject || ' ' || sender_name)")


@dataclass(frozen=True)
class InboxKey:
    """Where a case stands in the inbox's order; a page goes on after the last one's."""

    records_last: bool  # False: a records request waits (those come first)
    at: datetime | None  # the request's arrival, or the nearest deadline; None for neither (last)
    case_number: str


@dataclass(frozen=True)
class InboxFilters:
    now: datetime
    stages: Sequence[str] = ()
    call_id: str | None = None
    officer: str | None = None
    min_amount: Decimal | None = None
    max_amount: Decimal | None = None
    overdue: bool = False  # only cases with a deadline passed (or a records request waiting too long)
    due_within: timedelta | None = None  # only cases whose nearest deadline is still ahead, within this
    words: Sequence[str] = field(default=())  # each a prefix of a word of the title or the sender's name
    records_pending: bool = False  # only cases with a request for a public document waiting
    team: str | None = None  # only cases assigned to a member of this team (migration 0012)
    teams_of: str | None = None  # only cases assigned to this person or a member of any team they are in


@dataclass(frozen=True, slots=True)
class InboxRow:
    """A row as PostgreSQL returns it, already typed (a dataclass: a page builds dozens)."""

    case_number: str
    call_id: str
    subject: str
    sender_name: str
    stage: str
    officer: str | None
    requested_amount: Decimal
    deadline_at: datetime | None
    deadline_kind: str | None
    deadline_kinds: list[str]
    deadline_ats: list[datetime]
    records_pending_since: datetime | None

    @property
    def key(self) -> InboxKey:
        return InboxKey(records_last=self.records_pending_since is None,
                        at=self.records_pending_since or self.deadline_at, case_number=self.case_number)


def _team_conditions(f: InboxFilters, parts: list[sql.Composable], params: dict[str, object]) -> None:
    """The team filters, as a set of officers read in the same statement: by the primary key of
    team_members for one team, by its index on person for the teams a person is in."""
    if f.team is not None:
        parts.append(sql.SQL("officer IN (SELECT person FROM team_members WHERE team = %(team)s)"))
        params["team"] = f.team
    if f.teams_of is not None:
        parts.append(sql.SQL(
            "officer IN (SELECT person FROM team_members WHERE team IN "
            "(SELECT team FROM team_members WHERE person = %(teams_of)s) UNION ALL SELECT %(teams_of)s)"))
        params["teams_of"] = f.teams_of


def _conditions(f: InboxFilters, *, with_stage: bool) -> tuple[sql.Composable, dict[str, object]]:
    now = require_utc(f.now)
    parts: list[sql.Composable] = []
    params: dict[str, object] = {}
    if with_stage and f.stages:
        parts.append(sql.SQL("stage = ANY(%(stages)s::text[])"))
        params["stages"] = list(f.stages)
    if f.call_id is not None:
        parts.append(sql.SQL("call_id = %(call_id)s"))
        params["call_id"] = f.call_id
    if f.officer is not None:
        parts.append(sql.SQL("officer = %(officer)s"))
        params["officer"] = f.officer
    _team_conditions(f, parts, params)
    if f.min_amount is not None:
        parts.append(sql.SQL("requested_amount >= %(min_amount)s"))
        params["min_amount"] = f.min_amount
    if f.max_amount is not None:
        parts.append(sql.SQL("requested_amount <= %(max_amount)s"))
        params["max_amount"] = f.max_amount
    if f.overdue:
        parts.append(sql.SQL("(deadline_at <= %(now)s OR records_pending_since < %(records_overdue)s)"))
        params["now"], params["records_overdue"] = now, records_overdue_before(now)
    if f.due_within is not None:
        parts.append(sql.SQL("deadline_at > %(now)s AND deadline_at <= %(due_by)s"))
        params["now"], params["due_by"] = now, now + f.due_within
    if f.records_pending:
        parts.append(sql.SQL("records_pending_since IS NOT NULL"))
    if f.words:
        parts.append(sql.SQL("{} @@ to_tsquery('simple', %(tsquery)s)").format(_TEXT))
        params["tsquery"] = tsquery(f.words)
    where = sql.SQL(" AND ").join(parts) if parts else sql.SQL("true")
    return where, params


def tsquery(words: Sequence[str]) -> str:
    """Every word as a prefix (`'word':*`), all of them required. Words are letters and digits only
    (the service splits the text so), so quoting them needs no escapes."""
    if not words or not all(w.isalnum() for w in words):
        raise ValueError("words must be letters and digits")
    return " & ".join(f"'{w.lower()}':*" for w in words)


def page_query(filters: InboxFilters, *, after: InboxKey | None, limit: int) -> tuple[sql.Composed, dict[str, object]]:
    """The statement that reads one page (`limit` rows after `after`), and its parameters."""
    where, params = _conditions(filters, with_stage=True)
    if after is not None:
        where = sql.SQL("{} AND ({}) > (%(after_last)s, %(after_at)s::timestamptz, %(after_number)s)").format(
            where, _KEY)
        # As text: 'infinity' stands for no deadline, as in the index, and has no datetime.
        at = after.at.isoformat() if after.at is not None else "infinity"
        params |= {"after_last": after.records_last, "after_at": at, "after_number": after.case_number}
    query = sql.SQL(
        """
        SELECT case_number, call_id, subject, sender_name, stage, officer, requested_amount, deadline_at,
               deadline_kind, deadline_kinds, deadline_ats, records_pending_since
        FROM cases
        WHERE {where}
        ORDER BY {key}
        LIMIT %(limit)s
        """
    ).format(where=where, key=_KEY)
    params["limit"] = limit
    return query, params


def counts_query(filters: InboxFilters) -> tuple[sql.Composed, dict[str, object]]:
    """The statement that counts the cases of each stage under every filter but the stage's own.

    Under no filter but the call, the officer and the team, the counts the database keeps (`case_counts`,
    migration 0005) answer; under any other, the cases themselves are counted."""
    f = filters
    if f.min_amount is None and f.max_amount is None and not f.overdue and f.due_within is None and not f.words \
            and not f.records_pending:
        parts: list[sql.Composable] = [sql.SQL("true")]
        params: dict[str, object] = {}
        if f.call_id is not None:
            parts.append(sql.SQL("call_id = %(call_id)s"))
            params["call_id"] = f.call_id
        if f.officer is not None:
            parts.append(sql.SQL("officer = %(officer)s"))
            params["officer"] = f.officer
        _team_conditions(f, parts, params)
        return sql.SQL("SELECT stage, sum(n)::bigint FROM case_counts WHERE {} GROUP BY stage").format(
            sql.SQL(" AND ").join(parts)), params
    where, params = _conditions(filters, with_stage=False)
    return sql.SQL("SELECT stage, count(*) FROM cases WHERE {} GROUP BY stage").format(where), params


async def inbox_page(pool: AsyncConnectionPool, filters: InboxFilters, *, after: InboxKey | None,
                     limit: int) -> tuple[list[InboxRow], InboxKey | None]:
    """Up to `limit` cases in the inbox's order after `after`, and the key to go on from (None at the end)."""
    query, params = page_query(filters, after=after, limit=limit + 1)
    async with pool.connection() as conn:
        cursor = conn.cursor(row_factory=class_row(InboxRow))
        await cursor.execute(query, params)
        rows = await cursor.fetchall()
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, rows[-1].key


async def inbox_counts(pool: AsyncConnectionPool, filters: InboxFilters) -> dict[str, int]:
    """How many cases each stage has under every filter but the stage's own."""
    query, params = counts_query(filters)
    async with pool.connection() as conn:
        cursor = await conn.execute(query, params)
        return {stage: count for stage, count in await cursor.fetchall() if count}


async def inbox(pool: AsyncConnectionPool, filters: InboxFilters, *, after: InboxKey | None,
                limit: int) -> tuple[list[InboxRow], InboxKey | None, dict[str, int]]:
    """The page and the counts, both statements sent at once on one connection (pipeline mode):
    one round trip and one connection from the pool."""
    page, page_params = page_query(filters, after=after, limit=limit + 1)
    count, count_params = counts_query(filters)
    async with pool.connection() as conn:
        async with conn.pipeline():
            rows_cursor = conn.cursor(row_factory=class_row(InboxRow))
            await rows_cursor.execute(page, page_params)
            counts_cursor = await conn.execute(count, count_params)
        rows = await rows_cursor.fetchall()
        counts = {stage: n for stage, n in await counts_cursor.fetchall() if n}
    if len(rows) <= limit:
        return rows, None, counts
    rows = rows[:limit]
    return rows, rows[-1].key, counts


__all__ = ["InboxFilters", "InboxKey", "InboxRow", "counts_query", "inbox", "inbox_counts", "inbox_page", "page_query",
           "tsquery"]
