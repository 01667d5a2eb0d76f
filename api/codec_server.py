"""The codec server: Temporal UI (and the `temporal` CLI) decrypt payloads here, for people who may read cases.

Temporal's remote codec protocol: POST `…/encode` and `…/decode` with a Payloads message as
protobuf JSON (`{"payloads": [{"metadata": {"encoding": "<base64>"}, "data": "<base64>"}]}`),
answered in the same shape; only the last part of the path counts, so the endpoints may sit under
any prefix (`/default/decode` is `/decode`). A payload that cannot be decoded is a 400 problem that
names its key id, never a traceback.

Who may use it: a person signed in as to the API (api/auth.py, api/signin.py: a development token or
the identity provider's access token), whose role may read cases; an applicant gets a 403. The token
comes as `Authorization: Bearer …` (the `temporal` CLI's --codec-auth; Temporal UI when its own OIDC
sign-in is on and its codec setting "pass access token" is set, and then only to an https:// endpoint),
or, for a Temporal UI without a sign-in of its own (the dev server's), from the cookie that this
server's /signin page sets, which the UI sends with "include cross-origin credentials". A browser asks
first (a CORS preflight), answered for the configured UI origins only. See docs/decisions/0028.
"""

from __future__ import annotations

import html
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, FastAPI, Form, Header, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from google.protobuf import json_format
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel, Field
from temporalio.api.common.v1 import Payload, Payloads

from api import problems
from api.auth import READERS, ApiRole, Authenticator, Principal, allowed, signed_in
from api.problems import PROBLEM_RESPONSES, ProblemError
from api.web import session
from infra.codec import EncryptionCodec, PayloadDecryptionError
from infra.converter import codec_keys
from infra.errors import InputProblem
from infra.settings import PREFIX, Settings, SettingsError
from services.register import open_register_pool

DEFAULT_CODEC_PORT = 8234  # beside Temporal UI's 8233
# What Temporal UI sends (ui: src/lib/utilities/codec-server-request), and what a browser must be allowed to.
UI_HEADERS = ("Authorization", "Authorization-Extras", "Content-Type", "X-Namespace")
log = structlog.stdlib.get_logger("grantflow.codec_server")


class JsonPayload(BaseModel):
    """A Payload as protobuf JSON: its metadata's values and its data in base64."""

    metadata: dict[str, str] = {}
    data: str = ""


class JsonPayloads(BaseModel):
    payloads: list[JsonPayload] = Field(default=[], max_length=10_000)


COOKIE = "grantflow_codec"  # the sign-in page's: the token itself, HttpOnly, for this host only
COOKIE_SECONDS = 8 * 3600  # a working day
_bearer = HTTPBearer(auto_error=False, description="A development token or the identity provider's access token")
_may_read_cases = allowed(*READERS)
# Encrypting makes a payload a worker will take as ours: only for roles that change cases. An auditor
# reads everything and changes nothing.
_may_change_cases = allowed(*(READERS - {ApiRole.AUDITOR}))


