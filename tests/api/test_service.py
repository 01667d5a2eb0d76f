"""The service itself: health, its OpenAPI document, and errors as problem+json."""

from __future__ import annotations

from tests.api.conftest import Api


async def test_health_and_readiness_answer_without_signing_in_and_without_data(api: Api) -> None:
    live = await api.http.get("/healthz")
    ready = await api.http.get("/readyz")
    assert (live.status_code, live.json()) == (200, {"status": "ok"})
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"temporal": "ok", "database": "ok"}}


async def test_the_openapi_document_and_the_docs_are_served(api: Api) -> None:
    document = (await api.http.get("/openapi.json")).json()
    assert document["info"]["title"] == "grantflow"
    assert "/healthz" in document["paths"]
    assert (await api.http.get("/docs")).status_code == 200


async def test_an_unknown_address_is_a_problem_in_swedish(api: Api) -> None:
    response = await api.http.get("/finns-inte")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "Det finns ingen sådan adress."


async def test_a_body_over_the_limit_is_refused_before_it_is_read(api: Api) -> None:
    response = await api.http.post("/healthz", content=b"x" * (10 * 1024 * 1024 + 1))
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_body_that_is_not_json_names_the_body_and_where_the_parser_stopped(api: Api) -> None:
    officer = api.token("officer", "anna")
    response = await api.as_(officer, "POST", "/cases/2026-00001/actions/declare-no-conflict", content=b"{inte json",
                             headers={"Content-Type": "application/json"})
    assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json"
    [problem] = response.json()["errors"]
    # The whole body, not "$[1]" (which would be the second element of an array).
    assert problem["field"] == "$" and problem["reason"].startswith("ogiltig JSON: ")
    assert problem["reason"].endswith("(tecken 2)")


async def test_a_body_streamed_without_its_length_is_refused_once_it_grows_over_the_limit(api: Api) -> None:
    async def chunks():  # no Content-Length: the size is only known by counting
        for _ in range(11):
            yield b" " * (1024 * 1024)

    token = api.token("applicant")
    response = await api.http.post("/applications", content=chunks(), headers={
        **api.auth(token), "Content-Type": "application/json"})
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "för stor" in response.json()["detail"]


async def test_temporal_or_the_database_not_answering_is_503_not_a_500(api: Api) -> None:
    from psycopg_pool import AsyncConnectionPool
    from temporalio.client import Client

    officer, applicant = api.token("officer"), api.token("applicant")
    ctx = api.app.state.ctx
    ctx.client = await Client.connect("127.0.0.1:1", lazy=True)  # nothing listens there
    down = await api.as_(officer, "GET", "/cases/2026-00001")
    assert (down.status_code, down.headers["content-type"]) == (503, "application/problem+json"), down.text
    assert down.headers["retry-after"] == "5" and "tillfälligt otillgänglig" in down.json()["detail"]

    closed = AsyncConnectionPool(api.harness.database_url, open=False)
    ctx.pool = closed  # as a pool whose server went away: every borrow fails
    assert (await api.as_(applicant, "GET", "/my/cases")).status_code == 503
