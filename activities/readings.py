"""The log of who has read the secret-marked parts of an application (OSL 30 kap. 23 §).

Written by the service that shows staff a whole case, read by auditors and administrators.
Not an activity: a reading is not part of the case's lifecycle, and the case's workflow never
waits for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from psycopg.rows import class_row
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel


class SecretReading(BaseModel):
    case_number: str
    reader_id: str
    reader_role: str
    read_at: datetime
    sections: list[str]


async def record_secret_reading(pool: AsyncConnectionPool, case_number: str, reader_id: str, reader_role: str,
                                sections: Sequence[str]) -> SecretReading:
    """Log that `reader_id` has been shown `sections` of the case's application, now."""
    async with pool.connection() as conn:
        cursor = conn.cursor(row_factory=class_row(SecretReading))
        await cursor.execute(
            """
            INSERT INTO secret_readings (case_number, reader_id, reader_role, sections)
            VALUES (%s, %s, %s, %s)
            RETURNING case_number, reader_id, reader_role, read_at, sections
            """,
            (case_number, reader_id, reader_role, list(sections)),
        )
        row = await cursor.fetchone()
    assert row is not None
    return row


async def secret_readings(pool: AsyncConnectionPool, case_number: str) -> list[SecretReading]:
    """A case's readings of its secret-marked parts, oldest first."""
    async with pool.connection() as conn:
        cursor = conn.cursor(row_factory=class_row(SecretReading))
        await cursor.execute(
            """
            SELECT case_number, reader_id, reader_role, read_at, sections
            FROM secret_readings WHERE case_number = %s ORDER BY read_at, id
            """,
            (case_number,),
        )
        return await cursor.fetchall()
