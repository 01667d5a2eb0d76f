"""Applicants submit through the API: both calls' examples as JSON and with their attachments, retries
that give the same case, only for their own organisation, and their own cases only in /my/cases."""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import re
from datetime import UTC, datetime, timedelta

from activities.attachments import attachment_content, case_attachments
from activities.register import list_cases
from tests.api.conftest import Api
from tests.api.submitting import (
    DIGITAL_2022,
    EXPORT_2021,
    REGIONAL_2021,
    SCIENCE_PARK_2022,
    applicant,
    application_for,
    files_of,
    open_call,
    submit_json,
    submit_multipart,
)

CASE_NUMBER = re.compile(r"[0-9]{4}-[0-9]{5}")


async def cases_in_register(api: Api) -> list[str]:
    return [row.case_number for row in await list_cases(api.harness.pool)]


async def test_both_calls_examples_are_submitted_as_json_and_answered_with_case_number_findings_and_receipt(
        api: Api) -> None:
    for seed, path in ((EXPORT_2021, REGIONAL_2021), (DIGITAL_2022, SCIENCE_PARK_2022)):
        call, days = open_call(api, seed)
        data = application_for(api, path, call, days)
        before = datetime.now(UTC)
        response = await submit_json(api, applicant(api, data), data)
        assert response.status_code == 201, response.text
        body = response.json()
        assert CASE_NUMBER.fullmatch(body["case_number"])
        assert before - timedelta(seconds=5) <= datetime.fromisoformat(body["received_at"]) <= datetime.now(UTC)
        assert body["eligible"] is True, body["findings"]
        assert body["attachments"] == []  # sent as JSON: the form names its files by their hashes only
        state = await api.harness.settled(body["case_number"])
        assert state.application.applicant.org_number == data["applicant"]["org_number"]
        assert state.call.id == call.id
    assert len(await cases_in_register(api)) == 2


async def test_an_ineligible_application_is_registered_with_its_findings_in_swedish(api: Api) -> None:
    call, days = open_call(api, DIGITAL_2022)
    data = application_for(api, f"{DIGITAL_2022}/ineligible-sokt-belopp-under-300-tkr.json", call, days)
    response = await submit_json(api, applicant(api, data), data)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["eligible"] is False
    below = [f for f in body["findings"] if f["rule"] == "SD22-AMOUNT-MIN"]
    assert below and below[0]["severity"] == "error" and "lägsta belopp" in below[0]["message"]
    assert await cases_in_register(api) == [body["case_number"]]  # as `grantflow submit`: the officer decides


async def test_attachments_sent_with_the_form_are_checked_against_their_hashes_and_stored(api: Api) -> None:
    call, days = open_call(api, EXPORT_2021)
    data = application_for(api, REGIONAL_2021, call, days)
    token = applicant(api, data)
    files = files_of(data)

    # One file changed, one left out, one the form does not name: each said, and nothing registered.
    wrong = copy.deepcopy(files)
    name1 = data["attachments"][1]["name"]
    wrong[1] = ("files", (name1, b"another content", "application/pdf"))
    wrong.pop(2)
    wrong.append(("files", ("Semesterbild.jpg", b"jpeg", "image/jpeg")))
    response = await submit_multipart(api, token, data, wrong)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    errors = {e["field"]: e["reason"] for e in response.json()["errors"]}
    assert set(errors) == {"$.attachments[1].sha256", "$.attachments[2]", "$.attachments"}
    assert hashlib.sha256(b"another content").hexdigest() in errors["$.attachments[1].sha256"]
    assert data["attachments"][2]["name"] in errors["$.attachments[2]"]
    assert "Semesterbild.jpg" in errors["$.attachments"]
    assert await cases_in_register(api) == []

    response = await submit_multipart(api, token, data, files)
    assert response.status_code == 201, response.text
    body = response.json()
    assert [(a["name"], a["sha256"], a["size"]) for a in body["attachments"]] == [
        (a["name"], a["sha256"], len(a["name"].encode())) for a in data["attachments"]]
    stored = await case_attachments(api.harness.pool, body["case_number"])
    assert [(s.position, s.name, s.sha256, s.media_type) for s in stored] == [
        (i, a["name"], a["sha256"], "application/pdf") for i, a in enumerate(data["attachments"])]
    assert await attachment_content(api.harness.pool, body["case_number"], 3) == data["attachments"][3]["name"].encode()

    # Staff and the applicant list and download them as they came; nobody else reaches them.
    number = body["case_number"]
    officer = api.token("officer", "anna")
    listed = await api.as_(officer, "GET", f"/cases/{number}/attachments")
    assert [(a["position"], a["name"], a["sha256"]) for a in listed.json()] == [
        (i, a["name"], a["sha256"]) for i, a in enumerate(data["attachments"])]
    for who in (officer, token):
        got = await api.as_(who, "GET", f"/cases/{number}/attachments/3")
        assert (got.status_code, got.content) == (200, data["attachments"][3]["name"].encode())
        assert got.headers["content-type"] == "application/pdf" and got.headers["x-content-type-options"] == "nosniff"
        assert got.headers["content-disposition"].startswith("attachment; filename*=UTF-8''")
    stranger = api.token("applicant", org_number="556912-3408")
    assert (await api.as_(stranger, "GET", f"/cases/{number}/attachments/3")).status_code == 404
    assert (await api.as_(stranger, "GET", f"/cases/{number}/attachments")).status_code == 404
    assert (await api.as_(officer, "GET", f"/cases/{number}/attachments/99")).status_code == 404
    assert (await api.as_(officer, "GET", f"/cases/{number}/attachments/x")).status_code == 422


