"""The web's session and forms without a browser: the cookie's flags, CSRF, and one action per rendered form.

An httpx client on the app plays the browser (it keeps cookies); the case runs on the real Temporal dev
server, worker and PostgreSQL.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import AsyncIterator

import httpx
import pytest

from api.web import session
from tests.activities.support import scalar
from tests.api.conftest import Api, serve_api
from tests.api.submitting import (
    EXPORT_2021,
    REGIONAL_2021,
    applicant,
    application_for,
    files_of,
    open_call,
    submit_json,
    submit_multipart,
)
from tests.api.test_case_view import open_case


@pytest.fixture
async def api(db: str) -> AsyncIterator[Api]:
    async for served in serve_api(db):
        yield served


FROM_THE_PAGE = {"Origin": "http://grantflow.test"}  # what a browser sends with the sign-in form


async def a_case(api: Api) -> str:
    call, days = open_call(api, EXPORT_2021)
    data = application_for(api, REGIONAL_2021, call, days)
    response = await submit_json(api, applicant(api, data), data)
    assert response.status_code == 201, response.text
    number: str = response.json()["case_number"]
    await api.harness.settled(number)
    return number


async def browser(api: Api, role: str, person: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=api.app), base_url="http://grantflow.test")
    signed = await client.post("/logga-in", data={"token": api.token(role, person)}, headers=FROM_THE_PAGE)
    assert signed.status_code == 303 and signed.headers["location"] == "/", signed.text
    cookie = signed.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
    assert "secure" not in cookie  # plain http here; Secure when the page is served over https
    return client


def hidden(page: str, form_action: str, name: str) -> str:
    form = page[page.index(f'action="{form_action}"'):]
    found = re.search(rf'name="{name}" value="([^"]*)"', form)
    assert found, (form_action, name)
    return found[1]


async def test_signed_out_pages_lead_to_the_sign_in_and_a_bad_token_is_refused_in_swedish(api: Api) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api.app), base_url="http://grantflow.test") as c:
        for path in ("/", "/utlysningar", "/ekonomi", "/arenden/2026-00001"):
            response = await c.get(path)
            assert response.status_code == 303 and response.headers["location"].startswith("/logga-in"), path
        # Text no HTTP header can carry (typed, or pasted with a stray character) is an invalid token too.
        for typed in ("gf_fel", "gf_åäö", "gf_a\u200bb", "x" * 20000):
            refused = await c.post("/logga-in", data={"token": typed}, headers=FROM_THE_PAGE)
            assert refused.status_code == 401 and "Token är ogiltig" in refused.text, typed[:20]
            assert session.COOKIE not in refused.headers.get("set-cookie", "")
        # A session cookie someone edited to hold such text is no session: the page asks to sign in.
        c.cookies.set(session.COOKIE, '"gf_\\303\\245"')
        edited = await c.get("/")
        assert edited.status_code == 303 and edited.headers["location"].startswith("/logga-in")


async def test_a_sign_in_not_sent_from_this_sites_page_is_refused(api: Api) -> None:
    """Login CSRF: another site's page must not sign the person in as someone else."""
    token = api.token("officer", "anna")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api.app), base_url="http://grantflow.test") as c:
        for headers in ({}, {"Origin": "https://evil.example"}, {"Origin": "null"},
                        {"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"},
                        {"Origin": "https://evil.example", "Sec-Fetch-Site": "same-origin"}):
            refused = await c.post("/logga-in", data={"token": token}, headers=headers)
            assert refused.status_code == 403, headers
            assert "Inloggningen kom inte från den här sidan" in refused.text
            assert session.COOKIE not in refused.headers.get("set-cookie", "")
        for headers in (FROM_THE_PAGE, {"Sec-Fetch-Site": "same-origin"}, {"Sec-Fetch-Site": "none"}):
            signed = await c.post("/logga-in", data={"token": token}, headers=headers)
            assert signed.status_code == 303 and session.COOKIE in signed.headers["set-cookie"], headers