async def reader(request: Request,
                 credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Principal:
    """The signed-in person, by the Authorization header or the sign-in page's cookie, if they may read cases."""
    if credentials is None and (token := request.cookies.get(COOKIE)):
        credentials = HTTPAuthorizationCredentials(scheme="Bearer", credentials=token)
    return await _may_read_cases(await signed_in(request, credentials))


async def writer(reader: Annotated[Principal, Depends(reader)]) -> Principal:
    return await _may_change_cases(reader)


# A person whose role may read cases, one whose role may change them; the namespace Temporal UI says it shows.
Reader = Annotated[Principal, Depends(reader)]
Writer = Annotated[Principal, Depends(writer)]
Namespace = Annotated[str | None, Header(alias="X-Namespace", max_length=1000)]


def codec_for(settings: Settings) -> EncryptionCodec:
    """The configured keys' codec; a codec server without keys has nothing to serve."""
    keys = codec_keys(settings)
    if keys is None:
        raise SettingsError([InputProblem(field=f"{PREFIX}CODEC_DISABLED",
                                          reason="is true: payloads are not encrypted, there is nothing to decode")])
    return EncryptionCodec(keys)


def _parse(body: JsonPayloads) -> list[Payload]:
    parsed = []
    for index, payload in enumerate(body.payloads):
        try:
            parsed.append(json_format.ParseDict(payload.model_dump(), Payload()))
        except json_format.ParseError:
            raise ProblemError(400, "Bad request", "Nyttolasten kan inte läsas.",
                               [InputProblem(field=f"$.payloads[{index}]",
                                             reason="metadata och data ska vara base64")]) from None
    return parsed


def _answer(payloads: Sequence[Payload]) -> dict[str, Any]:
    return json_format.MessageToDict(Payloads(payloads=list(payloads)))


def _router(codec: EncryptionCodec) -> APIRouter:
    router = APIRouter(tags=["codec"])
    responses: dict[int | str, dict[str, Any]] = {k: PROBLEM_RESPONSES[k] for k in (400, 401, 403, 413, 422, 503)}

    async def decode(body: JsonPayloads, principal: Reader, namespace: Namespace = None) -> dict[str, Any]:
        try:
            decoded = await codec.decode(_parse(body))
        except PayloadDecryptionError as exc:
            log.warning("a payload could not be decoded", key_id=exc.key_id, user=principal.id)
            raise ProblemError(400, "Payload cannot be decoded", str(exc)) from None
        # Who looked at what Temporal holds: the key ids, never the content.
        log.info("payloads decoded", user=principal.id, role=principal.role.value, namespace=namespace,
                 payloads=len(decoded))
        return _answer(decoded)

    async def encode(body: JsonPayloads, principal: Writer) -> dict[str, Any]:
        return _answer(await codec.encode(_parse(body)))

    # Only the path's last part counts (the protocol): also e.g. /default/decode.
    for path, endpoint, summary in (("decode", decode, "Decrypt payloads for Temporal UI"),
                                    ("encode", encode, "Encrypt payloads (Temporal UI's signal and reset forms)")):
        for route in (f"/{path}", f"/{{prefix:path}}/{path}"):
            router.add_api_route(route, endpoint, methods=["POST"], summary=summary, responses=responses,
                                 include_in_schema=not route.startswith("/{"))
    return router


_PAGE = """<!doctype html>
<html lang="sv"><head><meta charset="utf-8"><title>grantflow – avkodning i Temporal UI</title></head>
<body><h1>Avkodning av ärendeuppgifter i Temporal UI</h1>{body}</body></html>"""
_FORM = """<p>Det som grantflow lagrar i Temporal är krypterat. Logga in här med din token för att Temporal UI
ska kunna visa det i klartext, om din roll får läsa ärenden.</p>
<form method="post" action="signin"><label>Token <input type="password" name="token" autocomplete="off"
required></label> <button type="submit">Logga in</button></form>
<p>Slå sedan på <i>Include cross-origin credentials</i> under <i>Codec Server</i> i Temporal UI.</p>"""


def _signin_pages() -> APIRouter:
    """A browser's sign-in for a Temporal UI that cannot pass a token (no sign-in of its own): a cookie."""
    router = APIRouter(include_in_schema=False)

    @router.get("/signin")
    async def form() -> HTMLResponse:
        return HTMLResponse(_PAGE.format(body=_FORM))

    @router.post("/signin")
    async def signin(request: Request, token: Annotated[str, Form(max_length=16 * 1024)]) -> HTMLResponse:
        if not session.from_this_site(request):  # login CSRF: another site signing the browser in as someone else
            return HTMLResponse(_PAGE.format(body="<p>Inloggningen kom inte från den här sidan. Ladda om sidan och "
                                                  "försök igen.</p>"), status_code=403)
        principal = await reader(request, HTTPAuthorizationCredentials(scheme="Bearer", credentials=token))
        page = HTMLResponse(_PAGE.format(body=f"<p>Inloggad som {html.escape(principal.name)} "
                                              f"({html.escape(principal.role.value)}). Du kan stänga sidan.</p>"))
        page.set_cookie(COOKIE, token, max_age=COOKIE_SECONDS, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")
        log.info("signed in to the codec server", user=principal.id, role=principal.role.value)
        return page

    @router.post("/signout")
    async def signout() -> HTMLResponse:
        page = HTMLResponse(_PAGE.format(body="<p>Utloggad.</p>"))
        page.delete_cookie(COOKIE, httponly=True, samesite="strict")
        return page

    return router


def create_codec_app(settings: Settings, *, ui_origins: Sequence[str], authenticate: Authenticator | None = None,
                     pool: AsyncConnectionPool | None = None) -> FastAPI:
    """The codec server. Sign-in as the API's (development tokens need the register's database: `pool`,
    or one of its own); CORS for `ui_origins` only (e.g. http://127.0.0.1:8233)."""
    codec = codec_for(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if authenticate is not None:
            app.state.authenticate = authenticate
            yield
            return
        from api.signin import authenticator

        the_pool = pool if pool is not None else await open_register_pool(settings)
        try:
            app.state.authenticate = authenticator(settings, the_pool)
            yield
        finally:
            if pool is None:
                await the_pool.close()

    app = FastAPI(title="grantflow codec server", version="1", lifespan=lifespan,
                  summary="Temporal UI:s avkodning av krypterade nyttolaster, för den som får läsa ärenden.")
    problems.install(app)
    app.add_middleware(problems.BodyLimit)
    # Outermost: answers a preflight, and puts the headers on every answer, a 401 or a problem too.
    app.add_middleware(CORSMiddleware, allow_origins=list(ui_origins), allow_methods=["POST"],
                       allow_headers=list(UI_HEADERS), allow_credentials=True, max_age=600)

    @app.get("/healthz", tags=["operations"], summary="The process lives")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.include_router(_signin_pages())
    app.include_router(_router(codec))
    return app