async def test_the_2022_example_with_its_attachments_in_any_order(api: Api) -> None:
    call, days = open_call(api, DIGITAL_2022)
    data = application_for(api, SCIENCE_PARK_2022, call, days)
    response = await submit_multipart(api, applicant(api, data), data, list(reversed(files_of(data))))
    assert response.status_code == 201, response.text
    stored = await case_attachments(api.harness.pool, response.json()["case_number"])
    assert [s.name for s in stored] == [a["name"] for a in data["attachments"]]


async def test_a_submission_sent_again_with_its_key_gives_the_same_case_never_a_second(api: Api) -> None:
    call, days = open_call(api, EXPORT_2021)
    data = application_for(api, REGIONAL_2021, call, days)
    token = applicant(api, data)
    # Sent twice at once (a client that timed out and retried), then again.
    first, again = await asyncio.gather(*(submit_multipart(api, token, data, files_of(data), key="e-tjanst-4711")
                                          for _ in range(2)))
    as_json = await submit_json(api, token, data, key="e-tjanst-4711")
    assert (first.status_code, again.status_code, as_json.status_code) == (201, 201, 201)
    number = first.json()["case_number"]
    assert again.json()["case_number"] == as_json.json()["case_number"] == number
    assert again.json()["received_at"] == first.json()["received_at"]
    assert await cases_in_register(api) == [number]
    assert len(await case_attachments(api.harness.pool, number)) == len(data["attachments"])

    # The same key for another application is a mistake, not a way to reach the first case's answer.
    other = copy.deepcopy(data)
    other["requested_amount"] = "500000.00"
    reused = await submit_json(api, token, other, key="e-tjanst-4711")
    assert reused.status_code == 422
    assert [e["field"] for e in reused.json()["errors"]] == ["Idempotency-Key"]
    # Whatever the difference: here only the project's title.
    retitled = copy.deepcopy(data)
    retitled["project"]["title"] += " (ny version)"
    assert (await submit_json(api, token, retitled, key="e-tjanst-4711")).status_code == 422
    # Another organisation's key of the same text is its own.
    region_2022, days_2022 = open_call(api, DIGITAL_2022)
    theirs = application_for(api, SCIENCE_PARK_2022, region_2022, days_2022)
    response = await submit_json(api, applicant(api, theirs), theirs, key="e-tjanst-4711")
    assert response.status_code == 201 and response.json()["case_number"] != number
    assert len(await cases_in_register(api)) == 2


async def test_only_an_applicant_of_the_forms_own_organisation_may_submit(api: Api) -> None:
    call, days = open_call(api, EXPORT_2021)
    data = application_for(api, REGIONAL_2021, call, days)
    other_org = api.token("applicant", org_number="556843-2156")
    response = await submit_json(api, other_org, data)
    assert response.status_code == 403
    assert [e["field"] for e in response.json()["errors"]] == ["$.applicant.org_number"]
    assert (await submit_json(api, api.token("applicant"), data)).status_code == 403  # bound to no organisation
    assert (await submit_json(api, api.token("officer"), data)).status_code == 403
    assert (await api.http.post("/applications", json=data)).status_code == 401
    # The same organisation, its number written another way (with the century prefix, no hyphen).
    digits = data["applicant"]["org_number"].replace("-", "")
    response = await submit_json(api, api.token("applicant", org_number=f"16{digits}"), data)
    assert response.status_code == 201, response.text
    assert len(await cases_in_register(api)) == 1


