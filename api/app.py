"""The API service: one FastAPI application over `services/`, run by uvicorn.

It holds one Temporal client and one database pool for its whole life; every request borrows them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel
from temporalio.client import Client

from api import problems
from api.auth import Authenticator
from infra.calls import CallCatalog, default_catalog
from infra.settings import Settings
from infra.temporal import connect
from infra.tracing import provider as tracer_provider
from services.register import open_register_pool

DEFAULT_API_PORT = 8000


@dataclass
class Context:
    """What every request works with."""

    settings: Settings
    client: Client
    pool: AsyncConnectionPool
    catalog: CallCatalog
    # What "now" is where a read compares deadlines with it (the inbox's overdue flags): the wall
    # clock, except in tests that move a case's virtual time and the inbox's together.
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


async def context(request: Request) -> Context:
    # async: FastAPI runs a plain `def` dependency in its thread pool, a thread hop on every request.
    ctx: Context = request.app.state.ctx
    return ctx


Ctx = Annotated[Context, Depends(context)]


def create_app(settings: Settings, *, authenticate: Authenticator | None = None,
               client: Client | None = None, pool: AsyncConnectionPool | None = None,
               catalog: CallCatalog | None = None, clock: Callable[[], datetime] | None = None) -> FastAPI:
    """The application. A given client or pool is the caller's to close; otherwise the app opens and
    closes its own. `authenticate` defaults to development tokens and, when configured, OIDC; `clock`
    to the wall clock (Context.clock)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own_pool = pool is None
        the_pool = pool if pool is not None else await open_register_pool(settings)
        try:
            the_client = client if client is not None else await connect(settings)
            app.state.ctx = Context(settings=settings, client=the_client, pool=the_pool,
                                    catalog=catalog or default_catalog(settings.data_dir))
            if clock is not None:
                app.state.ctx.clock = clock
            if authenticate is not None:
                app.state.authenticate = authenticate
            else:
                from api.signin import authenticator

                app.state.authenticate = authenticator(settings, the_pool)
            yield
        finally:
            if own_pool:
                await the_pool.close()

    app = FastAPI(
        title="grantflow",
        summary="Ärendehantering för utlysningar av bidrag: sökande, handläggare, beslutsfattare, ekonomi, revision.",
        version="1",
        lifespan=lifespan,
        responses=problems.PROBLEM_RESPONSES,
    )
    problems.install(app)
    app.add_middleware(problems.BodyLimit)
    app.include_router(_health())
    from api.signin import router as signin

    app.include_router(signin)
    from api.routes import ROUTERS

    for router in ROUTERS:
        app.include_router(router)
    from api.web import install as install_web

    install_web(app)
    if (traces := tracer_provider()) is not None:  # off unless an OTLP endpoint is configured
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        # Not the probes: a load balancer asks every few seconds.
        FastAPIInstrumentor.instrument_app(app, tracer_provider=traces, excluded_urls="/healthz,/readyz",
                                           server_request_hook=_without_query)
    return app


def _without_query(span: Any, scope: dict[str, Any]) -> None:
    """The request's span without its query string: an inbox search holds applicants' names, and the
    identity provider's callback its one-time code and state; neither belongs in a trace collector."""
    if not scope.get("query_string") or not span.is_recording():
        return
    from opentelemetry.instrumentation.asgi import get_host_port_url_tuple

    url = get_host_port_url_tuple(scope)[2]  # type: ignore[no-untyped-call]
    span.set_attribute("http.target", scope.get("path", ""))
    span.set_attribute("http.url", url)
    if "url.query" in (getattr(span, "attributes", None) or {}):  # the stable conventions, when opted in
        span.set_attribute("url.query", "")
        span.set_attribute("url.full", url)


class Readiness(BaseModel):
    status: Literal["ready", "not ready"]
    checks: dict[str, Literal["ok", "failing"]]  # "temporal", "database"


def _health() -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", summary="The process lives", responses={200: {"content": {"application/json": {}}}})
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    # Its own body on both answers, not a problem: operations' probes read `checks` either way.
    @router.get("/readyz", summary="Temporal and PostgreSQL answer", response_model=Readiness,
                responses={503: {"model": Readiness, "description": "Temporal or the database does not answer"}})
    async def readyz(ctx: Ctx) -> JSONResponse:
        checks = {"temporal": await _temporal_answers(ctx.client), "database": await _database_answers(ctx.pool)}
        ready = all(checks.values())
        return JSONResponse({"status": "ready" if ready else "not ready",
                             "checks": {name: "ok" if ok else "failing" for name, ok in checks.items()}},
                            status_code=200 if ready else 503)

    return router


async def _temporal_answers(client: Client) -> bool:
    try:
        return await client.service_client.check_health()
    except Exception:  # any failure to answer is "not ready"; the reason is operations' to find
        return False


async def _database_answers(pool: AsyncConnectionPool) -> bool:
    try:
        async with pool.connection(timeout=2) as conn:
            await conn.execute("SELECT 1")
        return True
    except Exception:  # as above
        return False
