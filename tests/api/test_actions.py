"""Acting on a case by HTTP: one endpoint per action, the actor from the token, the id from Idempotency-Key."""

from __future__ import annotations

from typing import Any

from activities.register import case_events, find_case
from domain.lifecycle import Stage
from services.cases import ACTIONS
from services.inputs import keyed_id
from tests.api.conftest import Api
from tests.factories import CLUSTER, REGION, application_2021
from workflows import search_attributes as sa


async def open_case(api: Api) -> str:
    """A case waiting for its secrecy review (the application from Region Exempel, REGION)."""
    harness = api.harness
    call, days = harness.call("export-samverkan-2021")
    number = await harness.submit(harness.application(application_2021(), call, days))
    state = await harness.settled(number)
    assert state.stage is Stage.SECRECY_REVIEW
    return number


def url(number: str, action: str) -> str:
    return f"/cases/{number}/actions/{action}"


async def post(api: Api, token: str, number: str, action: str, body: dict[str, Any] | None = None,
               key: str | None = None) -> Any:
    headers = {"Idempotency-Key": key} if key else {}
    return await api.as_(token, "POST", url(number, action), json=body, headers=headers)


async def scores(api: Api, number: str, score: int = 4) -> list[dict[str, Any]]:
    state = await api.harness.state(number)
    return [{"criterion": c, "score": score, "motivation": "Väl underbyggt."} for c in state.applicable_criteria()]


async def test_an_officer_and_a_decision_maker_take_a_case_to_its_decision(api: Api) -> None:
    number = await open_case(api)
    anna, bo = api.token("officer", "anna"), api.token("decision_maker", "bo")

    reviewed = await post(api, anna, number, "record-secrecy-review", {"rulings": []})
    assert reviewed.status_code == 200, reviewed.json()
    assert reviewed.json()["stage"] == "assessment" and reviewed.json()["action"] == "RecordSecrecyReview"
    declared = await post(api, anna, number, "declare-no-conflict")  # no body: the action has no fields
    assert declared.status_code == 200 and "anna" in declared.json()["message"]
    scored = await post(api, anna, number, "score", {"scores": await scores(api, number)})
    assert scored.status_code == 200 and scored.json()["action"] == "ScoreApplication"
    state = await api.harness.state(number)
    prepared = await post(api, anna, number, "prepare-decision", {
        "kind": "approve", "amount": "570000.00", "period_start": state.application.project.start.isoformat(),
        "period_end": state.application.project.end.isoformat()})
    assert prepared.status_code == 200 and prepared.json()["stage"] == "decision"

    # Four eyes: a decision maker who is the case's assessor may not decide it (the case's own rule).
    anna_deciding = api.token("decision_maker", "anna")
    refused = await post(api, anna_deciding, number, "decide")
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    assert "fyraögonsprincipen" in refused.json()["detail"]

    assert (await post(api, bo, number, "declare-no-conflict")).status_code == 200
    decided = await post(api, bo, number, "decide", {})
    assert decided.status_code == 200, decided.json()
    assert decided.json()["stage"] == "payments" and "bifall" in decided.json()["message"]
    state = await api.harness.settled(number)
    assert state.stage is Stage.PAYMENTS
    assert state.decision is not None and (state.decision.decided_by, state.decision.prepared_by) == ("bo", "anna")
    # The actor is the signed-in person: the register says who did what.
    actors = {(e.kind, e.actor_id, e.actor_role) for e in await case_events(api.harness.pool, number)}
    assert {("ScoreApplication", "anna", "officer"), ("Decide", "bo", "decision_maker")} <= actors


