from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from psycopg_pool import AsyncConnectionPool

from activities.db import open_pool
from tests.activities.support import RecordingHandler, free_port, start_smtp


@pytest.fixture
async def pool(db: str) -> AsyncIterator[AsyncConnectionPool]:
    pool = await open_pool(db, max_size=10)
    try:
        yield pool
    finally:
        await pool.close()


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
