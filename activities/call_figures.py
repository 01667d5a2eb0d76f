"""A call's figures as the register and the two ledgers hold them: what came in, what was granted, what was paid.

Pure reads, for the call overview: the register counts the applications and what they ask for, the
budget ledger what was granted (the source the budget is kept by), the payout ledger what was
ordered and what left in a bank file.
"""

from __future__ import annotations

from decimal import Decimal

from psycopg.rows import class_row
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel


class CallFigures(BaseModel):
    call_id: str
    applications: int = 0
    requested: Decimal = Decimal("0.00")
    granted: Decimal = Decimal("0.00")
    ordered: Decimal = Decimal("0.00")  # approved for payout
    paid: Decimal = Decimal("0.00")  # in a bank file


async def call_figures(pool: AsyncConnectionPool, call_ids: list[str]) -> dict[str, CallFigures]:
    """The figures of each call in `call_ids` (a call with nothing yet has zeros)."""
    async with pool.connection() as conn:
        cursor = conn.cursor(row_factory=class_row(CallFigures))
        await cursor.execute(
            """
            WITH wanted AS (SELECT unnest(%(ids)s::text[]) AS call_id),
            received AS (
                SELECT call_id, count(*)::int AS applications, sum(requested_amount) AS requested
                FROM cases WHERE call_id = ANY(%(ids)s) GROUP BY call_id),
            granted AS (
                SELECT call_id, sum(amount) AS granted FROM budget_grants
                WHERE call_id = ANY(%(ids)s) GROUP BY call_id),
            paid AS (
                SELECT c.call_id, sum(p.amount) AS ordered,
                       sum(p.amount) FILTER (WHERE p.bank_file_id IS NOT NULL) AS paid
                FROM payouts p JOIN cases c ON c.case_number = p.case_number
                WHERE c.call_id = ANY(%(ids)s) GROUP BY c.call_id)
            SELECT w.call_id,
                   COALESCE(r.applications, 0) AS applications,
                   COALESCE(r.requested, 0.00)::numeric(16, 2) AS requested,
                   COALESCE(g.granted, 0.00)::numeric(16, 2) AS granted,
                   COALESCE(p.ordered, 0.00)::numeric(16, 2) AS ordered,
                   COALESCE(p.paid, 0.00)::numeric(16, 2) AS paid
            FROM wanted w
            LEFT JOIN received r USING (call_id)
            LEFT JOIN granted g USING (call_id)
            LEFT JOIN paid p USING (call_id)
            """,
            {"ids": call_ids},
        )
        return {row.call_id: row for row in await cursor.fetchall()}