async def test_refusals_and_bad_input_are_problems_naming_the_reason(api: Api) -> None:
    number = await open_case(api)
    anna = api.token("officer", "anna")

    wrong_stage = await post(api, anna, number, "request-completion", {"missing": ["Intyg"]})
    assert wrong_stage.status_code == 409
    assert "kan inte utföras när ärendet är i steget" in wrong_stage.json()["detail"]

    with_actor = await post(api, anna, number, "record-secrecy-review",
                            {"rulings": [], "actor": {"id": "bo", "role": "decision_maker"}})
    assert with_actor.status_code == 422
    assert [e["field"] for e in with_actor.json()["errors"]] == ["$.actor"]
    unknown = await post(api, anna, number, "record-secrecy-review", {"rulings": [], "hemligt": True})
    assert unknown.status_code == 422 and [e["field"] for e in unknown.json()["errors"]] == ["$.hemligt"]
    with_id = await post(api, anna, number, "declare-no-conflict", {"action_id": "x"})
    assert with_id.status_code == 422 and [e["field"] for e in with_id.json()["errors"]] == ["$.action_id"]
    missing = await post(api, anna, number, "score", {})
    assert missing.status_code == 422 and [e["field"] for e in missing.json()["errors"]] == ["$.scores"]

    bad_number = await post(api, anna, "2026-1", "declare-no-conflict")
    assert bad_number.status_code == 422
    assert [e["field"] for e in bad_number.json()["errors"]] == ["case_number"]
    bad_key = await post(api, anna, number, "declare-no-conflict", key="two words")
    assert bad_key.status_code == 422
    assert [e["field"] for e in bad_key.json()["errors"]] == ["Idempotency-Key"]
    nobody = await post(api, anna, "2020-99999", "declare-no-conflict")
    assert nobody.status_code == 404

    # Roles: the domain's table decides who reaches an endpoint; an auditor changes nothing.
    assert (await post(api, api.token("auditor"), number, "declare-no-conflict")).status_code == 403
    assert (await post(api, api.token("finance"), number, "record-secrecy-review", {"rulings": []})).status_code == 403
    assert (await post(api, anna, number, "assign", {"officer": "erik"})).status_code == 403
    assert (await api.harness.state(number)).stage is Stage.SECRECY_REVIEW  # nothing of it changed the case


async def test_an_applicant_acts_only_on_their_own_organisations_cases(api: Api) -> None:
    number = await open_case(api)
    stranger = api.token("applicant", "klustret", org_number=CLUSTER)
    assert (await api.as_(stranger, "GET", f"/cases/{number}")).status_code == 404
    response = await post(api, stranger, number, "withdraw", {"reason": "Fel ärende."})
    assert response.status_code == 404
    # The same answer as for a case that does not exist: numbers cannot be probed.
    assert response.json() == (await post(api, stranger, "2020-99999", "withdraw")).json()
    assert (await api.harness.state(number)).stage is Stage.SECRECY_REVIEW

    # Applicants cannot call an officer's endpoint at all.
    own = api.token("applicant", "region", org_number=REGION.replace("-", ""))  # written without the hyphen
    assert (await post(api, own, number, "record-secrecy-review", {"rulings": []})).status_code == 403
    withdrawn = await post(api, own, number, "withdraw", {"reason": "Projektet blir inte av."})
    assert withdrawn.status_code == 200, withdrawn.json()
    assert withdrawn.json()["stage"] == "closed"


async def test_the_same_idempotency_key_gives_the_first_receipt_and_other_content_is_refused(api: Api) -> None:
    number = await open_case(api)
    anna = api.token("officer", "anna")
    await post(api, anna, number, "record-secrecy-review", {"rulings": []})
    await post(api, anna, number, "declare-no-conflict")
    body = {"scores": await scores(api, number)}

    first = await post(api, anna, number, "score", body, key="klick-1")
    again = await post(api, anna, number, "score", body, key="klick-1")
    assert first.status_code == again.status_code == 200
    # The key is anna's own: the action id is made from it and her, never taken as it stands.
    assert first.json() == again.json() and first.json()["action_id"] == keyed_id("anna", "klick-1")
    await api.harness.settled(number)
    events = [e for e in await case_events(api.harness.pool, number) if e.event_id == keyed_id("anna", "klick-1")]
    assert len(events) == 1

    other = await post(api, anna, number, "score", {"scores": await scores(api, number, score=2)}, key="klick-1")
    assert other.status_code == 409
    assert "har redan använts för en annan åtgärd" in other.json()["detail"]
    assessment = (await api.harness.state(number)).assessment
    assert assessment is not None and assessment.total == sum(s["score"] for s in body["scores"])
    # Someone else's same key is their own action: it neither answers with anna's receipt nor tells of it.
    bo = await post(api, api.token("decision_maker", "bo"), number, "declare-no-conflict", key="klick-1")
    assert bo.status_code == 200 and bo.json()["action"] == "DeclareNoConflict"
    # Nor can a key reach an id the case gives its own records.
    system = await post(api, api.token("administrator", "admin"), number, "assign", {"officer": "erik"},
                         key="event-00001")
    assert system.status_code == 200 and system.json()["action_id"].startswith("api-")

    # Without a key every request is a new action, which the case judges by its own rules.
    fresh = await post(api, anna, number, "declare-no-conflict")
    assert fresh.status_code == 409 and "redan förklarat" in fresh.json()["detail"]