async def test_a_form_sent_twice_is_one_action_and_a_form_without_its_csrf_token_is_none(api: Api) -> None:
    number = await a_case(api)
    officer = await browser(api, "officer", "anna")
    try:
        page = (await officer.get(f"/arenden/{number}")).text
        target = f"/arenden/{number}/record-secrecy-review"
        csrf, key = hidden(page, target, "csrf"), hidden(page, target, "idempotency_key")

        # Without the CSRF token, or from another site's page: refused, and the case is untouched.
        assert (await officer.post(target, data={"idempotency_key": key})).status_code == 403
        assert (await officer.post(target, data={"csrf": "0" * 64, "idempotency_key": key})).status_code == 403
        other_site = await officer.post(target, data={"csrf": csrf, "idempotency_key": key},
                                        headers={"Origin": "https://elak.example"})
        assert other_site.status_code == 403
        assert (await api.as_(api.token("officer", "anna"), "GET", f"/cases/{number}")).json()["stage"] == \
            "secrecy_review"

        # The same rendered form twice (a double click): one action, both answered with its receipt.
        first = await officer.post(target, data={"csrf": csrf, "idempotency_key": key})
        again = await officer.post(target, data={"csrf": csrf, "idempotency_key": key})
        assert first.status_code == again.status_code == 303
        assert first.headers["location"] == again.headers["location"]
        await api.harness.settled(number)
        history = (await api.as_(api.token("auditor", "revisor"), "GET", f"/cases/{number}/history")).json()
        assert [e["kind"] for e in history["events"]].count("RecordSecrecyReview") == 1

        # Another form for the same step, now that the case has moved on: the case's reason, in Swedish.
        late = await officer.post(target, data={"csrf": csrf, "idempotency_key": "ny-nyckel"})
        assert late.status_code == 409 and "Bedömning" in late.text

        # An action the officer's role does not have is the API's 403, shown on the page.
        decide = await officer.post(f"/arenden/{number}/decide", data={"csrf": csrf})
        assert decide.status_code == 403 and "Din roll får inte göra detta." in decide.text

        # Signing out forgets the session.
        out = await officer.post("/logga-ut", data={"csrf": csrf})
        assert out.status_code == 303 and session.COOKIE in out.headers["set-cookie"]
        assert (await officer.get("/")).status_code == 303
    finally:
        await officer.aclose()


def _criteria(page: str, number: str) -> list[str]:
    form = page[page.index(f'action="/arenden/{number}/score"'):]
    form = form[:form.index("</form>")]
    return re.findall(r'name="scores\.\d+\.criterion" value="([^"]*)"', form)


async def test_a_field_the_api_refuses_is_named_beside_it_and_keeps_what_was_typed(api: Api) -> None:
    number = await a_case(api)
    officer = await browser(api, "officer", "anna")
    try:
        page = (await officer.get(f"/arenden/{number}")).text
        csrf = hidden(page, f"/arenden/{number}/record-secrecy-review", "csrf")
        assert (await officer.post(f"/arenden/{number}/record-secrecy-review", data={"csrf": csrf})).status_code == 303
        assert (await officer.post(f"/arenden/{number}/declare-no-conflict", data={"csrf": csrf})).status_code == 303
        page = (await officer.get(f"/arenden/{number}")).text
        criterion = hidden(page, f"/arenden/{number}/score", "scores.0.criterion")
        first_key = hidden(page, f"/arenden/{number}/score", "idempotency_key")
        sent = await officer.post(f"/arenden/{number}/score", data={
            "csrf": csrf, "idempotency_key": first_key, "scores.0.score": "mycket",
            "scores.0.motivation": "Bra, men poängen är ett ord."})
        assert sent.status_code == 422
        beside = re.search(r'id="f-scores-0-score-fel">([^<]+)<', sent.text)
        assert beside and "heltal" in beside[1], sent.text[:2000]
        assert 'value="mycket"' in sent.text and "Bra, men poängen är ett ord." in sent.text
        assert f'value="{criterion}"' in sent.text
        # Corrected, the form goes as a new action: the refused one's key would get the refusal back.
        second_key = hidden(sent.text, f"/arenden/{number}/score", "idempotency_key")
        assert second_key != first_key
        scores = {f"scores.{i}.{part}": value for i, c in enumerate(_criteria(sent.text, number))
                  for part, value in (("criterion", c), ("score", "4"), ("motivation", "Väl motiverat."))}
        corrected = await officer.post(f"/arenden/{number}/score", data={
            "csrf": csrf, "idempotency_key": second_key, **scores})
        assert corrected.status_code == 303, corrected.text[:2000]
    finally:
        await officer.aclose()


