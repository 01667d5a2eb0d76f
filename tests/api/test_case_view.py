"""Reading a case by HTTP: the whole case for staff (secret readings logged), the applicant's own view."""

from __future__ import annotations

from typing import Any

from google.protobuf.duration_pb2 import Duration
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client

from domain.lifecycle import Stage
from tests.activities.support import scalar
from tests.api.conftest import Api
from tests.api.test_actions import post, scores
from tests.factories import REGION, application_2021
from tests.keys import CONVERTER
from tests.workflows.test_after_decision import archived

SECTION = "$.change_logic.planned_work"


async def open_case(api: Api, *, secret: bool = True) -> str:
    harness = api.harness
    call, days = harness.call("export-samverkan-2021")
    data = harness.application(application_2021(), call, days)
    if secret:
        data["secret_sections"] = [{"section": SECTION, "reason": "Metoden är vår affärshemlighet."}]
    number = await harness.submit(data)
    state = await harness.settled(number)
    assert state.stage is Stage.SECRECY_REVIEW, state.verdict
    return number


async def get(api: Api, token: str, url: str) -> Any:
    response = await api.as_(token, "GET", url)
    assert response.status_code == 200, response.json()
    return response.json()


async def test_staff_read_the_whole_case_and_each_reading_of_its_secret_parts_is_logged(api: Api) -> None:
    number = await open_case(api)
    anna = api.token("officer", "anna")
    planned_work = application_2021()["change_logic"]["planned_work"]

    case = await get(api, anna, f"/cases/{number}")
    assert case["view"] == "staff" and case["case_number"] == number and case["stage"] == "secrecy_review"
    assert case["application"]["change_logic"]["planned_work"] == planned_work
    assert case["secret_sections"] == [{"section": SECTION, "secret_claimed": True,
                                        "applicant_reason": "Metoden är vår affärshemlighet.",
                                        "content": planned_work, "ruling": None}]
    assert all(f["rule_text"] for f in case["findings"])  # each finding with the rule in the call's words
    assert [d["document_id"] for d in case["documents"]] == ["application-v1"]
    assert [x["kind"] for x in case["letters"]] == ["receipt"]
    assert [e["kind"] for e in case["history"]][:2] == ["registered", "checked"]
    assert case["criteria"] and case["secret_readings"] is None  # an officer does not see the log
    assert await scalar(api.harness.pool, "SELECT count(*) FROM secret_readings WHERE case_number = %s",
                        (number,)) == 1

    reviewed = await post(api, anna, number, "record-secrecy-review", {"rulings": [
        {"section": SECTION, "secret": True, "legal_ground": "OSL 30 kap. 23 §", "reason": "Skulle skada bolaget."}]})
    assert reviewed.status_code == 200, reviewed.json()
    await api.harness.settled(number)
    case = await get(api, anna, f"/cases/{number}")
    assert case["secret_sections"][0]["ruling"]["legal_ground"] == "OSL 30 kap. 23 §"
    assert case["secrecy"]["reviewed_by"] == "anna"

    history = await get(api, anna, f"/cases/{number}/history")
    assert history["secret_readings"] is None and "RecordSecrecyReview" in [e["kind"] for e in history["events"]]

    auditor = api.token("auditor", "revisor-1")
    logged = (await get(api, auditor, f"/cases/{number}/history"))["secret_readings"]
    assert [(r["reader_id"], r["reader_role"], r["sections"]) for r in logged] == [
        ("anna", "officer", [SECTION]), ("anna", "officer", [SECTION])]
    # The auditor's own reading of the whole case is logged, and the auditor sees the log there too.
    seen = (await get(api, auditor, f"/cases/{number}"))["secret_readings"]
    assert [r["reader_id"] for r in seen] == ["anna", "anna", "revisor-1"]
    admin = api.token("administrator", "admin")
    assert len((await get(api, admin, f"/cases/{number}/history"))["secret_readings"]) == 3
    assert (await api.as_(auditor, "GET", "/cases/2020-99999/history")).status_code == 404  # no such case

    # Only readers: an applicant has no history view, operations no case view.
    applicant = api.token("applicant", "region", org_number=REGION)
    assert (await api.as_(applicant, "GET", f"/cases/{number}/history")).status_code == 403
    assert (await api.as_(api.token("operations"), "GET", f"/cases/{number}")).status_code == 403


async def test_a_case_without_secret_parts_is_read_without_a_log_entry(api: Api) -> None:
    number = await open_case(api, secret=False)
    case = await get(api, api.token("finance", "eva"), f"/cases/{number}")
    assert case["secret_sections"] == [] and case["view"] == "staff"
    assert await scalar(api.harness.pool, "SELECT count(*) FROM secret_readings") == 0
    missing = await api.as_(api.token("officer"), "GET", "/cases/2020-99999")
    assert missing.status_code == 404
    malformed = await api.as_(api.token("officer"), "GET", "/cases/inte-ett-nummer")
    assert malformed.status_code == 422 and malformed.json()["errors"][0]["field"] == "case_number"