async def test_an_administrator_assigns_the_case_and_the_officer_follows_everywhere(api: Api) -> None:
    number = await open_case(api)
    admin = api.token("administrator", "admin")
    assigned = await post(api, admin, number, "assign", {"officer": "erik"})
    assert assigned.status_code == 200, assigned.json()
    assert assigned.json()["action"] == "Assign" and "erik" in assigned.json()["message"]
    state = await api.harness.settled(number)
    assert (state.assigned_officer, state.officer) == ("erik", "erik")
    description = await api.harness.handle(number).describe()
    assert description.typed_search_attributes.get(sa.OFFICER) == "erik"
    row = await find_case(api.harness.pool, number)
    assert row is not None and row.officer == "erik"
    again = await post(api, admin, number, "assign", {"officer": "erik"})
    assert again.status_code == 409 and "redan tilldelat" in again.json()["detail"]

    # Anna assesses and prepares; erik, the assigned officer, may not decide it, even as a decision maker.
    anna = api.token("officer", "anna")
    await post(api, anna, number, "record-secrecy-review", {"rulings": []})
    await post(api, anna, number, "declare-no-conflict")
    await post(api, anna, number, "score", {"scores": await scores(api, number)})
    state = await api.harness.state(number)
    assert state.officer == "erik"  # the assigned officer, not the assessor
    await post(api, anna, number, "prepare-decision", {"kind": "reject", "reasons": "Svag förankring."})
    erik = api.token("decision_maker", "erik")
    assert (await post(api, erik, number, "declare-no-conflict")).status_code == 200
    refused = await post(api, erik, number, "decide")
    assert refused.status_code == 409 and "fyraögonsprincipen" in refused.json()["detail"]

    reassigned = await post(api, admin, number, "assign", {"officer": "kim"})
    assert reassigned.status_code == 200 and "tidigare erik" in reassigned.json()["message"]
    await api.harness.settled(number)
    description = await api.harness.handle(number).describe()
    assert description.typed_search_attributes.get(sa.OFFICER) == "kim"
    row = await find_case(api.harness.pool, number)
    assert row is not None and row.officer == "kim"


async def test_the_openapi_document_has_one_request_schema_per_action(api: Api) -> None:
    document = (await api.http.get("/openapi.json")).json()
    schemas = document["components"]["schemas"]
    seen = set()
    for name, (_update, model) in ACTIONS.items():
        operation = document["paths"][f"/cases/{{case_number}}/actions/{name}"]["post"]
        content = operation["requestBody"]["content"]["application/json"]["schema"]
        ref = content.get("$ref") or next(x["$ref"] for x in content["anyOf"] if "$ref" in x)
        component = ref.rsplit("/", 1)[1]
        assert component == f"{model.__name__}Request"
        fields = set(schemas[component].get("properties", {}))
        assert fields == set(model.model_fields) - {"actor", "action_id"}, name
        assert schemas[component]["additionalProperties"] is False
        assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in operation["parameters"])
        seen.add(component)
    assert len(seen) == len(ACTIONS)
    assert "officer" in schemas["AssignRequest"]["properties"]
