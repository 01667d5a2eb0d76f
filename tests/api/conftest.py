"""The API in-process over a real Temporal dev server, a real worker and a real database.

`api.http` is an httpx client on the app; `api.token(role, ...)` gives a bearer token for a person:
a real development user (services/users.py), signed in through the real authenticator.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
import pytest
from fastapi import FastAPI
from psycopg_pool import AsyncConnectionPool

from activities.db import open_pool
from api.app import create_app
from api.auth import ApiRole
from domain.identity import luhn_check_digit
from domain.users import InvalidUser, applicant_org_number
from infra.settings import Settings
from services import users
from tests.workflows.conftest import Harness, _harness

T = TypeVar("T")


class Users:
    """services.users on an event loop of its own, in a thread of its own: `Api.token` is synchronous
    (tests call it inline), and a running test's loop cannot wait for a coroutine of its own."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread: threading.Thread | None = None
        self.pool: AsyncConnectionPool | None = None

    def _wait(self, coroutine: Awaitable[T]) -> T:
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=60)  # type: ignore[arg-type]

    def run(self, work: Callable[[AsyncConnectionPool], Awaitable[T]]) -> T:
        if self.loop is None:
            self.loop = asyncio.new_event_loop()
            self.thread = threading.Thread(target=self.loop.run_forever, name="api-test-users", daemon=True)
            self.thread.start()
            self.pool = self._wait(open_pool(self.database_url, max_size=1))
        assert self.pool is not None
        return self._wait(work(self.pool))

    def close(self) -> None:
        if self.loop is None:
            return
        if self.pool is not None:
            self._wait(self.pool.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        assert self.thread is not None
        self.thread.join(timeout=10)
        self.loop.close()


def _unused_org_number() -> str:
    """A valid organisation number (a limited company's) that no test application names."""
    digits = "5599" + f"{secrets.randbelow(10**5):05d}"  # 55: a limited company; 99: no month
    return f"{digits[:6]}-{digits[6:]}{luhn_check_digit(digits)}"


def _written_as_stored(org_number: str) -> str:
    try:
        return applicant_org_number(org_number)
    except InvalidUser:
        return org_number  # users.new_user refuses it, naming why


@dataclass
class Clock:
    """The app's clock (api.app.Context.clock): the wall clock, moved on by a test together with a case's
    virtual time (`harness.fast_forward`), so that the inbox sees the deadlines the case has passed."""

    ahead: timedelta = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.ahead

    def advance(self, by: timedelta) -> None:
        self.ahead += by


@dataclass
class Api:
    app: FastAPI
    http: httpx.AsyncClient
    harness: Harness
    users: Users
    clock: Clock = field(default_factory=Clock)
    _tokens: dict[tuple[str, ApiRole], tuple[str, str | None]] = field(default_factory=dict)

    def token(self, role: ApiRole | str, person: str | None = None, *, org_number: str | None = None) -> str:
        """A development token for `person` in `role` (the same token when asked again).

        An applicant acts for `org_number`; without one, for an organisation of its own that applies for nothing.
        """
        role = ApiRole(role)
        person = person or f"{role.value}-{uuid.uuid4().hex[:6]}"
        if role is ApiRole.APPLICANT:
            org_number = _unused_org_number() if org_number is None else _written_as_stored(org_number)
        known = self._tokens.get((person, role))
        if known is not None:
            if known[1] != org_number:
                raise ValueError(f"{person} is already an applicant for another organisation in this test")
            return known[0]
        user = users.new_user(person, role.value, org_number=org_number)
        issued = self.users.run(lambda pool: users.add(pool, user))
        self._tokens[(person, role)] = (issued.token, org_number)
        return issued.token

    def auth(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    async def as_(self, token: str, method: str, url: str, **kwargs: Any) -> httpx.Response:
        headers = {**kwargs.pop("headers", {}), **self.auth(token)}
        return await self.http.request(method, url, headers=headers, **kwargs)


async def serve_api(db: str, harness_options: dict[str, Any] | None = None, **settings: Any) -> AsyncIterator[Api]:
    """The app with the real authenticator, over a harness; `settings` adds to its Settings (e.g. oidc=...)."""
    async for harness in _harness(db, **(harness_options or {})):
        clock = Clock()
        app = create_app(Settings(database_url=db, task_queue=harness.task_queue, **settings),
                         client=harness.client, pool=harness.pool, catalog=harness.catalog, clock=clock.now)
        helper = Users(db)
        try:
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
                async with httpx.AsyncClient(transport=transport, base_url="http://grantflow.test") as http:
                    yield Api(app=app, http=http, harness=harness, users=helper, clock=clock)
        finally:
            await asyncio.to_thread(helper.close)


@pytest.fixture
async def api(db: str) -> AsyncIterator[Api]:
    async for served in serve_api(db):
        yield served
