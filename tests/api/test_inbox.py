"""GET /inbox: the register as officers work through it, over HTTP, with real cases and with many written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from activities.register import CaseSnapshot, Register, RegisterApplication, RegisterWrite
from api.auth import ApiRole
from domain.inbox import Deadline, DeadlineKind
from domain.lifecycle import Stage
from tests.api.conftest import Api
from tests.factories import application_2021
from tests.web.test_session_and_forms import browser
from tests.workflows.test_case_workflow import OFFICER

NOW = datetime.now(UTC).replace(microsecond=0)


async def write_case(api: Api, i: int, *, stage: Stage = Stage.ASSESSMENT, officer: str | None = None,
                     deadlines: list[Deadline] = (), amount: str = "100000.00", name: str = "Region Exempel",
                     title: str = "Projekt") -> str:
    """A case put in the register as the case workflows put it there."""
    register = Register(api.harness.pool)
    registered = await register.register_application(RegisterApplication(
        submission_id=f"written-{i}", call_id="inbox-test-call", received_at=NOW - timedelta(days=30), imported=False,
        sender_name=name, sender_org_number=None, subject=title, requested_amount=Decimal(amount)))
    ordered = sorted(deadlines, key=lambda d: d.at)
    await register.write(RegisterWrite(case_number=registered.case_number, snapshot=CaseSnapshot(
        case_number=registered.case_number, stage=stage, officer=officer, deadlines=ordered,
        deadline_at=ordered[0].at if ordered else None, deadline_kind=ordered[0].kind if ordered else None)))
    return registered.case_number


async def inbox(api: Api, token: str, **params: object):
    response = await api.as_(token, "GET", "/inbox", params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def test_real_cases_show_their_stage_officer_and_deadline(api: Api) -> None:
    harness = api.harness
    call, days = harness.call("export-samverkan-2021")
    incomplete = application_2021()
    incomplete["co_applicants"] = []
    waiting = await harness.submit(harness.application(incomplete, call, days))
    assessed = await harness.submit(harness.application(application_2021(), call, days))
    await harness.settled(waiting)
    await harness.act(waiting, "request-completion", OFFICER, missing=["En medsökande aktör"], reply_days=14)
    await harness.settled(assessed)
    await harness.act(assessed, "record-secrecy-review", OFFICER, rulings=[])
    await harness.act(assessed, "declare-no-conflict", OFFICER)
    state = await harness.settled(waiting)
    await harness.settled(assessed)

    anna = api.token(ApiRole.OFFICER, "anna")
    page = await inbox(api, anna)
    by_number = {c["case_number"]: c for c in page["cases"]}
    assert set(by_number) == {waiting, assessed}
    # The case waiting on the applicant's reply comes first: it has a deadline, the other has none.
    assert [c["case_number"] for c in page["cases"]] == [waiting, assessed]
    first = by_number[waiting]
    assert first["stage"] == "completeness" and first["stage_label"] == "Komplettering och behörighet"
    assert first["next_deadline"] == {"kind": "completion_reply", "label": "Svar på begäran om komplettering",
                                      "at": state.completion.deadline.isoformat().replace("+00:00", "Z"),
                                      "overdue": False}
    assert first["title"] == state.application.project.title
    assert first["applicant_name"] == state.application.applicant.name
    assert Decimal(first["requested_amount"]) == state.application.requested_amount
    assert first["overdue"] == [] and first["officer"] is None
    assert by_number[assessed]["officer"] == "anna" and by_number[assessed]["stage"] == "assessment"

    mine = await inbox(api, anna, officer="me")
    assert [c["case_number"] for c in mine["cases"]] == [assessed]
    assert {c["stage"]: c["count"] for c in mine["counts"] if c["count"]} == {"assessment": 1}
    erik = api.token(ApiRole.OFFICER, "erik")
    assert (await inbox(api, erik, officer="me"))["cases"] == []

    word = state.application.project.title.split()[0][:4]
    assert {c["case_number"] for c in (await inbox(api, anna, q=word))["cases"]} == {waiting, assessed}
    assert (await inbox(api, anna, q="ingetsådantord"))["cases"] == []
    only = await inbox(api, anna, stage="completeness", call=call.id)
    assert [c["case_number"] for c in only["cases"]] == [waiting] and only["total"] == 1
    assert {c["stage"]: c["count"] for c in only["counts"] if c["count"]} == {"completeness": 1, "assessment": 1}


async def test_filters_order_paging_and_overdue_over_many_cases(api: Api) -> None:
    kinds = [k for k in DeadlineKind if k is not DeadlineKind.RECORDS_REQUEST]
    stages = [Stage.COMPLETENESS, Stage.ASSESSMENT, Stage.PAYMENTS]
    numbers: dict[int, str] = {}
    for i in range(40):
        at = NOW + timedelta(hours=(i % 10) * 24 - 100)  # days -4 .. +5 around now
        deadlines = [Deadline(kind=kinds[i % len(kinds)], at=at)] if i % 4 else []
        numbers[i] = await write_case(
            api, i, stage=stages[(i // 2) % 3],
            officer=["anna", "erik", None][i % 3 if i % 5 else 2], deadlines=deadlines,
            amount=f"{(i + 1) * 10000}.00", name="Klustret i Norr" if i % 2 else "Region Exempel",
            title=f"Vätgas {i}" if i % 7 == 0 else f"Turism {i}")
    # A records request waits on one case: it goes first (written as the records requests' path will).
    async with api.harness.pool.connection() as conn:
        await conn.execute("UPDATE cases SET records_pending_since = %s WHERE case_number = %s",
                           (NOW - timedelta(days=3), numbers[39]))
    token = api.token(ApiRole.DECISION_MAKER)

    # Paging with a cursor: every case once, nearest deadline first, the records request before all.
    seen: list[dict] = []
    params: dict[str, object] = {"limit": 7}
    while True:
        page = await inbox(api, token, **params)
        seen += page["cases"]
        assert len(page["cases"]) <= 7
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert len(seen) == len({c["case_number"] for c in seen}) == 40
    assert seen[0]["case_number"] == numbers[39]
    assert seen[0]["next_deadline"]["kind"] == "records_request" and "records_request" in seen[0]["overdue"]
    rest = [c["next_deadline"]["at"] if c["next_deadline"] else "~" for c in seen[1:]]
    assert rest == sorted(rest)
    assert seen[-1]["next_deadline"] is None

    overdue = await inbox(api, token, overdue="true", limit=200)
    assert overdue["cases"] and all(c["overdue"] for c in overdue["cases"])
    assert {c["case_number"] for c in overdue["cases"]} == {c["case_number"] for c in seen if c["overdue"]}
    soon = await inbox(api, token, due_within_days=2, limit=200)
    assert soon["cases"] and all(not c["overdue"] and c["next_deadline"]["at"] <= (
        NOW + timedelta(days=2)).isoformat().replace("+00:00", "Z") for c in soon["cases"])
    amounts = await inbox(api, token, min_amount="100000", max_amount="150000", limit=200)
    assert sorted(Decimal(c["requested_amount"]) for c in amounts["cases"]) == [
        Decimal(n * 10000) for n in range(10, 16)]
    text = await inbox(api, token, q="vätgas norr", limit=200)
    assert {c["case_number"] for c in text["cases"]} == {numbers[i] for i in (7, 21, 35)}
    erik = await inbox(api, token, officer="erik", stage=["completeness", "payments"], limit=200)
    ours = [i for i in range(40) if i % 5 and i % 3 == 1]
    assert {c["case_number"] for c in erik["cases"]} == {numbers[i] for i in ours if (i // 2) % 3 != 1}
    # The counts follow the officer filter, not the stage's.
    assert {c["stage"]: c["count"] for c in erik["counts"]} == {
        s.value: len([i for i in ours if stages[(i // 2) % 3] is s]) for s in Stage}
    assert erik["total"] == len(erik["cases"])


async def test_bad_filters_are_problems_naming_the_field(api: Api) -> None:
    token = api.token(ApiRole.OFFICER)
    for params, field in [
        ({"limit": 0}, "limit"), ({"limit": 201}, "limit"), ({"min_amount": "-1"}, "min_amount"),
        ({"min_amount": "tio"}, "min_amount"), ({"min_amount": "200", "max_amount": "100"}, "max_amount"),
        ({"stage": "klar"}, "stage.0"), ({"cursor": "inte-en-markör"}, "cursor"), ({"cursor": "W10"}, "cursor"),
        ({"q": "!!!"}, "q"), ({"due_within_days": 0}, "due_within_days"), ({"overdue": "kanske"}, "overdue"),
        ({"overdue": "true", "due_within_days": 3}, "due_within_days"), ({"officer": "an na"}, "officer"),
        ({"sort": "name"}, "sort"), ({"call": "a\x00b"}, "call"), ({"q": "Anna\x00"}, "q"),
    ]:
        response = await api.as_(token, "GET", "/inbox", params=params)
        assert response.status_code == 422, (params, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert [e["field"] for e in problem["errors"]] == [field], (params, problem)
        assert problem["errors"][0]["reason"] and problem["detail"]


async def test_only_staff_who_work_with_cases_see_the_inbox(api: Api) -> None:
    assert (await api.http.get("/inbox")).status_code == 401
    for role in (ApiRole.APPLICANT, ApiRole.OPERATIONS):
        response = await api.as_(api.token(role), "GET", "/inbox")
        assert response.status_code == 403, role
    for role in (ApiRole.OFFICER, ApiRole.DECISION_MAKER, ApiRole.FINANCE, ApiRole.AUDITOR, ApiRole.ADMINISTRATOR):
        assert (await api.as_(api.token(role), "GET", "/inbox")).status_code == 200, role


async def test_a_case_with_a_records_request_waiting_tops_the_inbox(api: Api) -> None:
    from tests.api.test_records_requests import ask, opened
    from tests.records_examples import CASES

    file, _, secret, public = CASES[2]
    quiet, _ = await opened(api, file, secret, public)
    asked, _ = await opened(api, file, secret, public)
    answer = await ask(api, asked)  # before the secrecy review: it waits for the officer
    assert answer["status"] == "pending"
    state = await api.harness.settled(asked)
    await api.harness.settled(quiet)

    page = await inbox(api, api.token(ApiRole.OFFICER, "anna"))
    assert [c["case_number"] for c in page["cases"]] == [asked, quiet]
    top = page["cases"][0]
    assert top["records_pending_since"] == state.records_pending_since.isoformat().replace("+00:00", "Z")
    assert top["next_deadline"]["kind"] == "records_request" and top["overdue"] == []


async def test_the_cases_with_a_records_request_waiting_are_a_filter_of_their_own(api: Api) -> None:
    numbers = [await write_case(api, 100 + i, deadlines=[Deadline(kind=DeadlineKind.FINAL_REPORT, at=NOW)])
               for i in range(4)]
    async with api.harness.pool.connection() as conn:
        for number, days in ((numbers[1], 1), (numbers[3], 2), (numbers[2], 5)):
            await conn.execute("UPDATE cases SET records_pending_since = %s WHERE case_number = %s",
                               (NOW - timedelta(days=days), number))
    token = api.token(ApiRole.OFFICER)
    seen: list[dict] = []
    params: dict[str, object] = {"records_pending": "true", "limit": 1}
    while True:  # page by page: every waiting request, the oldest first
        page = await inbox(api, token, **params)
        seen += page["cases"]
        assert page["total"] == 3
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert [c["case_number"] for c in seen] == [numbers[2], numbers[3], numbers[1]]

    # The web's records queue is the same list, however long the inbox.
    officer = await browser(api, "officer", "anna")
    try:
        queue = (await officer.get("/allmanna-handlingar")).text
        assert all(n in queue for n in (numbers[1], numbers[2], numbers[3])) and numbers[0] not in queue
    finally:
        await officer.aclose()
