"""The budget ledger: the total granted in a call never exceeds the call's budget.

Decisions in a call arrive in any order, from many case workflows at once. Each grant
locks its call's row in `call_budgets` for the length of its transaction, so grants
in one call are decided one at a time against the sum actually committed: two
decisions can never both see the same remaining money.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

import structlog
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel, ConfigDict, Field
from temporalio import activity

from activities.db import fails_for_good
from domain.money import Kronor

_log = structlog.get_logger(__name__)

Text = Annotated[str, Field(min_length=1, max_length=500)]


class GrantRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    call_id: Text
    call_budget: Kronor = Field(description="The call's budget; recorded by the first grant in the call")
    case_number: Text
    amount: Annotated[Kronor, Field(gt=0)]


class GrantResult(BaseModel):
    granted: bool
    amount: Decimal = Field(description="What this case holds in the ledger now (0 when refused)")
    remaining: Decimal = Field(description="Budget left in the call after this request")
    already_granted: bool = False


class ReleaseRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    call_id: Text
    case_number: Text


class AdjustRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    call_id: Text
    case_number: Text
    amount: Kronor = Field(description="What the case holds of the call's budget from now on")


class BudgetLedger:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    # Named explicitly: "grant" and "release" alone are too generic for a worker
    # that also hosts payment activities.
    @activity.defn(name="budget_grant")
    @fails_for_good
    async def grant(self, request: GrantRequest) -> GrantResult:
        async with self._pool.connection() as conn, conn.transaction():
            # The first grant in a call records its budget. Later requests do not change
            # it: a case workflow carries the budget it started with, and letting every
            # case write its own copy would make the budget flip between versions. A
            # deliberate change goes through `set_call_budget`.
            await conn.execute(
                "INSERT INTO call_budgets (call_id, budget) VALUES (%s, %s) ON CONFLICT (call_id) DO NOTHING",
                (request.call_id, request.call_budget),
            )
            cursor = await conn.execute(
                "SELECT budget FROM call_budgets WHERE call_id = %s FOR UPDATE", (request.call_id,)
            )
            row = await cursor.fetchone()
            assert row is not None
            budget: Decimal = row[0]
            if budget != request.call_budget:
                _log.warning(
                    "call budget in request differs from the ledger; the ledger's applies",
                    call_id=request.call_id,
                    ledger=str(budget),
                    request=str(request.call_budget),
                )
            # Read only after the lock: under READ COMMITTED each statement sees what was
            # committed before it started, including the grant that held the lock before us.
            cursor = await conn.execute(
                """
                SELECT coalesce(sum(amount), 0),
                       (SELECT amount FROM budget_grants WHERE call_id = %(call)s AND case_number = %(case)s)
                FROM budget_grants WHERE call_id = %(call)s
                """,
                {"call": request.call_id, "case": request.case_number},
            )
            totals = await cursor.fetchone()
            assert totals is not None
            granted_total: Decimal = totals[0]
            existing: Decimal | None = totals[1]
            if existing is not None:
                # A retry (or a repeated decision): the grant stands as first recorded.
                return GrantResult(
                    granted=True, amount=existing, remaining=budget - granted_total, already_granted=True
                )
            if granted_total + request.amount > budget:
                _log.info(
                    "grant refused: over the call's budget",
                    call_id=request.call_id,
                    case_number=request.case_number,
                    amount=str(request.amount),
                    remaining=str(budget - granted_total),
                )
                return GrantResult(granted=False, amount=Decimal("0.00"), remaining=budget - granted_total)
            await conn.execute(
                "INSERT INTO budget_grants (call_id, case_number, amount) VALUES (%s, %s, %s)",
                (request.call_id, request.case_number, request.amount),
            )
        _log.info(
            "grant recorded", call_id=request.call_id, case_number=request.case_number, amount=str(request.amount)
        )
        return GrantResult(granted=True, amount=request.amount, remaining=budget - granted_total - request.amount)

    @activity.defn(name="budget_release")
    @fails_for_good
    async def release(self, request: ReleaseRequest) -> None:
        """Give a case's grant back to the call (withdrawal, revocation); nothing to do if none."""
        async with self._pool.connection() as conn:
            await conn.execute(
                "DELETE FROM budget_grants WHERE call_id = %s AND case_number = %s",
                (request.call_id, request.case_number),
            )

    @activity.defn(name="budget_adjust")
    @fails_for_good
    async def adjust(self, request: AdjustRequest) -> None:
        """Lower what a case holds to `amount` (never raise it: more money is a new grant).

        Setting a target rather than subtracting makes a retry harmless."""
        async with self._pool.connection() as conn:
            if request.amount == 0:
                await conn.execute("DELETE FROM budget_grants WHERE call_id = %s AND case_number = %s",
                                   (request.call_id, request.case_number))
            else:
                await conn.execute(
                    "UPDATE budget_grants SET amount = %s WHERE call_id = %s AND case_number = %s AND amount > %s",
                    (request.amount, request.call_id, request.case_number, request.amount),
                )
        _log.info("grant adjusted", call_id=request.call_id, case_number=request.case_number,
                  amount=str(request.amount))


async def set_call_budget(pool: AsyncConnectionPool, call_id: str, budget: Decimal) -> None:
    """Change a call's budget on purpose (an amended call); grants already made stand."""
    async with pool.connection() as conn:
        await conn.execute(
            """
            INSERT INTO call_budgets (call_id, budget) VALUES (%s, %s)
            ON CONFLICT (call_id) DO UPDATE SET budget = EXCLUDED.budget
            """,
            (call_id, budget),
        )


class HeldGrant(BaseModel):
    """A row of the ledger: what a case holds of a call's budget."""

    call_id: str
    case_number: str
    amount: Decimal


async def held_grants(pool: AsyncConnectionPool, case_number: str) -> list[HeldGrant]:
    """What one case holds in the ledger, for the auditors' check against its history."""
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT call_id, case_number, amount FROM budget_grants WHERE case_number = %s ORDER BY call_id",
            (case_number,),
        )
        return [HeldGrant(call_id=c, case_number=n, amount=a) for c, n, a in await cursor.fetchall()]
