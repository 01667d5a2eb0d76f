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
