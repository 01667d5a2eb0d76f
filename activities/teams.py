"""Teams of staff in the database (`team_members`, migration 0012): plain reads and writes for
`services.teams`; no workflow calls them. The inbox reads the table in its own statement
(activities/inbox.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from psycopg.rows import class_row
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel


class MemberRow(BaseModel):
    team: str
    person: str
    added_by: str
    added_at: datetime


_COLUMNS = "team, person, added_by, added_at"


async def add_members(pool: AsyncConnectionPool, team: str, persons: Sequence[str], added_by: str) -> list[str]:
    """Add the persons to the team; those already in it keep who added them and when. Returns those added now."""
    async with pool.connection() as conn:
        cursor = await conn.execute(
            """
            INSERT INTO team_members (team, person, added_by)
            SELECT %(team)s, person, %(added_by)s FROM unnest(%(persons)s::text[]) AS person
            ON CONFLICT (team, person) DO NOTHING
            RETURNING person
            """,
            {"team": team, "persons": list(persons), "added_by": added_by},
        )
        return sorted(person for (person,) in await cursor.fetchall())


async def remove_member(pool: AsyncConnectionPool, team: str, person: str) -> bool:
    """Take the person out of the team; False when they were not in it."""
    async with pool.connection() as conn:
        cursor = await conn.execute("DELETE FROM team_members WHERE team = %s AND person = %s", (team, person))
        return cursor.rowcount > 0


async def members(pool: AsyncConnectionPool, team: str | None = None) -> list[MemberRow]:
    """Every membership (of one team, or of all), by team and person."""
    async with pool.connection() as conn:
        cursor = conn.cursor(row_factory=class_row(MemberRow))
        await cursor.execute(
            f"SELECT {_COLUMNS} FROM team_members WHERE %(team)s::text IS NULL OR team = %(team)s "
            "ORDER BY team, person", {"team": team})
        return await cursor.fetchall()


__all__ = ["MemberRow", "add_members", "members", "remove_member"]
