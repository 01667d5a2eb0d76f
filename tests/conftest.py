"""The test database: a real PostgreSQL, a fresh database for every test.

GRANTFLOW_TEST_DATABASE_URL chooses a server (e.g. the machine's own,
postgresql://postgres@127.0.0.1:5432/test); without it each test process starts an
embedded server with pgserver.

pgserver can share one data directory between processes (it counts its users under
a file lock), but each pytest-xdist worker gets a server of its own: nothing is
shared, and a worker that finishes early cannot stop or delete the server under
another. The data directory is deliberately not under pytest's tmp_path: run as
root, pgserver runs postgres as a separate "pgserver" user and opens up the parent
directories for it, and every pytest process that starts (each xdist worker, any
other test run on the machine) sets /tmp/pytest-of-<user> back to 0700, which cuts a
running server off from its own files.

Run as root on a machine without that user, the workers would each create it at the same
moment, and useradd then re-creates it with a new uid under the others (see
docs/decisions/0022): it is created once, under pgserver's lock, before any server starts.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

import tests.keys  # noqa: F401  (sets GRANTFLOW_CODEC_KEYS: the whole suite runs with payloads encrypted)
from activities.db import upgrade
from infra.postgres import ensure_postgres_user


def pytest_configure(config: pytest.Config) -> None:
    # `grantflow up` records where it runs in the user's state directory, and the CLI looks there:
    # every test process (each xdist worker) gets its own, so that no test finds another's stack,
    # nor the stack of someone using this machine.
    os.environ["XDG_STATE_HOME"] = tempfile.mkdtemp(prefix="grantflow-state-")


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A server to create test databases on (any database of it, to connect to)."""
    url = os.environ.get("GRANTFLOW_TEST_DATABASE_URL")
    if url:
        yield url
        return
    with warnings.catch_warnings():
        # platformdirs warns that XDG_RUNTIME_DIR is unset (CI, containers) and falls back to /tmp.
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        import pgserver

    ensure_postgres_user()  # as root, before the workers' servers start side by side (see above)
    parent = Path(tempfile.mkdtemp(prefix="grantflow-pg-"))
    server = pgserver.get_server(parent / "pg", cleanup_mode="delete")
    # A throwaway server: durability only costs time here (CREATE and DROP DATABASE
    # for every test would otherwise wait for the disk). Never do this to a real one.
    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        for setting in ("fsync", "synchronous_commit", "full_page_writes"):
            conn.execute(sql.SQL("ALTER SYSTEM SET {} = off").format(sql.Identifier(setting)))
        conn.execute("SELECT pg_reload_conf()")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
        shutil.rmtree(parent, ignore_errors=True)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[str]:
    """The URL of a new, migrated database of its own, dropped after the test."""
    name = f"test_{uuid.uuid4().hex}"
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as admin:
        await admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = make_conninfo(database_url, dbname=name)
    try:
        await upgrade(url)
        yield url
    finally:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as admin:
            # FORCE: a pool a test forgot to close must not keep the database alive.
            await admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