async def test_the_applicant_sees_stage_deadlines_letters_and_decision_but_no_internal_notes(api: Api) -> None:
    number = await open_case(api)
    applicant = api.token("applicant", "region", org_number=REGION)
    mine = await get(api, applicant, f"/cases/{number}")
    assert mine["view"] == "applicant" and mine["stage"] == "secrecy_review"
    assert [x["kind"] for x in mine["letters"]] == ["receipt"]
    assert mine["decision"] is None and mine["payments"] is None
    assert not {"application", "secret_sections", "assessment", "history", "findings"} & set(mine)
    # The applicant's reading is not a staff reading of secrets.
    assert await scalar(api.harness.pool, "SELECT count(*) FROM secret_readings") == 0

    anna, bo = api.token("officer", "anna"), api.token("decision_maker", "bo")
    await post(api, anna, number, "record-secrecy-review", {"rulings": [
        {"section": SECTION, "secret": False, "reason": "Inget men."}]})
    await post(api, anna, number, "declare-no-conflict")
    await post(api, anna, number, "score", {"scores": await scores(api, number, score=2)})
    await post(api, anna, number, "prepare-decision", {"kind": "reject", "reasons": "Svag regional förankring."})
    await post(api, bo, number, "declare-no-conflict")
    assert (await post(api, bo, number, "decide")).status_code == 200
    await api.harness.settled(number)

    mine = await get(api, applicant, f"/cases/{number}")
    assert mine["stage"] == "closed" and mine["outcome"] == "rejected"
    assert mine["decision"]["reasons"] == "Svag regional förankring."
    assert mine["decision"]["outcome_label"]
    assert [x["kind"] for x in mine["letters"]] == ["receipt", "decision_rejected"]
    assert "poäng" not in str(mine) and "score" not in str(mine)
    staff = await get(api, anna, f"/cases/{number}")
    assert staff["assessment"]["total"] > 0 and staff["decision"]["decided_by"] == "bo"
    assert staff["deadlines"] == []


async def test_the_applicant_sees_a_completion_request_and_its_deadline(api: Api) -> None:
    harness = api.harness
    call, days = harness.call("export-samverkan-2021")
    data = harness.application(application_2021(), call, days)
    data["attachments"] = [a for a in data["attachments"] if a["kind"] != "signatory_authority"]
    number = await harness.submit(data)
    assert (await harness.settled(number)).stage is Stage.COMPLETENESS
    anna = api.token("officer", "anna")
    requested = await post(api, anna, number, "request-completion", {"missing": ["Intyg om firmatecknare"]})
    assert requested.status_code == 200, requested.json()
    await harness.settled(number)
    mine = await get(api, api.token("applicant", "region", org_number=REGION), f"/cases/{number}")
    assert mine["completion"]["missing"] == ["Intyg om firmatecknare"]
    assert [d["kind"] for d in mine["deadlines"]] == ["completion_reply"]
    assert [x["kind"] for x in mine["letters"]] == ["receipt", "completion_request"]
    staff = await get(api, anna, f"/cases/{number}")
    assert [f["rule"] for f in staff["findings"] if f["severity"] == "error"] == ["ES21-SIGNATORY"]
    assert staff["findings"][0]["call_section"]


async def test_a_closed_case_is_read_from_its_archive_once_temporal_has_let_it_go(api: Api) -> None:
    number = await open_case(api, secret=False)
    applicant = api.token("applicant", "region", org_number=REGION)
    withdrawn = await post(api, applicant, number, "withdraw", {"reason": "Projektet genomförs inte."})
    assert withdrawn.status_code == 200, withdrawn.text
    await archived(api.harness, number)
    # After the namespace's retention period Temporal no longer has the case (deleting it here does not
    # take effect on the dev server): the API asks a namespace that never had it.
    client = api.harness.client
    await client.workflow_service.register_namespace(RegisterNamespaceRequest(
        namespace="retention-passed", workflow_execution_retention_period=Duration(seconds=86400)))
    api.app.state.ctx.client = await Client.connect(
        client.service_client.config.target_host, namespace="retention-passed", data_converter=CONVERTER)
    assert (await api.harness.handle(number).describe()).status is not None  # still in the first namespace

    case = await get(api, api.token("auditor", "revisor"), f"/cases/{number}")
    assert (case["read_from"], case["stage"], case["outcome"]) == ("archive", "closed", "withdrawn")
    own = await get(api, applicant, f"/cases/{number}")
    assert (own["read_from"], own["stage"]) == ("archive", "closed")
    assert (await api.as_(applicant, "GET", "/cases/2020-99999")).status_code == 404  # neither here nor archived


async def test_without_its_secret_parts_the_case_tells_nothing_of_them_and_no_reading_is_logged(api: Api) -> None:
    number = await open_case(api)
    anna = api.token("officer", "anna")
    case = await get(api, anna, f"/cases/{number}?secret_parts=false")
    assert case["application"] == {} and case["stage"] == "secrecy_review" and case["criteria"]
    assert case["secret_sections"] == [{"section": SECTION, "secret_claimed": True, "applicant_reason": "",
                                        "content": None, "ruling": None}]
    assert await scalar(api.harness.pool, "SELECT count(*) FROM secret_readings WHERE case_number = %s",
                        (number,)) == 0
