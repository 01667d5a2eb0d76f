"""Every error as `application/problem+json` (RFC 9457): what went wrong for a developer, in English,
and a `detail` in Swedish for the person in front of the screen, with each field's path and reason.

Bad input is a 4xx, never a 500; a refused action is a 409 with the case's own reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.service import RPCError, RPCStatusCode

from infra.errors import InputError, InputProblem, Unavailable, json_path
from infra.messages import reason
from services.cases import ActionRefused, CaseNotFound, NotRegistered

log = structlog.stdlib.get_logger("grantflow.api")

PROBLEM_JSON = "application/problem+json"
MAX_BODY_BYTES = 10 * 1024 * 1024  # an application with its attachments; anything larger is refused unread
_TOO_LARGE_SV = f"Begäran är för stor: högst {MAX_BODY_BYTES // (1024 * 1024)} MB med bilagor."
# What a Temporal call answers when the server is down or does not answer in time.
_TEMPORAL_DOWN = frozenset({RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED})


class FieldProblem(BaseModel):
    field: str  # the JSON path of the field in the request (or the parameter's name)
    reason: str  # Swedish


class Problem(BaseModel):
    type: str = "about:blank"
    title: str  # English, for developers
    status: int
    detail: str  # Swedish, for people
    errors: list[FieldProblem] = []


class ProblemError(Exception):
    """Raised anywhere in the API to answer with a problem."""

    def __init__(self, status: int, title: str, detail: str, errors: Sequence[InputProblem] = ()) -> None:
        super().__init__(title)
        self.problem = Problem(title=title, status=status, detail=detail,
                               errors=[FieldProblem(field=p.field, reason=p.reason) for p in errors])


def not_found(detail: str = "Det finns inget sådant ärende, eller så får du inte se det.") -> ProblemError:
    # 404, never 403, for a case that is someone else's: case numbers cannot be probed.
    return ProblemError(404, "Not found", detail)


def problem_response(problem: Problem, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(problem.model_dump(mode="json"), status_code=problem.status, media_type=PROBLEM_JSON,
                        headers=headers)


# The OpenAPI description of every error answer, for the routes to list: the Problem schema under the media
# type the answer is sent with. (FastAPI would put a `model` under application/json, which no error is sent as;
# `install` adds Problem to the document's components instead.)
PROBLEM_CONTENT: dict[str, object] = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
PROBLEM_RESPONSES: dict[int | str, dict[str, object]] = {
    code: {"content": PROBLEM_CONTENT, "description": text}
    for code, text in {400: "Bad request", 401: "Not signed in", 403: "Not allowed for this role",
                       404: "Not found", 409: "Refused by the case", 413: "Body too large",
                       422: "Invalid input", 503: "Temporal or the database is unavailable"}.items()
}


def problem_answer(description: str) -> dict[str, object]:
    """One more documented error answer of a route (e.g. 415), as PROBLEM_RESPONSES describes theirs."""
    return {"content": PROBLEM_CONTENT, "description": description}


def _document_problems(app: FastAPI) -> None:
    """The OpenAPI document with Problem (and FieldProblem) among its components, for PROBLEM_CONTENT's $ref."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = generate()  # which keeps it as app.openapi_schema
        schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}", mode="serialization")
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        schemas.update(schema.pop("$defs", {}))
        schemas["Problem"] = schema
        return document

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend the document


def _from_validation(exc: RequestValidationError) -> Problem:
    errors = []
    for error in exc.errors():
        loc = list(error.get("loc", ()))
        # FastAPI puts where the value came from first ("body", "query", "path", "header").
        where = loc.pop(0) if loc and loc[0] in ("body", "query", "path", "header", "cookie") else "body"
        field = json_path(loc) if where == "body" else ".".join(str(p) for p in loc) or where
        why = reason(error, form="begäran")
        if error.get("type") == "json_invalid":
            # FastAPI puts the parser's character offset where a field would be: the body as a whole is at fault.
            field = "$"
            why += f" (tecken {loc[0] + 1})" if loc and isinstance(loc[0], int) else ""
        errors.append(FieldProblem(field=field, reason=why))
    return Problem(title="Invalid input", status=422, detail="Uppgifterna i begäran kan inte användas: "
                   + "; ".join(f"{e.field}: {e.reason}" for e in errors), errors=errors)


