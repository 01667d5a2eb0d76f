"""Records a case's history for `histories/`, to be replayed by test_recorded_histories.py ever after.

Not a test (its name does not start with test_): run it on purpose, with the code whose histories are
to be frozen, before changing what the workflow does:

    RECORD_HISTORIES=1 .venv/bin/pytest -q tests/workflows/record_histories.py

Each function writes one file of `histories/`, named for the version of the code that wrote it.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

import pytest

from domain.lifecycle import Outcome, Stage
from tests.factories import application_2021

HISTORIES = Path(__file__).parent / "histories"
OFFICER, DECIDER, ADMIN, PUBLIC = "officer:anna", "decision_maker:bo", "administrator:admin", "public:public"

pytestmark = pytest.mark.skipif(not os.environ.get("RECORD_HISTORIES"), reason="records histories on purpose only")


async def test_record_a_case_assigned_with_a_records_request_overdue_then_decided(harness):
    """Decision 24: the records updates (request, release, refusal in part), the overdue request's timer
    and event, and an `assign` by an administrator, through to a rejection that closes the case."""
    call, days = harness.call("export-samverkan-2021")
    data = harness.application(application_2021(), call, days)
    section = "$.descriptions.follow_up"
    data["secret_sections"] = [{"section": section, "reason": "Affärshemlighet: skulle skada oss."}]
    number = await harness.submit(data)
    state = await harness.settled(number)
    assert state.stage is Stage.SECRECY_REVIEW
    await harness.act(number, "assign", ADMIN, officer="anna")
    waiting = (await harness.act(number, "request-public-document", PUBLIC, document="application",
                                 requester_email="redaktion@tidning.example")).action_id
    await harness.settled(number)
    await harness.fast_forward(number, timedelta(days=1, hours=1))
    state = await harness.settled(number)
    assert state.records_requests[0].overdue
    await harness.act(number, "record-secrecy-review", OFFICER, rulings=[
        {"section": section, "secret": True, "legal_ground": "OSL 30 kap. 23 §", "reason": "Skulle skada sökanden."}])
    await harness.act(number, "release-public-document", OFFICER, request_id=waiting)
    at_once = (await harness.act(number, "request-public-document", PUBLIC, document="application")).action_id
    await harness.act(number, "refuse-public-document", OFFICER, request_id=at_once, in_part=True,
                      reasons="Uppföljningen är en affärshemlighet.", legal_ground="OSL 30 kap. 23 §")
    await harness.act(number, "declare-no-conflict", OFFICER)
    state = await harness.settled(number)
    await harness.act(number, "score", OFFICER, scores=[
        {"criterion": c, "score": 2, "motivation": "Svagt underbyggt."} for c in state.applicable_criteria()])
    await harness.act(number, "prepare-decision", OFFICER, kind="reject", reasons="Svag regional förankring.")
    await harness.act(number, "declare-no-conflict", DECIDER)
    await harness.act(number, "decide", DECIDER)
    await harness.handle(number).result()
    state = await harness.state(number)
    assert state.outcome is Outcome.REJECTED and state.stage is Stage.CLOSED
    history = await harness.handle(number).fetch_history()
    path = HISTORIES / "case-assigned-records-overdue-0024.json"
    path.write_text(json.dumps(json.loads(history.to_json()), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


async def test_record_a_case_whose_reports_name_companies_one_over_its_de_minimis_ceiling(harness):
    """Decision 33: a payment request naming companies, its review refused while one is over its ceiling
    (the rates and the record's totals read in the update), resolved and approved with certificates, then a
    final report naming a company, reviewed, the case closed."""
    from services.cases import ActionRefused
    from tests.factories import ASSOCIATION, COMPANY, application_2022
    from tests.workflows.test_after_decision import approve_all, cost, final_report
    from tests.workflows.test_state_aid import company, granted, request_with

    number, start = await granted(harness, "saker-digitalisering-2022", application_2022())
    day = start + timedelta(days=5)
    await harness.fast_forward(number, timedelta(days=21))
    await harness.act(number, "file-payment-request", "applicant:region-exempel", **request_with(
        start, "50000.00", company(COMPANY, "Exempel Mekaniska AB", "100000.00", day, "295000"),
        company(ASSOCIATION, "Exempel Ekonomisk Förening", "30000.00", day)))
    with pytest.raises(ActionRefused, match="går över taket"):
        await harness.act(number, "review-payment-request", OFFICER, request_number=1, costs=approve_all("100000.00"))
    await harness.act(number, "review-payment-request", OFFICER, request_number=1, costs=approve_all("100000.00"),
                      state_aid=[{"org_number": COMPANY, "value": "40000.00", "reason": "Resten betalar företaget."}])
    await harness.fast_forward(number, timedelta(days=42))
    report = final_report(cost("personnel", "300000.00", "V9"))
    report["report"]["companies"] = [company(ASSOCIATION, "Exempel Ekonomisk Förening", "20000.00",
                                             start + timedelta(days=40))]
    report["report"] |= {"companies_women": 6, "companies_men": 8}  # the 2022 call asks for the split
    await harness.act(number, "submit-final-report", "applicant:region-exempel", **report)
    await harness.act(number, "review-final-report", OFFICER, costs=approve_all("300000.00"), assessment="Klart.")
    await harness.handle(number).result()
    state = await harness.state(number)
    assert state.stage is Stage.CLOSED and len(state.state_aid.granted) == 3
    history = await harness.handle(number).fetch_history()
    path = HISTORIES / "state-aid-case-0033.json"
    path.write_text(json.dumps(json.loads(history.to_json()), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
# --- decision 30: a representative case of every path, both calls ----------------------------------------
# Recorded with the code of decision 30, after DECISION_MAKERS_DECLARE (decision 21) and OPENS_THE_CASE
# (decision 16): with the *-before-* files they keep both sides of each patch (test_recorded_histories.py).


async def save(harness, number: str, name: str) -> list[Path]:
    """Every run of the case's chain, oldest first: `name`.json, or `name`-run1.json, -run2.json, ..."""
    from services.replay import from_temporal

    await harness.handle(number).result()
    [case] = [c async for c in from_temporal(harness.client, _one(number), [])]
    assert case.complete
    paths = []
    for index, history in enumerate(case.histories, start=1):
        path = HISTORIES / (f"{name}.json" if len(case.histories) == 1 else f"{name}-run{index}.json")
        path.write_text(json.dumps(history, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


def _one(number: str):
    from services.replay import Selection

    return Selection(number=number)


async def test_record_a_2022_case_rejected(harness):
    from tests.factories import application_2022
    from tests.workflows.test_case_workflow import assess

    call, days = harness.call("saker-digitalisering-2022")
    number = await harness.submit(harness.application(application_2022(), call, days))
    await assess(harness, number, score=1)
    await harness.act(number, "prepare-decision", OFFICER, kind="reject", reasons="Svag koppling till utlysningen.")
    await harness.act(number, "decide", DECIDER)
    assert (await harness.state(number)).outcome is Outcome.REJECTED
    await save(harness, number, "case-2022-rejected-0030")


async def test_record_a_late_case_dismissed(harness):
    call, days = harness.call("export-samverkan-2021", days_left=-3)
    number = await harness.submit(harness.application(application_2021(), call, days))
    await harness.settled(number)
    await harness.act(number, "prepare-decision", OFFICER, kind="dismiss",
                      reasons="Ansökan kom in efter sista ansökningsdag.")
    await harness.act(number, "declare-no-conflict", DECIDER)
    await harness.act(number, "decide", DECIDER)
    assert (await harness.state(number)).outcome is Outcome.DISMISSED
    await save(harness, number, "case-dismissed-0030")


async def test_record_a_case_withdrawn_before_the_decision(harness):
    from tests.workflows.test_case_workflow import APPLICANT, assessed_case

    _call, number = await assessed_case(harness)
    await harness.act(number, "withdraw", APPLICANT, reason="Projektet genomförs inte.")
    assert (await harness.state(number)).outcome is Outcome.WITHDRAWN
    await save(harness, number, "case-withdrawn-0030")


async def paid_once(harness, days: int) -> str:
    """A case granted 400 000 kr, its first payment request (for its first `days` days) approved in full."""
    from tests.workflows.test_after_decision import APPLICANT, approve_all, cost, granted_case, payment_request

    number, start = await granted_case(harness)
    await harness.fast_forward(number, timedelta(days=days + 1))
    await harness.act(number, "file-payment-request", APPLICANT, **payment_request(
        start, 0, days, "150000.00", cost("personnel", "200000.00", "V1")))
    await harness.act(number, "review-payment-request", OFFICER, request_number=1, costs=approve_all("200000.00"))
    return number


async def test_record_a_case_approved_and_paid_in_full(harness):
    from tests.workflows.test_after_decision import APPLICANT, approve_all, cost, final_report

    number = await paid_once(harness, 20)
    await harness.fast_forward(number, timedelta(days=45))
    await harness.act(number, "submit-final-report", APPLICANT, **final_report(cost("personnel", "100000.00", "V2")))
    await harness.act(number, "review-final-report", OFFICER, costs=approve_all("100000.00"),
                      assessment="Målen är uppnådda.")
    await save(harness, number, "case-approved-paid-in-full-0030")


async def test_record_a_case_revoked_in_part_with_a_reclaim_repaid_with_interest(harness):
    from domain.clock import stockholm_date
    from tests.workflows.test_after_decision import APPLICANT, FINANCE, load_reference_rates

    number = await paid_once(harness, 10)
    await harness.act(number, "prepare-revocation", OFFICER, revoked_amount="300000.00",
                      reasons="Projektet genomförs inte som beslutat.")
    await harness.act(number, "reply-to-communication", APPLICANT, text="Vi har strukit aktiviteterna.")
    await harness.act(number, "revoke", DECIDER)
    await harness.settled(number)
    await harness.act(number, "prepare-reclaim", OFFICER, amount="50000.00", reasons="Beslutet upphävs delvis.")
    await harness.fast_forward(number, timedelta(days=15))
    await harness.settled(number)
    await harness.act(number, "decide-reclaim", DECIDER)
    state = await harness.settled(number)
    on = stockholm_date(state.reclaim.claim.decided_at)
    owed, _ = state.reclaim.claim.provisional_balance(on, load_reference_rates())
    assert owed.interest_due > 0
    await harness.act(number, "register-repayment", FINANCE, amount=str(owed.total_due), paid_on=on.isoformat())
    await save(harness, number, "case-revoked-reclaim-interest-0030")


async def test_record_a_claim_written_off(harness):
    from tests.workflows.test_after_decision import claim_partly_repaid

    number = await claim_partly_repaid(harness)
    await harness.act(number, "write-off", DECIDER, reasons="Föreningen är upplöst; inga tillgångar finns.")
    await save(harness, number, "case-written-off-0030")


async def test_record_a_case_that_continued_as_new(short_history_harness):
    from tests.workflows.test_after_decision import APPLICANT, cost, granted_case, payment_request

    harness = short_history_harness
    number, start = await granted_case(harness)
    await harness.fast_forward(number, timedelta(days=20))
    first = (await harness.handle(number).describe()).run_id
    for day in range(15):
        await harness.act(number, "file-payment-request", APPLICANT, action_id=f"begaran-{day}", **payment_request(
            start, day, day, "750.00", cost("personnel", "1000.00", f"V{day}")))
        await harness.settled(number)
        if (await harness.handle(number).describe()).run_id != first:
            break
    # Nothing was paid (the requests wait for review): the withdrawal closes the case in its second run.
    await harness.act(number, "withdraw", APPLICANT, reason="Projektet läggs ned.")
    assert len(await save(harness, number, "case-continued-as-new-0030")) >= 2
