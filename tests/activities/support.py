"""Helpers for the activity tests: fresh databases, a crashing pool, a local SMTP server."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
from aiosmtpd.controller import Controller
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg_pool import AsyncConnectionPool


class SimulatedCrash(RuntimeError):
    """The worker 'died' after the database had committed."""


class CrashAfterCommit:
    """A pool whose `crash_on`-th connection (1-based) raises once its block has committed.

    That is the moment that makes idempotency matter: the write is durable, but the
    activity never reports success, so Temporal runs it again.
    """

    def __init__(self, pool: AsyncConnectionPool, crash_on: int = 1) -> None:
        self._pool = pool
        self._crash_on = crash_on
        self.used = 0

    @asynccontextmanager
    async def connection(self, timeout: float | None = None) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        async with self._pool.connection(timeout) as conn:
            yield conn
        # Leaving the pool's block committed the transaction (or raised if it could not).
        self.used += 1
        if self.used == self._crash_on:
            raise SimulatedCrash(f"crash after commit of connection {self.used}")


class _SlowConnection:
    def __init__(self, conn: psycopg.AsyncConnection[Any], delay: float) -> None:
        self._conn = conn
        self._delay = delay

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        cursor = await self._conn.execute(*args, **kwargs)
        await asyncio.sleep(self._delay)
        return cursor

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


class SlowPool:
    """A pool whose connections pause after every statement, holding the transaction open.

    It widens the window between reading and writing, so a race that a lock is
    supposed to prevent shows up every time instead of once in a while.
    """

    def __init__(self, pool: AsyncConnectionPool, delay: float = 0.01) -> None:
        self._pool = pool
        self._delay = delay

    @asynccontextmanager
    async def connection(self, timeout: float | None = None) -> AsyncIterator[_SlowConnection]:
        async with self._pool.connection(timeout) as conn:
            yield _SlowConnection(conn, self._delay)


async def create_database(server_url: str) -> str:
    name = f"test_{uuid.uuid4().hex}"
    async with await psycopg.AsyncConnection.connect(server_url, autocommit=True) as admin:
        await admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return make_conninfo(server_url, dbname=name)


async def drop_database(server_url: str, url: str) -> None:
    name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    assert isinstance(name, str)
    async with await psycopg.AsyncConnection.connect(server_url, autocommit=True) as admin:
        await admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


async def scalar(pool: AsyncConnectionPool, query: str, params: tuple[Any, ...] = ()) -> Any:
    async with pool.connection() as conn:
        cursor = await conn.execute(query, params)  # type: ignore[arg-type]
        row = await cursor.fetchone()
        assert row is not None
        return row[0]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes


@dataclass
class RecordingHandler:
    """aiosmtpd handler: keeps every message; refuses recipients listed in `refuse`."""

    messages: list[Received] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    data_reply: str | None = None  # e.g. "554 5.7.1 rejected": refuse every message with it

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_reply is not None:
            return self.data_reply
        self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 Message accepted for delivery"


def start_smtp(handler: RecordingHandler, port: int) -> Controller:
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    return controller