def install(app: FastAPI) -> None:
    _document_problems(app)

    async def validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return problem_response(_from_validation(exc))

    async def raised(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ProblemError)
        headers = {"WWW-Authenticate": "Bearer"} if exc.problem.status == 401 else None
        return problem_response(exc.problem, headers)

    async def input_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, InputError)
        if isinstance(exc, CaseNotFound):
            return problem_response(not_found().problem)
        return problem_response(Problem(title="Invalid input", status=422, detail=str(exc),
                                        errors=[FieldProblem(field=p.field, reason=p.reason) for p in exc.problems]))

    async def refused(_: Request, exc: Exception) -> JSONResponse:
        return problem_response(Problem(title="Refused by the case", status=409, detail=str(exc)))

    async def unavailable(_: Request, exc: Exception) -> JSONResponse:
        log.warning("a service the API needs is unavailable", error=str(exc))
        return problem_response(Problem(title="Service unavailable", status=503,
                                        detail="Tjänsten är tillfälligt otillgänglig. Försök igen om en stund."),
                                {"Retry-After": "5"})

    async def outage(request: Request, exc: Exception) -> JSONResponse:
        # Temporal or PostgreSQL not answering is the service being unavailable, not a bug: 503.
        if isinstance(exc, RPCError) and exc.status not in _TEMPORAL_DOWN:
            return await internal(request, exc)
        if isinstance(exc, RuntimeError) and not isinstance(exc, RPCError) and not str(exc).startswith(
                "Failed client connect"):  # what the SDK raises when it cannot reach the server
            return await internal(request, exc)
        return await unavailable(request, Unavailable(f"{type(exc).__name__}: {exc}"))

    async def http_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        titles = {404: "Not found", 405: "Method not allowed", 401: "Not signed in", 403: "Forbidden",
                  413: "Payload too large"}
        details = {404: "Det finns ingen sådan adress.", 405: "Metoden stöds inte på den här adressen.",
                   401: "Du behöver logga in.", 403: "Du får inte göra detta.", 413: _TOO_LARGE_SV}
        return problem_response(Problem(title=titles.get(exc.status_code, str(exc.detail)), status=exc.status_code,
                                        detail=details.get(exc.status_code, "Begäran kunde inte utföras.")),
                                dict(exc.headers) if exc.headers else None)

    async def internal(_: Request, exc: Exception) -> JSONResponse:
        # The traceback goes to the log (without the request's data); the client gets no internals.
        log.error("unexpected error in the API", error_type=type(exc).__name__, exc_info=exc)
        return problem_response(Problem(title="Internal error", status=500,
                                        detail="Ett oväntat fel inträffade; inget ändrades av det. Drift har loggen."))

    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(ProblemError, raised)
    app.add_exception_handler(InputError, input_error)
    app.add_exception_handler(ActionRefused, refused)
    app.add_exception_handler(NotRegistered, refused)
    app.add_exception_handler(Unavailable, unavailable)
    app.add_exception_handler(RPCError, outage)
    app.add_exception_handler(RuntimeError, outage)
    app.add_exception_handler(psycopg.OperationalError, outage)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, internal)


class BodyLimit:
    """Refuses a body over `limit` bytes before anything parses it: by Content-Length when the
    client sends one, and by counting as it streams when it does not (or lies)."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers", [])).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            await self._refuse(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(Problem(
            title="Payload too large", status=413,
            detail=f"Begäran är för stor: högst {self.limit // (1024 * 1024)} MB med bilagor."))
        await response(scope, receive, send)


class _TooLarge(StarletteHTTPException):
    # An HTTPException, so that FastAPI, reading the body, passes it on as it is (any other error
    # there becomes its own 400 "error parsing the body").
    def __init__(self) -> None:
        super().__init__(413)


