"""Verify the register: every case's chain of hashes, and the register and the ledger against the history.

`heads` lists each case's last chained row: printed daily to the log collector (deploy/README.md),
kept outside the database, and handed back to `verify` so that a chain rewritten whole, hashes and
all, is found too.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import TypeVar

from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel, ValidationError
from temporalio.client import Client

from activities.audit import case_number_counters, case_numbers, chain_rows, heads
from domain.audit import Finding, Head, Notice, chain_findings, gone_cases
from infra.errors import InputError
from infra.settings import Settings
from infra.temporal import connect
from services.archive import check_case_number
from services.audit_history import findings, notices, read_history, read_register, recorded
from services.register import read_pool

T = TypeVar("T")


class Verification(BaseModel):
    cases: int
    rows: int
    findings: list[Finding]
    # Rows not checked against the history, and why: printed, but not failing the run (decision 29).
    notices: list[Notice] = []

    @property
    def ok(self) -> bool:
        return not self.findings


def read_heads(path: Path) -> dict[str, Head]:
    """Heads as `grantflow audit heads` printed them, one JSON object a line; the last line of a case counts."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError.one("--heads", f"cannot read {path}: {exc.strerror}") from None
    saved: dict[str, Head] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            head = Head.model_validate(json.loads(line))
        except (ValueError, ValidationError):
            raise InputError.one("--heads", f"line {number} of {path} is not a head as `audit heads` prints it"
                                 ) from None
        saved[head.case_number] = head
    return saved


async def current_heads(settings: Settings) -> list[Head]:
    async with read_pool(settings) as pool:
        return await heads(pool)


def head_lines(found: Iterable[Head]) -> list[str]:
    return [json.dumps(h.model_dump(mode="json"), ensure_ascii=False, sort_keys=True) for h in found]


async def verify(settings: Settings, case_number: str | None, *, saved: dict[str, Head] | None = None) -> Verification:
    """Check one case (or every case, `case_number` None): its chain, against `saved` heads if given,
    and its register and ledger against its recorded history."""
    numbers = [check_case_number(case_number)] if case_number is not None else None
    client = await connect(settings)
    async with read_pool(settings, max_size=CHECKED_AT_ONCE) as pool:
        found: list[Finding] = []
        if numbers is None:
            # A case deleted whole, with every row of it, leaves no row to check: what is kept outside its
            # rows says it was there (the year's counter, Temporal, the heads saved outside the database).
            # Read in this order on a live system: a case's row is committed before its counter's
            # transaction ends and before its workflow starts, so a case received meanwhile is in the
            # register's list whenever the listing or the counters already name it.
            in_temporal = await _case_workflows(client)
            counters = await case_number_counters(pool)
            numbers = await case_numbers(pool)
            found += gone_cases(numbers, counters=counters, in_temporal=in_temporal, saved=saved or {})
        checked = await _each(numbers, lambda number: _verify_case(client, pool, number, (saved or {}).get(number)))
    return Verification(cases=len(numbers), rows=sum(count for *_, count in checked),
                        findings=found + [f for case, _, _ in checked for f in case],
                        notices=[n for _, case, _ in checked for n in case])


# Cases checked at once. Each case is a few round trips to Temporal and to PostgreSQL, one after
# another: one case at a time, `verify --all` over a large register spends its time waiting on them.
CHECKED_AT_ONCE = 8


async def _each(numbers: list[str], check: Callable[[str], Awaitable[T]]) -> list[T]:
    """`check` of every case number, CHECKED_AT_ONCE at a time, in the order of `numbers`."""
    results: list[T | None] = [None] * len(numbers)
    todo = iter(enumerate(numbers))

    async def checker() -> None:
        # One shared iterator: each checker takes the next case when it is done with one.
        for index, number in todo:
            results[index] = await check(number)

    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(min(CHECKED_AT_ONCE, len(numbers))):
                group.create_task(checker())
    except ExceptionGroup as failed:
        # As one case at a time would fail: the first error, which the command reports (Temporal or
        # PostgreSQL unreachable), not a group of them.
        raise failed.exceptions[0] from None
    return [result for result in results if result is not None]


async def _case_workflows(client: Client) -> set[str]:
    """The ids of the case workflows Temporal has, running or closed (until retention removes them): each is
    a case number the register gave out before the case started (decision 4)."""
    return {w.id async for w in client.list_workflows("WorkflowType = 'CaseWorkflow'")}


async def _verify_case(client: Client, pool: AsyncConnectionPool, number: str,
                       saved: Head | None) -> tuple[list[Finding], list[Notice], int]:
    try:
        history = await recorded(client, pool, number)
    except InputError:
        # No history to cross-check with: the chain (and its saved head) is all that can be checked.
        rows = await chain_rows(pool, number)
        missing = Finding(case_number=number, row="hela ärendet", problem=(
            "ingen inspelad historik finns (varken i Temporal eller i arkivet): bara kedjan är kontrollerad"))
        return [*chain_findings(number, rows, saved), missing], [], len(rows)
    facts = await read_history(client, history)
    register = await read_register(pool, number)
    return (findings(number, history, facts, register, saved), notices(number, history, facts, register),
            len(register.events))


__all__ = ["Verification", "current_heads", "head_lines", "read_heads", "verify"]
