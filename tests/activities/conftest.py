from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from psycopg_pool import AsyncConnectionPool

from activities.db import open_pool
from tests.activities.support import RecordingHandler, create_database, drop_database, free_port, start_smtp


@pytest.fixture
async def pool(db: str) -> AsyncIterator[AsyncConnectionPool]:
    pool = await open_pool(db, max_size=10)
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
async def empty_db(database_url: str) -> AsyncIterator[str]:
    """A database of its own with no migrations applied."""
    url = await create_database(database_url)
    try:
        yield url
    finally:
        await drop_database(database_url, url)


@pytest.fixture
def smtp_server() -> Iterator[tuple[RecordingHandler, int]]:
    """A real SMTP server on a loopback port, recording what it receives."""
    handler = RecordingHandler()
    port = free_port()
    controller = start_smtp(handler, port)
    try:
        yield handler, port
    finally:
        controller.stop()