async def test_bad_input_is_a_problem_naming_the_field_never_a_500(api: Api) -> None:
    call, days = open_call(api, EXPORT_2021)
    data = application_for(api, REGIONAL_2021, call, days)
    token = applicant(api, data)

    async def problem(response_status: int, *args: object, **kwargs: object) -> list[str]:
        response = await api.as_(token, "POST", "/applications", *args, **kwargs)  # type: ignore[arg-type]
        assert response.status_code == response_status, response.text
        assert response.headers["content-type"] == "application/problem+json"
        return [e["field"] for e in response.json()["errors"]]

    assert await problem(422, content=b"{not json", headers={"Content-Type": "application/json"}) == ["$"]
    missing = {k: v for k, v in data.items() if k != "project"}
    assert await problem(422, json=missing) == ["$.project"]
    typo = {**data, "requested_amount": "sexhundratusen"}
    assert await problem(422, json=typo) == ["$.requested_amount"]
    assert await problem(422, json={**data, "call_id": "finns-inte"}) == ["call_id"]
    assert await problem(422, json=data, headers={"Idempotency-Key": "med mellanslag"}) == ["Idempotency-Key"]
    assert await problem(415, content=b"hej", headers={"Content-Type": "text/plain"}) == ["Content-Type"]
    assert await problem(422, files=files_of(data)) == ["application"]
    assert await problem(422, data={"application": "{"}, files=files_of(data)) == ["$"]
    assert await problem(413, json={"padding": "x" * (10 * 1024 * 1024)}) == []
    too_large = [("files", ("stor.pdf", b"\0" * (10 * 1024 * 1024), "application/pdf"))]
    assert await problem(413, data={"application": json.dumps(data)}, files=too_large) == []
    assert await cases_in_register(api) == []


async def test_my_cases_are_my_organisations_own_with_stage_deadline_and_letters(api: Api) -> None:
    call, days = open_call(api, EXPORT_2021)
    ours = application_for(api, REGIONAL_2021, call, days)
    theirs = application_for(api, f"{EXPORT_2021}/eligible-nationell-bredd-av-smaforetag.json", call, days)
    mine = applicant(api, ours)
    # The second without its change-logic appendix: it waits for completion.
    incomplete = {**ours, "attachments": [a for a in ours["attachments"] if a["kind"] != "change_logic"]}
    numbers = [(await submit_json(api, mine, data)).json()["case_number"] for data in (ours, incomplete)]
    other = (await submit_json(api, applicant(api, theirs), theirs)).json()["case_number"]
    for number in [*numbers, other]:
        await api.harness.settled(number)

    response = await api.as_(mine, "GET", "/my/cases")
    assert response.status_code == 200, response.text
    listed = response.json()
    assert [c["case_number"] for c in listed] == numbers
    first = listed[0]
    assert first["stage"] == "secrecy_review" and first["stage_label"] == "Sekretessprövning"
    assert first["subject"] == ours["project"]["title"]
    assert first["requested_amount"] == "630000.00"
    assert "next_deadline" in first
    assert first["letters"] and all(letter["subject"] and letter["date"] for letter in first["letters"])

    assert listed[1]["stage"] == "completeness" and listed[1]["stage_label"] == "Komplettering och behörighet"

    # A request for completion gives the case a deadline the applicant sees, and a letter.
    await api.harness.act(numbers[1], "request-completion", "officer:anna", missing=["Bilaga om förändringslogik"])
    await api.harness.settled(numbers[1])
    second = (await api.as_(mine, "GET", "/my/cases")).json()[1]
    assert second["next_deadline"] is not None
    assert len(second["letters"]) == len(listed[1]["letters"]) + 1

    theirs_listed = (await api.as_(applicant(api, theirs), "GET", "/my/cases")).json()
    assert [c["case_number"] for c in theirs_listed] == [other]
    nobody = api.token("applicant", org_number="802611-4572")
    assert (await api.as_(nobody, "GET", "/my/cases")).json() == []
    assert (await api.as_(api.token("officer"), "GET", "/my/cases")).status_code == 403
