"""The inbox's read of the register, on a few thousand cases written through the register's own path."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from activities.inbox import InboxFilters, InboxKey, counts_query, inbox_counts, inbox_page, page_query
from activities.register import CaseSnapshot, Register, RegisterApplication, RegisterWrite
from domain.inbox import Deadline, DeadlineKind
from domain.lifecycle import Stage
from services import inbox as service

NOW = datetime.now(UTC).replace(microsecond=0)
CALLS = ["export-samverkan-2021", "saker-digitalisering-2022", "gront-lyft-2023"]
OFFICERS = ["anna", "erik", "sara", "lars", None]
NAMES = ["Region Exempel", "Innovationsparken i Norr", "Klustret för livsmedel", "Östergötlands företagsråd",
         "Science Park Väst"]
TITLES = ["Exportsamverkan för livsmedel", "Digital säkerhet i småföretag", "Grön omställning i industrin",
          "Vätgas i transporter", "Turism året runt"]


@dataclass
class Written:
    number: str
    call_id: str
    subject: str
    sender_name: str
    amount: Decimal
    stage: Stage
    officer: str | None
    deadlines: list[Deadline]
    records_pending_since: datetime | None = None

    @property
    def deadline_at(self) -> datetime | None:
        return min((d.at for d in self.deadlines), default=None)

    def key(self) -> tuple[bool, datetime, str]:
        far = datetime.max.replace(tzinfo=UTC)
        return (self.records_pending_since is None, self.records_pending_since or self.deadline_at or far,
                self.number)


async def load(pool: AsyncConnectionPool, count: int, seed: int = 7,
               officers: list[str | None] = OFFICERS) -> list[Written]:
    """`count` cases, registered and then given a stage, an officer and deadlines, as the case
    workflows do it: Register.register_application, then Register.write with a snapshot."""
    rng = random.Random(seed)
    register = Register(pool)
    written: list[Written] = []

    async def one(i: int) -> Written:
        call = rng.choice(CALLS)
        name, title = rng.choice(NAMES), f"{rng.choice(TITLES)} {i}"
        amount = Decimal(rng.randrange(50_000, 5_000_000)) + Decimal("0.50")
        registered = await register.register_application(RegisterApplication(
            submission_id=f"sub-{seed}-{i}", call_id=call, received_at=datetime(2021 + i % 3, 3, 1, 9, tzinfo=UTC),
            imported=False, sender_name=name, sender_org_number=None, subject=title, requested_amount=amount))
        stage = rng.choice(list(Stage))
        kinds = rng.sample([k for k in DeadlineKind if k is not DeadlineKind.RECORDS_REQUEST], rng.choice([0, 0, 1, 2]))
        hours = [rng.randrange(-24 * 60, 24 * 60) for _ in kinds]
        deadlines = sorted((Deadline(kind=k, at=NOW + timedelta(hours=h)) for k, h in zip(kinds, hours, strict=True)),
                           key=lambda d: d.at)
        first = deadlines[0] if deadlines else None
        officer = rng.choice(officers)
        await register.write(RegisterWrite(case_number=registered.case_number, snapshot=CaseSnapshot(
            case_number=registered.case_number, stage=stage, officer=officer, deadlines=deadlines,
            deadline_at=first.at if first else None, deadline_kind=first.kind if first else None)))
        return Written(registered.case_number, call, title, name, amount, stage, officer, deadlines)

    for start in range(0, count, 50):
        written += await asyncio.gather(*(one(i) for i in range(start, min(start + 50, count))))
    return written


async def mark_records_requests(pool: AsyncConnectionPool, cases: list[Written], every: int) -> None:
    """A records request waiting on every `every`th case, written as the case workflow writes it: in
    the case's snapshot."""
    register = Register(pool)
    for i, case in enumerate(cases):
        if i % every == 0:
            case.records_pending_since = NOW - timedelta(hours=i % 97)
            first = case.deadlines[0] if case.deadlines else None
            await register.write(RegisterWrite(case_number=case.number, snapshot=CaseSnapshot(
                case_number=case.number, stage=case.stage, officer=case.officer, deadlines=case.deadlines,
                deadline_at=first.at if first else None, deadline_kind=first.kind if first else None,
                records_pending_since=case.records_pending_since)))


