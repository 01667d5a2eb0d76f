from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from pydantic import ValidationError
from temporalio.testing import ActivityEnvironment

from activities.budget import BudgetLedger, GrantRequest, ReleaseRequest, set_call_budget
from tests.activities.support import CrashAfterCommit, SimulatedCrash, SlowPool, scalar

CALL = "saker-digitalisering-2022"


def grant(case_number: str, amount: str = "100000.00", budget: str = "700000.00") -> GrantRequest:
    return GrantRequest(call_id=CALL, call_budget=Decimal(budget), case_number=case_number, amount=Decimal(amount))


async def granted_total(pool) -> Decimal:
    return await scalar(pool, "SELECT coalesce(sum(amount), 0) FROM budget_grants WHERE call_id = %s", (CALL,))


async def test_twenty_concurrent_decisions_never_exceed_a_budget_that_fits_seven(pool):
    # Slowed down so that, without the lock on the call's row, the grants would read
    # the same total and overspend; with it they queue and exactly seven fit.
    ledger = BudgetLedger(SlowPool(pool))  # type: ignore[arg-type]
    results = await asyncio.gather(*(ledger.grant(grant(f"2022-{n:05d}")) for n in range(1, 21)))
    assert sum(r.granted for r in results) == 7
    assert await granted_total(pool) == Decimal("700000.00")
    assert await scalar(pool, "SELECT count(*) FROM budget_grants") == 7
    refused = [r for r in results if not r.granted]
    assert all(r.remaining == 0 and r.amount == 0 for r in refused)
    # Each grant saw the total as committed before it: the remainders count down.
    assert sorted(r.remaining for r in results if r.granted) == [Decimal(n * 100000) for n in range(7)]


async def test_a_grant_that_does_not_fit_writes_nothing_but_a_smaller_one_may(pool):
    ledger = BudgetLedger(pool)
    assert (await ledger.grant(grant("2022-00001", "650000.00"))).granted
    refused = await ledger.grant(grant("2022-00002", "50000.01"))
    assert (refused.granted, refused.remaining) == (False, Decimal("50000.00"))
    assert await scalar(pool, "SELECT count(*) FROM budget_grants") == 1
    exact = await ledger.grant(grant("2022-00003", "50000.00"))
    assert (exact.granted, exact.remaining) == (True, Decimal("0.00"))


async def test_granting_the_same_case_again_returns_the_first_grant(pool):
    ledger = BudgetLedger(pool)
    first = await ledger.grant(grant("2022-00001", "300000.00"))
    again = await ledger.grant(grant("2022-00001", "300000.00"))
    assert (first.granted, first.already_granted, first.remaining) == (True, False, Decimal("400000.00"))
    assert (again.granted, again.already_granted, again.amount, again.remaining) == (
        True,
        True,
        Decimal("300000.00"),
        Decimal("400000.00"),
    )
    assert await granted_total(pool) == Decimal("300000.00")


async def test_a_retry_after_a_crash_after_commit_grants_once(pool):
    env = ActivityEnvironment()
    with pytest.raises(SimulatedCrash):
        await env.run(BudgetLedger(CrashAfterCommit(pool)).grant, grant("2022-00001", "300000.00"))  # type: ignore[arg-type]
    retried = await env.run(BudgetLedger(pool).grant, grant("2022-00001", "300000.00"))
    assert retried.granted and retried.already_granted
    assert await granted_total(pool) == Decimal("300000.00")


async def test_release_gives_the_money_back_and_is_idempotent(pool):
    ledger = BudgetLedger(pool)
    for n in range(1, 8):
        await ledger.grant(grant(f"2022-{n:05d}"))
    assert not (await ledger.grant(grant("2022-00008"))).granted
    await ledger.release(ReleaseRequest(call_id=CALL, case_number="2022-00003"))
    await ledger.release(ReleaseRequest(call_id=CALL, case_number="2022-00003"))
    await ledger.release(ReleaseRequest(call_id=CALL, case_number="2022-99999"))
    assert (await ledger.grant(grant("2022-00008"))).granted
    assert await granted_total(pool) == Decimal("700000.00")


async def test_the_budget_is_set_by_the_first_grant_and_changed_only_on_purpose(pool):
    ledger = BudgetLedger(pool)
    await ledger.grant(grant("2022-00001", budget="700000.00"))
    # A workflow that started under an amended call text carries another figure;
    # it does not move the ledger's budget.
    assert not (await ledger.grant(grant("2022-00002", "700000.00", budget="10000000.00"))).granted
    await set_call_budget(pool, CALL, Decimal("800000.00"))
    result = await ledger.grant(grant("2022-00002", "700000.00"))
    assert (result.granted, result.remaining) == (True, Decimal("0.00"))


def test_amounts_are_positive_kronor():
    with pytest.raises(ValidationError):
        grant("2022-00001", "0.00")
    with pytest.raises(ValidationError):
        grant("2022-00001", "100.001")
    with pytest.raises(ValidationError):
        grant("2022-00001", budget="-1.00")