async def test_the_applications_attachments_are_listed_and_downloaded_through_the_api(api: Api) -> None:
    call, days = open_call(api, EXPORT_2021)
    data = application_for(api, REGIONAL_2021, call, days)
    files = files_of(data)
    response = await submit_multipart(api, applicant(api, data), data, files)
    assert response.status_code == 201, response.text
    number = response.json()["case_number"]
    await api.harness.settled(number)
    officer = await browser(api, "officer", "anna")
    try:
        page = (await officer.get(f"/arenden/{number}")).text
        name, content = files[0][1][0], files[0][1][1]
        assert f'href="/arenden/{number}/bilagor/0" download>{name}<' in page
        download = await officer.get(f"/arenden/{number}/bilagor/0")
        assert download.status_code == 200 and download.content == content
        assert download.headers["content-disposition"].startswith("attachment")
    finally:
        await officer.aclose()


async def readings(api: Api, number: str) -> int:
    return int(await scalar(api.harness.pool, "SELECT count(*) FROM secret_readings WHERE case_number = %s",
                            (number,)))


async def test_only_a_page_that_shows_the_secret_marked_parts_logs_a_reading(api: Api) -> None:
    number = await open_case(api)  # a case with a section the applicant marked as a business secret
    assert await readings(api, number) == 0
    officer = await browser(api, "officer", "anna")
    try:
        page = (await officer.get(f"/arenden/{number}")).text
        assert await readings(api, number) == 1  # the case page, which shows the marked section
        target = f"/arenden/{number}/record-secrecy-review"
        csrf = hidden(page, target, "csrf")

        # Refused (no reason given): the case page is shown again with the form, and that is one reading.
        refused = await officer.post(target, data={"csrf": csrf, "rulings.0.secret": "true"})
        assert refused.status_code == 422 and "Metoden är vår affärshemlighet." in refused.text
        assert await readings(api, number) == 2

        # Taken: an answer that shows nothing of the case, and no reading; the page it leads to is one.
        taken = await officer.post(target, data={"csrf": csrf, "rulings.0.secret": "true",
                                                 "rulings.0.legal_ground": "OSL 30 kap. 23 §",
                                                 "rulings.0.reason": "Skulle skada bolaget."})
        assert taken.status_code == 303, taken.text
        assert await readings(api, number) == 2
        await api.harness.settled(number)
        assert (await officer.get(taken.headers["location"])).status_code == 200
        assert await readings(api, number) == 3
    finally:
        await officer.aclose()


async def test_a_receipt_is_the_actions_own_and_never_text_from_the_address(api: Api) -> None:
    number = await a_case(api)
    spoof = "Beviljat 1 000 000 kr. Ring 070-123 45 67 för utbetalning."
    officer, finance = await browser(api, "officer", "anna"), await browser(api, "finance", "ekonomen")
    try:
        page = await officer.get(f"/arenden/{number}", params={"klart": spoof})
        assert page.status_code == 200 and "Ring 070" not in page.text and 'data-testid="receipt"' not in page.text
        money = await finance.get("/ekonomi", params={"klart": spoof})
        assert money.status_code == 200 and "Ring 070" not in money.text

        csrf = hidden(page.text, f"/arenden/{number}/record-secrecy-review", "csrf")
        taken = await officer.post(f"/arenden/{number}/record-secrecy-review", data={"csrf": csrf})
        assert taken.status_code == 303 and taken.headers["location"] == f"/arenden/{number}#handelser"
        shown = await officer.get(f"/arenden/{number}")
        assert 'data-testid="receipt"' in shown.text
        assert 'data-testid="receipt"' not in (await officer.get(f"/arenden/{number}")).text  # shown once

        # A receipt cookie not signed for this session (or for another page) is no receipt.
        forged = json.dumps([f"/arenden/{number}", spoof, "0" * 64]).encode()
        officer.cookies.set(session.RECEIPT, base64.urlsafe_b64encode(forged).decode())
        assert "Ring 070" not in (await officer.get(f"/arenden/{number}")).text
    finally:
        await officer.aclose()
        await finance.aclose()


async def test_a_crafted_view_in_the_inbox_address_is_not_carried_into_its_links(api: Api) -> None:
    officer = await browser(api, "officer", "anna")
    try:
        page = await officer.get("/", params={"urval": "mina&steg=closed&evil=1"})
        assert page.status_code == 200
        assert "evil" not in page.text and 'name="urval"' not in page.text
        mine = await officer.get("/", params={"urval": "mina"})
        assert 'name="urval" value="mina"' in mine.text
    finally:
        await officer.aclose()