async def read_all(pool: AsyncConnectionPool, filters: InboxFilters, limit: int) -> list[str]:
    numbers: list[str] = []
    after: InboxKey | None = None
    while True:
        rows, after = await inbox_page(pool, filters, after=after, limit=limit)
        numbers += [r.case_number for r in rows]
        if after is None:
            return numbers


def expected(cases: list[Written], keep) -> list[str]:
    return [c.number for c in sorted((c for c in cases if keep(c)), key=Written.key)]


@pytest.fixture
async def loaded(pool: AsyncConnectionPool) -> list[Written]:
    cases = await load(pool, 600)
    await mark_records_requests(pool, cases, 37)
    return cases


async def test_pages_cover_every_case_once_in_the_inbox_order(pool, loaded):
    assert await read_all(pool, InboxFilters(now=NOW), limit=47) == expected(loaded, lambda c: True)


async def test_each_filter_narrows_to_exactly_its_cases(pool, loaded):
    soon = NOW + timedelta(days=7)
    cases: list[tuple[InboxFilters, object]] = [
        (InboxFilters(now=NOW, stages=["assessment", "decision"]), lambda c: c.stage in (Stage.ASSESSMENT,
                                                                                           Stage.DECISION)),
        (InboxFilters(now=NOW, call_id=CALLS[1]), lambda c: c.call_id == CALLS[1]),
        (InboxFilters(now=NOW, officer="anna"), lambda c: c.officer == "anna"),
        (InboxFilters(now=NOW, min_amount=Decimal("1000000")), lambda c: c.amount >= Decimal("1000000")),
        (InboxFilters(now=NOW, max_amount=Decimal("200000.50")), lambda c: c.amount <= Decimal("200000.50")),
        (InboxFilters(now=NOW, due_within=timedelta(days=7)),
         lambda c: c.deadline_at is not None and NOW < c.deadline_at <= soon),
        # A records request arrived within the last 97 hours: overdue once the day after its arrival is over.
        (InboxFilters(now=NOW, overdue=True), lambda c: (c.deadline_at is not None and c.deadline_at <= NOW) or (
            c.records_pending_since is not None and _records_overdue(c.records_pending_since))),
        (InboxFilters(now=NOW, words=["vätg"]), lambda c: "Vätgas" in c.subject),
        (InboxFilters(now=NOW, words=["östergötlands", "turism"]),
         lambda c: c.sender_name.startswith("Östergötlands") and c.subject.startswith("Turism")),
        (InboxFilters(now=NOW, words=["norr", "4"]),
         lambda c: "Norr" in c.sender_name and any(w.startswith("4") for w in c.subject.split())),
        (InboxFilters(now=NOW, officer="erik", stages=["completeness"], min_amount=Decimal("100000")),
         lambda c: c.officer == "erik" and c.stage is Stage.COMPLETENESS and c.amount >= 100000),
    ]
    for filters, keep in cases:
        want = expected(loaded, keep)
        assert want, filters  # each filter is tried on cases it finds
        assert await read_all(pool, filters, limit=200) == want, filters


def _records_overdue(since: datetime) -> bool:
    from domain.inbox import records_request_deadline

    return records_request_deadline(since) <= NOW


async def test_counts_per_stage_follow_every_filter_but_the_stage(pool, loaded):
    counts = await inbox_counts(pool, InboxFilters(now=NOW, officer="sara", stages=["closed"]))
    want: dict[str, int] = {}
    for c in loaded:
        if c.officer == "sara":
            want[c.stage.value] = want.get(c.stage.value, 0) + 1
    assert counts == want


async def test_the_counts_the_database_keeps_follow_every_write(pool, loaded):
    register = Register(pool)
    for case in loaded[:60]:  # each moves on, some to another officer
        case.stage, case.officer = Stage.CLOSED, ("lars" if case.officer else None)
        await register.write(RegisterWrite(case_number=case.number, snapshot=CaseSnapshot(
            case_number=case.number, stage=case.stage, officer=case.officer)))
    async with pool.connection() as conn:
        kept = await (await conn.execute(
            "SELECT call_id, officer, stage, n FROM case_counts WHERE n > 0 ORDER BY 1, 2, 3")).fetchall()
        counted = await (await conn.execute(
            "SELECT call_id, COALESCE(officer, ''), stage, count(*) FROM cases GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
        )).fetchall()
    assert kept == counted
    for officer in ("lars", None):
        want: dict[str, int] = {}
        for c in loaded:
            if officer is None or c.officer == officer:
                want[c.stage.value] = want.get(c.stage.value, 0) + 1
        assert await inbox_counts(pool, InboxFilters(now=NOW, officer=officer)) == want
    # Under another filter the cases are counted, and agree.
    assert await inbox_counts(pool, InboxFilters(now=NOW, officer="lars", min_amount=Decimal(0))) == want_of(
        loaded, "lars")


