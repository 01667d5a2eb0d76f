"""Requests for public documents over HTTP (issue 19, section 4): anyone asks without signing in, the
case registers the request, and nothing the secrecy review ruled secret is ever released."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from api.auth import ApiRole
from api.routes.records import RateLimit
from domain.lifecycle import Stage
from tests.api.conftest import Api
from tests.records_examples import CASES, IDS, LEGAL_GROUND, marked, rulings, secret_texts

OFFICER = "officer:anna"


async def opened(api: Api, file: str, secret: list[str], public: str) -> tuple[str, dict[str, Any]]:
    """A case of the example, in the secrecy review; and the application as submitted."""
    data = marked(file, secret, public)
    call, days = api.harness.call(data["call_id"])
    submitted = api.harness.application(data, call, days)
    number = await api.harness.submit(submitted)
    state = await api.harness.settled(number)
    if state.stage is Stage.COMPLETENESS:  # moved to this year, an example may need the officer's word
        await api.harness.act(number, "accept-for-review", OFFICER)
    assert (await api.harness.settled(number)).stage is Stage.SECRECY_REVIEW
    return number, submitted


async def ask(api: Api, number: str, document: str = "application", **who: str) -> dict[str, Any]:
    response = await api.http.post("/records-requests", json={"case_number": number, "document": document, **who})
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return answer


def assert_nothing_secret(answer: dict[str, Any], data: dict[str, Any], secret: list[str]) -> None:
    text = json.dumps(answer, ensure_ascii=False)
    for secret_text in secret_texts(data, secret):
        assert secret_text not in text, f"released: {secret_text[:60]}"


async def letters(api: Api, number: str, kind: str) -> list[tuple[str | None, str]]:
    await api.harness.settled(number)
    async with api.harness.pool.connection() as conn:
        cursor = await conn.execute("SELECT recipient_email, body FROM letters WHERE case_number = %s AND kind = %s",
                                    (number, kind))
        return list(await cursor.fetchall())


@pytest.mark.parametrize(("file", "when", "secret", "public"), CASES, ids=IDS)
async def test_after_the_review_the_public_version_is_released_at_once_without_any_secret_part(
        api: Api, file: str, when: str, secret: list[str], public: str) -> None:
    number, data = await opened(api, file, secret, public)
    await api.harness.act(number, "record-secrecy-review", OFFICER, rulings=rulings(secret, public))
    answer = await ask(api, number)
    assert answer["status"] == "released" and answer["public_version"] is not None
    assert f"[Sekretess enligt {LEGAL_GROUND}]" in json.dumps(answer["public_version"], ensure_ascii=False)
    assert "6 kap. 7 §" in answer["secrecy_note"]  # the right to a written, appealable decision
    assert_nothing_secret(answer, data, secret)
    again = await api.http.get(f"/records-requests/{number}/{answer['request_id']}")
    assert again.status_code == 200 and again.json() == answer
    second = await ask(api, number)  # the same version again: the same document, not another copy
    assert second["public_version"] == answer["public_version"]
    # Registered in the case's history, and what was released registered as a document of the case.
    await api.harness.settled(number)
    async with api.harness.pool.connection() as conn:
        events = await (await conn.execute(
            "SELECT actor_role FROM case_events WHERE case_number = %s AND event_id = %s",
            (number, answer["request_id"]))).fetchall()
        documents = await (await conn.execute(
            "SELECT content FROM case_documents WHERE case_number = %s AND kind = 'public_release'",
            (number,))).fetchall()
    assert events == [("public",)]
    assert [row[0] for row in documents] == [answer["public_version"]]
    state = await api.harness.state(number)
    assert {answer["request_id"], second["request_id"]}.isdisjoint(state.receipts)  # kept with the requests


async def test_before_the_review_the_request_waits_and_is_released_by_the_officer_after_it(api: Api) -> None:
    file, _, secret, public = CASES[2]
    number, data = await opened(api, file, secret, public)
    answer = await ask(api, number, requester_email="redaktion@tidning.example")
    assert (answer["status"], answer["public_version"]) == ("pending", None)
    assert "requester_email" not in answer
    state = await api.harness.settled(number)
    assert state.records_pending_since is not None and state.next_deadline == state.records_requests[0].deadline
    async with api.harness.pool.connection() as conn:
        [(since,)] = await (await conn.execute(
            "SELECT records_pending_since FROM cases WHERE case_number = %s", (number,))).fetchall()
    assert since == state.records_pending_since

    officer = api.token(ApiRole.OFFICER, "anna")
    url = f"/cases/{number}/actions/release-public-document"
    release = {"request_id": answer["request_id"]}
    early = await api.as_(officer, "POST", url, json=release)
    assert early.status_code == 409 and "Sekretessprövningen" in early.json()["detail"]
    await api.harness.act(number, "record-secrecy-review", OFFICER, rulings=rulings(secret, public))
    assert (await api.http.post(url, json=release)).status_code == 401  # the officer's side needs signing in
    applicant = api.token(ApiRole.APPLICANT, org_number=data["applicant"]["org_number"])
    assert (await api.as_(applicant, "POST", url, json=release)).status_code == 403
    assert (await api.as_(officer, "POST", url, json=release)).status_code == 200

    now = (await api.http.get(f"/records-requests/{number}/{answer['request_id']}")).json()
    assert now["status"] == "released" and now["public_version"] is not None
    assert_nothing_secret(now, data, secret)
    [(email, body)] = await letters(api, number, "records_release")
    assert email == "redaktion@tidning.example"
    for secret_text in secret_texts(data, secret):
        assert secret_text not in body
    assert (await api.harness.state(number)).records_pending_since is None


async def test_a_refusal_is_a_written_decision_with_reasons_and_how_to_appeal(api: Api) -> None:
    file, _, secret, public = CASES[0]
    number, _ = await opened(api, file, secret, public)
    answer = await ask(api, number)  # anonymous: no name, no address
    officer = api.token(ApiRole.OFFICER, "anna")
    refused = await api.as_(officer, "POST", f"/cases/{number}/actions/refuse-public-document",
                            json={"request_id": answer["request_id"],
                                  "reasons": "Hela ansökan rör ett samarbete som ännu inte är offentligt.",
                                  "legal_ground": LEGAL_GROUND})
    assert refused.status_code == 200, refused.text
    now = (await api.http.get(f"/records-requests/{number}/{answer['request_id']}")).json()
    assert (now["status"], now["public_version"]) == ("refused", None)
    assert now["refusal"]["reasons"].startswith("Hela ansökan") and "kammarrätten" in now["refusal"]["appeal"]
    [(email, body)] = await letters(api, number, "records_refusal")
    assert email is None  # kept on file in the outbox
    assert "Beslutet kan överklagas hos kammarrätten. Överklagandet ska ha kommit in till myndigheten inom tre" \
           " veckor från den dag du fick del av beslutet." in body
    assert "Hela ansökan rör" in body and LEGAL_GROUND in body


async def test_an_unknown_case_or_request_is_not_found(api: Api) -> None:
    response = await api.http.post("/records-requests", json={"case_number": "2020-99999", "document": "application"})
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert (await api.http.get("/records-requests/2020-99999/abc")).status_code == 404
    file, _, secret, public = CASES[1]
    number, _ = await opened(api, file, secret, public)
    assert (await api.http.get(f"/records-requests/{number}/finns-inte")).status_code == 404
    assert (await api.http.get(f"/records-requests/{number}/%C3%A5%20x")).status_code == 404
    decision = await api.http.post("/records-requests", json={"case_number": number, "document": "decision"})
    assert decision.status_code == 409 and "inget beslut" in decision.json()["detail"]


@pytest.mark.parametrize(("body", "field"), [
    ({"case_number": "2021-00001", "document": "budget"}, "$.document"),
    ({"document": "application"}, "$.case_number"),
    ({"case_number": "21-1", "document": "application"}, "$.case_number"),
    ({"case_number": "2021-00001", "document": "application", "requester_email": "inte en adress"},
     "$.requester_email"),
    ({"case_number": "2021-00001", "document": "application", "extra": 1}, "$.extra"),
])
async def test_a_bad_body_is_a_problem_naming_the_field(api: Api, body: dict[str, Any], field: str) -> None:
    response = await api.http.post("/records-requests", json=body)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == [field]


async def test_a_closed_case_sends_the_requester_to_the_registry(api: Api) -> None:
    file, _, secret, public = CASES[3]
    number, _ = await opened(api, file, secret, public)
    waiting = await ask(api, number)  # before the secrecy review: it waits
    await api.harness.act(number, "withdraw", "applicant:sokande")
    assert (await api.harness.settled(number)).stage is Stage.CLOSED
    response = await api.http.post("/records-requests", json={"case_number": number, "document": "application"})
    assert response.status_code == 409
    assert "registratur" in response.json()["detail"]
    # The request that waited is not lost: it is handed to the registry, and says so.
    now = (await api.http.get(f"/records-requests/{number}/{waiting['request_id']}")).json()
    assert now["status"] == "referred" and "registratur" in now["status_text"] and now["public_version"] is None
    async with api.harness.pool.connection() as conn:
        [(summary,)] = await (await conn.execute(
            "SELECT summary FROM case_events WHERE case_number = %s AND kind = 'records_request_referred'",
            (number,))).fetchall()
    assert waiting["request_id"] in summary


async def test_a_request_left_unanswered_past_the_day_is_recorded_as_overdue(api: Api) -> None:
    file, _, secret, public = CASES[1]
    number, _ = await opened(api, file, secret, public)
    answer = await ask(api, number)
    await api.harness.settled(number)
    await api.harness.fast_forward(number, timedelta(days=1, hours=1))
    state = await api.harness.settled(number)
    [request] = state.records_requests
    assert request.overdue and request.status.value == "pending"
    assert state.next_deadline is None and state.records_pending_since == request.requested_at
    async with api.harness.pool.connection() as conn:
        kinds = [row[0] for row in await (await conn.execute(
            "SELECT kind FROM case_events WHERE case_number = %s ORDER BY at, event_id", (number,))).fetchall()]
    assert kinds.count("records_request_overdue") == 1
    assert (await api.http.get(f"/records-requests/{number}/{answer['request_id']}")).json()["status"] == "pending"


async def test_the_applicant_sees_neither_the_letters_to_requesters_nor_their_deadline(api: Api) -> None:
    file, _, secret, public = CASES[2]
    number, data = await opened(api, file, secret, public)
    applicant = api.token(ApiRole.APPLICANT, org_number=data["applicant"]["org_number"])
    released = await ask(api, number, requester_email="redaktion@tidning.example")
    refused = await ask(api, number, requester_email="granskning@tidning.example")
    await api.harness.settled(number)
    [mine] = [c for c in (await api.as_(applicant, "GET", "/my/cases")).json() if c["case_number"] == number]
    assert mine["next_deadline"] is None  # the requests' day is the officer's deadline, not the applicant's

    officer = api.token(ApiRole.OFFICER, "anna")
    actions = f"/cases/{number}/actions"
    assert (await api.as_(officer, "POST", f"{actions}/refuse-public-document", json={
        "request_id": refused["request_id"], "reasons": "Ansökan rör ett samarbete som ännu inte är offentligt.",
        "legal_ground": LEGAL_GROUND})).status_code == 200
    await api.harness.act(number, "record-secrecy-review", OFFICER, rulings=rulings(secret, public))
    assert (await api.as_(officer, "POST", f"{actions}/release-public-document",
                          json={"request_id": released["request_id"]})).status_code == 200
    assert len(await letters(api, number, "records_release")) == len(await letters(api, number, "records_refusal")) == 1

    view = (await api.as_(applicant, "GET", f"/cases/{number}")).json()
    assert not [x for x in view["letters"] if x["kind"].startswith("records_")] and view["letters"]
    [mine] = [c for c in (await api.as_(applicant, "GET", "/my/cases")).json() if c["case_number"] == number]
    assert mine["letters"] and not [x for x in mine["letters"] if x["letter_id"].startswith("records_")]
    staff = (await api.as_(officer, "GET", f"/cases/{number}")).json()
    assert {x["kind"] for x in staff["letters"]} >= {"records_release", "records_refusal"}


async def test_too_many_requests_from_one_address_are_refused_with_when_to_try_again(api: Api) -> None:
    api.app.state.records_rate_limit = RateLimit(per_minute=2)
    for _ in range(2):
        assert (await api.http.get("/records-requests/2020-99999/abc")).status_code == 404
    for refused in (await api.http.get("/records-requests/2020-99999/abc"),
                    await api.http.post("/records-requests", json={"case_number": "2020-99999",
                                                                   "document": "application"})):
        assert refused.status_code == 429
        assert refused.headers["content-type"] == "application/problem+json"
        assert 1 <= int(refused.headers["retry-after"]) <= 30
        assert refused.json()["detail"].startswith("För många begäranden")
    paths = (await api.http.get("/openapi.json")).json()["paths"]
    assert "429" in paths["/records-requests"]["post"]["responses"]
    assert "429" in paths["/records-requests/{case_number}/{request_id}"]["get"]["responses"]


def test_the_limit_refills_with_time_per_address() -> None:
    limit = RateLimit(per_minute=60)
    assert all(limit.wait("a", now=0.0) == 0 for _ in range(60))
    assert limit.wait("a", now=0.0) == pytest.approx(1.0) and limit.wait("b", now=0.0) == 0
    assert limit.wait("a", now=1.0) == 0  # one a second comes back
