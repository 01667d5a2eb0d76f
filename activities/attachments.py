"""The files sent with an application, stored as they came (migration 0008 says why here).

Written by the API process before the intake starts, not by an activity: the bytes must not pass
through Temporal. Each file is keyed by its submission and its place in the form's attachments,
so a submission sent again writes nothing more.
"""

from __future__ import annotations

from datetime import datetime

from psycopg.rows import class_row
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel, Field


class AttachmentFile(BaseModel):
    position: int = Field(ge=0)
    name: str
    kind: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    media_type: str | None = None
    content: bytes = Field(repr=False)


class StoredAttachment(BaseModel):
    submission_id: str
    position: int
    name: str
    kind: str
    sha256: str
    media_type: str | None
    size: int
    received_at: datetime


async def claim_submission(pool: AsyncConnectionPool, submission_id: str, application_sha256: str) -> str:
    """Record what a submission says, once; returns the hash recorded first under its id."""
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO submissions (submission_id, application_sha256) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            (submission_id, application_sha256))
        cursor = await conn.execute("SELECT application_sha256 FROM submissions WHERE submission_id = %s",
                                    (submission_id,))
        row = await cursor.fetchone()
        assert row is not None, "inserted or already there"
        return str(row[0])


async def store_attachments(pool: AsyncConnectionPool, submission_id: str, files: list[AttachmentFile]) -> None:
    """Keep the files of one submission; those already kept under it stay as they are."""
    if not files:
        return
    async with pool.connection() as conn, conn.transaction(), conn.cursor() as cursor:
        await cursor.executemany(
            """
                INSERT INTO attachments (submission_id, position, name, kind, sha256, media_type, size, content)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
                ON CONFLICT (submission_id, position) DO NOTHING
                """,
            [(submission_id, f.position, f.name, f.kind, f.sha256, f.media_type, len(f.content), f.content)
             for f in files],
        )


async def case_attachments(pool: AsyncConnectionPool, case_number: str) -> list[StoredAttachment]:
    """What was sent with a case's application (without the bytes), in the form's order."""
    async with pool.connection() as conn:
        cursor = conn.cursor(row_factory=class_row(StoredAttachment))
        await cursor.execute(
            """
            SELECT a.submission_id, a.position, a.name, a.kind, a.sha256, a.media_type, a.size, a.received_at
            FROM attachments a JOIN cases c ON c.submission_id = a.submission_id
            WHERE c.case_number = %s ORDER BY a.position
            """,
            (case_number,),
        )
        return await cursor.fetchall()


async def attachment_content(pool: AsyncConnectionPool, case_number: str, position: int) -> bytes | None:
    async with pool.connection() as conn:
        cursor = await conn.execute(
            """
            SELECT a.content FROM attachments a JOIN cases c ON c.submission_id = a.submission_id
            WHERE c.case_number = %s AND a.position = %s
            """,
            (case_number, position),
        )
        row = await cursor.fetchone()
        return bytes(row[0]) if row is not None else None
