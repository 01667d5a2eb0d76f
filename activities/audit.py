"""Reads for the auditors' tools: the register's chained event rows, each case's head, the case's row.

Not activities: no workflow calls these. They read what the register's write (activities/register.py)
and the ledgers wrote, as they are in PostgreSQL now, so that verify can tell what was changed there.
"""

from __future__ import annotations

from psycopg.rows import class_row
from psycopg_pool import AsyncConnectionPool

from domain.audit import ChainRow, Head

_CHAIN_COLUMNS = "case_number, event_id, at, actor_id, actor_role, kind, stage, summary, seq, prev_hash, hash"


async def chain_rows(pool: AsyncConnectionPool, case_number: str) -> list[ChainRow]:
    """A case's event rows, in the chain's order (rows outside it last)."""
    async with pool.connection() as conn:
        cursor = conn.cursor(row_factory=class_row(ChainRow))
        await cursor.execute(
            f"SELECT {_CHAIN_COLUMNS} FROM case_events WHERE case_number = %s ORDER BY seq NULLS LAST, at, event_id",
            (case_number,),
        )
        return await cursor.fetchall()


async def case_numbers(pool: AsyncConnectionPool) -> list[str]:
    """Every case in the register, and every case that has event rows (a row may name a case by hand)."""
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT case_number FROM cases UNION SELECT case_number FROM case_events ORDER BY 1"
        )
        return [row[0] for row in await cursor.fetchall()]


async def heads(pool: AsyncConnectionPool) -> list[Head]:
    """Each case's last chained row, in case number order."""
    async with pool.connection() as conn:
        cursor = conn.cursor(row_factory=class_row(Head))
        await cursor.execute(
            """
            SELECT DISTINCT ON (case_number) case_number, seq, hash
            FROM case_events WHERE seq IS NOT NULL AND hash IS NOT NULL
            ORDER BY case_number, seq DESC
            """
        )
        return await cursor.fetchall()


async def case_number_counters(pool: AsyncConnectionPool) -> dict[int, int]:
    """Each year's last case number handed out: every number up to it is a case (decision 4)."""
    async with pool.connection() as conn:
        cursor = await conn.execute("SELECT year, last FROM case_numbers")
        return {year: last for year, last in await cursor.fetchall()}
