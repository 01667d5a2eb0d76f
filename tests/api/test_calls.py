"""The call overview for staff: applications and amounts against the budget, the ranking with its scores,
what was granted and what was paid."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from tests.api.conftest import Api
from tests.api.submitting import EXPORT_2021, open_call
from tests.factories import application_2021
from tests.workflows.test_after_decision import BANKGIRO, today
from tests.workflows.test_case_workflow import DECIDER, OFFICER, assess
from workflows.call import CallWorkflow, call_workflow_id


async def overview(api: Api, token: str, call_id: str) -> dict[str, Any]:
    response = await api.as_(token, "GET", f"/calls/{call_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_calls_figures_ranking_grants_and_payments(api: Api) -> None:
    officer, finance = api.token("officer"), api.token("finance")
    call, days = open_call(api, EXPORT_2021, budget="1000000.00")
    harness = api.harness
    numbers = [await harness.submit(harness.application(application_2021(), call, days)) for _ in range(3)]
    await assess(harness, numbers[0], score=5)
    await assess(harness, numbers[1], score=3)
    await harness.settled(numbers[2])

    for _ in range(100):
        before = await overview(api, officer, call.id)
        if len(before["ranking"]) == 2:
            break
        await asyncio.sleep(0.05)  # polling for the cases' news to reach the call, not for a timer
    assert (before["id"], before["title"], before["closes"]) == (call.id, call.title, call.window.closes.isoformat())
    assert before["closed"] is False
    assert (before["applications"], before["requested"], before["budget"]) == (3, "1710000.00", "1000000.00")
    assert (before["granted"], before["remaining"], before["ordered"], before["paid"]) == (
        "0.00", "1000000.00", "0.00", "0.00")
    # Scored, not yet ranked: the call ranks once it has closed and every case in the running is assessed.
    assert [(c["case_number"], c["score"], c["rank"], c["in_running"]) for c in before["ranking"]] == [
        (numbers[0], 25, None, True), (numbers[1], 15, None, True)]  # the sum over the call's five criteria

    # The best is granted 400 000 kr with an advance of 100 000 kr, which finance sends to the bank.
    start = today()
    await harness.act(numbers[0], "prepare-decision", OFFICER, kind="approve", amount="400000.00",
                      period_start=start.isoformat(), period_end=(start + timedelta(days=60)).isoformat(),
                      final_report_due=(start + timedelta(days=90)).isoformat(), advance="100000.00",
                      advance_reasons="Sökanden saknar likviditet att ligga ute med kostnaderna.",
                      payee_bankgiro=BANKGIRO)
    await harness.act(numbers[0], "decide", DECIDER)
    await harness.settled(numbers[0])
    for _ in range(100):
        granted = await overview(api, finance, call.id)
        if granted["ordered"] == "100000.00" and not granted["ranking"][0]["in_running"]:
            break
        await asyncio.sleep(0.05)  # polling for the worker's payout and the call's news, not for a timer
    assert (granted["granted"], granted["remaining"], granted["ordered"], granted["paid"]) == (
        "400000.00", "600000.00", "100000.00", "0.00")
    assert (await api.as_(finance, "POST", "/bank-files")).status_code == 201
    paid = await overview(api, api.token("auditor"), call.id)
    assert (paid["ordered"], paid["paid"]) == ("100000.00", "100000.00")

    # The call closes; once the last case is assessed, the rest are ranked and funded from what remains.
    await assess(harness, numbers[2], score=4)
    await harness.env.fast_forward(harness.client.get_workflow_handle_for(CallWorkflow.run, call_workflow_id(call.id)),
                                   timedelta(days=11))
    for _ in range(200):
        ranked = await overview(api, api.token("decision_maker"), call.id)
        if all(c["rank"] is not None for c in ranked["ranking"] if c["in_running"]):
            break
        await asyncio.sleep(0.05)
    assert [(c["case_number"], c["score"], c["rank"], c["proposed"], c["in_running"], c["granted"])
            for c in ranked["ranking"]] == [
        (numbers[2], 20, 1, "570000.00", True, None),
        (numbers[1], 15, 2, "30000.00", True, None),
        (numbers[0], 25, None, None, False, "400000.00"),
    ]

    listed = await api.as_(api.token("administrator"), "GET", "/calls")
    assert listed.status_code == 200
    by_id = {c["id"]: c for c in listed.json()}
    assert {k: by_id[call.id][k] for k in ("applications", "requested", "granted", "paid")} == {
        "applications": 3, "requested": "1710000.00", "granted": "400000.00", "paid": "100000.00"}
    assert "ranking" not in by_id[call.id]
    seed = by_id[EXPORT_2021]  # the seed call itself: nothing received here
    assert (seed["applications"], seed["requested"], seed["closed"]) == (0, "0.00", True)


async def test_a_call_without_applications_and_who_may_see_calls(api: Api) -> None:
    call, _days = open_call(api, EXPORT_2021)
    empty = await overview(api, api.token("officer"), call.id)
    assert (empty["applications"], empty["requested"], empty["ranking"]) == (0, "0.00", [])
    for role in ("applicant", "operations"):
        assert (await api.as_(api.token(role), "GET", "/calls")).status_code == 403
        assert (await api.as_(api.token(role), "GET", f"/calls/{call.id}")).status_code == 403
    assert (await api.http.get("/calls")).status_code == 401
    missing = await api.as_(api.token("auditor"), "GET", "/calls/finns-inte")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    too_long = await api.as_(api.token("auditor"), "GET", f"/calls/{'x' * 101}")
    assert too_long.status_code == 422 and [e["field"] for e in too_long.json()["errors"]] == ["call_id"]
