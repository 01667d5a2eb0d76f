"""The API in-process over a real Temporal dev server, a real worker and a real database.

`api.http` is an httpx client on the app; `api.token(role, ...)` gives a bearer token for a person.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from api.app import create_app
from api.auth import ApiRole, Principal
from infra.settings import Settings
from tests.workflows.conftest import Harness, _harness


@dataclass
class Api:
    app: FastAPI
    http: httpx.AsyncClient
    harness: Harness
    principals: dict[str, Principal] = field(default_factory=dict)

    def token(self, role: ApiRole | str, person: str | None = None, *, org_number: str | None = None) -> str:
        role = ApiRole(role)
        person = person or f"{role.value}-{uuid.uuid4().hex[:6]}"
        token = f"test-{uuid.uuid4().hex}"
        self.principals[token] = Principal(id=person, name=person, role=role, org_number=org_number)
        return token

    def auth(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    async def as_(self, token: str, method: str, url: str, **kwargs: Any) -> httpx.Response:
        headers = {**kwargs.pop("headers", {}), **self.auth(token)}
        return await self.http.request(method, url, headers=headers, **kwargs)


@pytest.fixture
async def api(db: str) -> AsyncIterator[Api]:
    principals: dict[str, Principal] = {}

    async def authenticate(token: str) -> Principal | None:
        return principals.get(token)

    async for harness in _harness(db):
        settings = Settings(database_url=db, task_queue=harness.task_queue)
        app = create_app(settings, authenticate=authenticate, client=harness.client, pool=harness.pool,
                         catalog=harness.catalog)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://grantflow.test") as http:
                yield Api(app=app, http=http, harness=harness, principals=principals)
