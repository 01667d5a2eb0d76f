"""Reading the case register, the letters and the case history: what officers list and filter.

These are reads of what the case workflows' activities wrote; nothing here changes a case.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from psycopg_pool import AsyncConnectionPool

from activities.db import open_pool
from activities.letters import StoredLetter, list_letters
from activities.register import CaseEvent, RegisterRow, case_events, list_cases
from infra.errors import Unavailable
from infra.postgres import start_postgres
from infra.settings import NO_STACK, Settings, has_embedded_database


async def database_url(settings: Settings) -> str:
    """The configured database, or the embedded one `grantflow up` keeps in the data directory.

    Only `up` creates an embedded database: here a data directory without one is an error, not a
    place to make a new, empty one (which would then fail on its missing tables).
    """
    if settings.database_url is not None:
        return settings.database_url
    data_dir = settings.data_dir.resolve()
    if not has_embedded_database(data_dir):
        raise Unavailable(f"{NO_STACK} (there is no database in {data_dir})")
    server = await start_postgres(data_dir / "postgres")
    return server.get_uri()


async def open_register_pool(settings: Settings, *, max_size: int = 10) -> AsyncConnectionPool:
    """A pool for a long-lived process (the API) to read the register with."""
    return await open_pool(await database_url(settings), max_size=max_size)


@asynccontextmanager
async def read_pool(settings: Settings, *, max_size: int = 2) -> AsyncIterator[AsyncConnectionPool]:
    """A small pool for one command's reads; closed when the command is done."""
    pool = await open_pool(await database_url(settings), max_size=max_size)
    try:
        yield pool
    finally:
        await pool.close()


async def cases(settings: Settings, *, call_id: str | None = None, stage: str | None = None) -> list[RegisterRow]:
    async with read_pool(settings) as pool:
        return await list_cases(pool, call_id=call_id, stage=stage)


async def letters(settings: Settings, case_number: str | None = None) -> list[StoredLetter]:
    async with read_pool(settings) as pool:
        return await list_letters(pool, case_number)


async def events(settings: Settings, case_number: str) -> list[CaseEvent]:
    async with read_pool(settings) as pool:
        return await case_events(pool, case_number)


__all__ = ["cases", "database_url", "events", "letters", "open_register_pool", "read_pool"]