def want_of(cases: list[Written], officer: str) -> dict[str, int]:
    want: dict[str, int] = {}
    for c in cases:
        if c.officer == officer:
            want[c.stage.value] = want.get(c.stage.value, 0) + 1
    return want


async def test_the_register_keeps_the_deadlines_a_snapshot_carries(pool, loaded):
    case = next(c for c in loaded if len(c.deadlines) == 2)
    rows, _ = await inbox_page(pool, InboxFilters(now=NOW, words=case.subject.split()), after=None, limit=200)
    [row] = [r for r in rows if r.case_number == case.number]
    assert row.deadline_at == case.deadlines[0].at and row.deadline_kind == case.deadlines[0].kind.value
    stored = list(zip(row.deadline_kinds, row.deadline_ats, strict=True))
    assert stored == [(d.kind.value, d.at) for d in case.deadlines]


async def plan(pool: AsyncConnectionPool, query: sql.Composed, params: dict[str, object]) -> str:
    async with pool.connection() as conn:
        cursor = await conn.execute(sql.SQL("EXPLAIN ") + query, params)
        return "\n".join(row[0] for row in await cursor.fetchall())


async def test_the_common_queries_use_indexes_not_a_scan_of_the_register(pool):
    # An agency's officers each have a small share of its cases.
    await load(pool, 4000, seed=11, officers=["anna", *(f"officer-{n}" for n in range(40)), None])
    async with pool.connection() as conn:
        # Teams of a few officers each (migration 0012); anna is in two.
        await conn.execute(
            "INSERT INTO team_members (team, person, added_by) SELECT 'team-' || (n / 5), 'officer-' || n, 'ada' "
            "FROM generate_series(0, 39) AS n")
        await conn.execute("INSERT INTO team_members (team, person, added_by) VALUES ('team-0', 'anna', 'ada'), "
                           "('team-3', 'anna', 'ada')")
        await conn.execute("VACUUM ANALYZE cases")
        await conn.execute("VACUUM ANALYZE team_members")
    queries = {
        "default": page_query(InboxFilters(now=NOW), after=None, limit=51),
        "next page": page_query(InboxFilters(now=NOW), after=InboxKey(True, NOW, "2022-00100"), limit=51),
        "mine": page_query(InboxFilters(now=NOW, officer="anna"), after=None, limit=51),
        "stage": page_query(InboxFilters(now=NOW, stages=["assessment"]), after=None, limit=51),
        "free text": page_query(InboxFilters(now=NOW, words=["vätgas", "123"]), after=None, limit=51),
        "overdue": page_query(InboxFilters(now=NOW, overdue=True, officer="anna"), after=None, limit=51),
        "free text counts": counts_query(InboxFilters(now=NOW, words=["vätgas", "123"])),
        "officer counts": counts_query(InboxFilters(now=NOW, officer="anna")),
        "all counts": counts_query(InboxFilters(now=NOW)),
        "one team": page_query(InboxFilters(now=NOW, team="team-2"), after=None, limit=51),
        "my teams": page_query(InboxFilters(now=NOW, teams_of="anna"), after=None, limit=51),
        "my teams overdue": page_query(InboxFilters(now=NOW, teams_of="anna", overdue=True), after=None, limit=51),
        "my teams counts": counts_query(InboxFilters(now=NOW, teams_of="anna")),
    }
    for name, (query, params) in queries.items():
        explained = await plan(pool, query, params)
        assert "Seq Scan on cases" not in explained, f"{name}:\n{explained}"
        # The counts the database keeps are a few rows a call and officer: those it may read whole.
        assert "Index" in explained or "on case_counts" in explained, f"{name}:\n{explained}"
    # As the service builds the filters from a query: the counts of an unfiltered inbox are the kept ones.
    for query in (service.InboxQuery(), service.InboxQuery(officer="anna", stage=[Stage.ASSESSMENT]),
                  service.InboxQuery(call=CALLS[0]), service.InboxQuery(team="mine")):
        assert "on case_counts" in await plan(pool, *counts_query(service.filters(query, NOW, "anna"))), query
