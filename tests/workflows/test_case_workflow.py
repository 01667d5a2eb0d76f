"""The case workflow from receipt to decision, on a real server with virtual time."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from temporalio.api.common.v1 import WorkflowExecution, WorkflowType
from temporalio.api.enums.v1 import EventType
from temporalio.api.enums.v1 import UpdateWorkflowExecutionLifecycleStage as UpdateStage
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.update.v1 import UpdateRef, WaitPolicy
from temporalio.api.workflowservice.v1 import PollWorkflowExecutionUpdateRequest, StartWorkflowExecutionRequest
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Replayer, Worker

from activities.letters import LetterRequest, list_letters
from activities.register import case_events, list_cases
from domain.clock import stockholm_date
from domain.lifecycle import Outcome, Stage
from infra.settings import Settings
from services import cases
from services.cases import ActionRefused, build_command
from tests.activities.support import scalar
from tests.factories import SHA, application_2021, application_2022
from tests.keys import CONVERTER
from worker import registry
from workflows import search_attributes as sa
from workflows.call import CallWorkflow, call_workflow_id
from workflows.intake import intake_workflow_id

OFFICER = "officer:anna"
OTHER_OFFICER = "officer:erik"
DECIDER = "decision_maker:bo"
APPLICANT = "applicant:region-exempel"


async def open_case(harness, data=None, **call_options):
    call, days = harness.call("export-samverkan-2021", **call_options)
    number = await harness.submit(harness.application(data or application_2021(), call, days))
    return call, number


async def assess(harness, number, score=4):
    state = await harness.settled(number)
    assert state.stage is Stage.SECRECY_REVIEW, (state.late, state.verdict)
    await harness.act(number, "record-secrecy-review", OFFICER, rulings=[])
    await harness.act(number, "declare-no-conflict", OFFICER)
    await harness.act(number, "score", OFFICER, scores=[
        {"criterion": c, "score": score, "motivation": "Väl underbyggt."} for c in state.applicable_criteria()])
    # The decision maker declares no conflict of interest too, before deciding (FL 16–18 §§).
    await harness.act(number, "declare-no-conflict", DECIDER)


async def assessed_case(harness, **call_options):
    call, number = await open_case(harness, **call_options)
    await assess(harness, number)
    return call, number


async def prepare_approval(harness, number, amount="570000.00", **extra):
    state = await harness.state(number)
    await harness.act(number, "prepare-decision", OFFICER, kind="approve", amount=amount,
                      period_start=state.application.project.start.isoformat(),
                      period_end=state.application.project.end.isoformat(),
                      conditions=["Slutrapport lämnas senast på utlysningens datum."], **extra)


async def refused(harness, number, action, actor, **payload):
    """Send an action that must be refused; prove the history did not change."""
    await harness.settled(number)
    before = await harness.history_length(number)
    with pytest.raises(ActionRefused) as caught:
        await harness.act(number, action, actor, **payload)
    assert await harness.history_length(number) == before
    return str(caught.value)


async def test_happy_path_to_approval(harness):
    call, number = await assessed_case(harness)
    assert number.startswith(f"{stockholm_date(datetime.now(UTC)).year}-")
    await prepare_approval(harness, number)
    receipt = await harness.act(number, "decide", DECIDER)
    assert receipt.stage is Stage.PAYMENTS and "bifall om 570" in receipt.message

    state = await harness.settled(number)
    assert state.outcome is Outcome.APPROVED and state.granted == Decimal("570000.00")
    assert state.decision.decided_by == "bo" and state.decision.prepared_by == "anna"

    [row] = await list_cases(harness.pool, call_id=call.id)
    assert (row.case_number, row.stage, row.outcome, row.officer) == (number, "payments", "approved", "anna")
    assert row.granted_amount == Decimal("570000.00")
    letters = [letter.kind for letter in await list_letters(harness.pool, number)]
    assert letters == ["receipt", "decision_approved"]
    kinds = [e.kind for e in await case_events(harness.pool, number)]
    assert kinds[:2] == ["registered", "checked"] and kinds[-1] == "Decide"
    desc = await harness.handle(number).describe()
    assert desc.typed_search_attributes.get(sa.CASE_STAGE) == "payments"


async def test_a_late_application_is_flagged_and_can_be_dismissed(harness):
    call, days = harness.call("export-samverkan-2021", days_left=-3)
    number = await harness.submit(harness.application(application_2021(), call, days))
    state = await harness.settled(number)
    assert state.late and state.stage is Stage.COMPLETENESS  # waits for the officer: no automatic rejection
    await harness.act(number, "prepare-decision", OFFICER, kind="dismiss",
                      reasons="Ansökan kom in efter sista ansökningsdag.")
    await harness.act(number, "declare-no-conflict", DECIDER)
    receipt = await harness.act(number, "decide", DECIDER)
    assert receipt.stage is Stage.CLOSED  # nothing follows a dismissal: the case closes and is archived
    state = await harness.settled(number)
    assert state.outcome is Outcome.DISMISSED
    assert [x.kind for x in await list_letters(harness.pool, number)] == ["receipt", "decision_dismissed"]


async def test_an_officer_may_accept_a_late_application(harness):
    call, days = harness.call("export-samverkan-2021", days_left=-1)
    number = await harness.submit(harness.application(application_2021(), call, days))
    await harness.settled(number)
    receipt = await harness.act(number, "accept-for-review", OFFICER, note="Försenad av tekniskt fel i e-tjänsten.")
    assert receipt.stage is Stage.SECRECY_REVIEW


async def test_completion_requested_and_given_in_time(harness):
    data = application_2021()
    data["attachments"] = [a for a in data["attachments"] if a["kind"] != "signatory_authority"]
    _call, number = await open_case(harness, data)
    state = await harness.settled(number)
    assert state.stage is Stage.COMPLETENESS and [f.rule for f in state.verdict.errors] == ["ES21-SIGNATORY"]
    await harness.act(number, "request-completion", OFFICER, missing=["Intyg om behörig firmatecknare"])
    await harness.fast_forward(number, timedelta(days=13))
    fixed = state.application.model_dump(mode="json")
    fixed["attachments"].append({"name": "delegationsordning.pdf", "kind": "signatory_authority", "sha256": SHA})
    await harness.act(number, "submit-completion", APPLICANT, application=fixed)
    state = await harness.settled(number)
    assert state.stage is Stage.SECRECY_REVIEW and state.verdict.eligible and state.application_versions == 2
    assert [x.kind for x in await list_letters(harness.pool, number)] == ["receipt", "completion_request"]


async def test_completion_not_given_leaves_the_officer_to_dismiss(harness):
    data = application_2021()
    data["co_applicants"] = []
    _call, number = await open_case(harness, data)
    await harness.settled(number)
    await harness.act(number, "request-completion", OFFICER, missing=["En medsökande aktör"], reply_days=14)
    await harness.fast_forward(number, timedelta(days=16))
    state = await harness.settled(number)
    assert state.completion.expired and state.stage is Stage.COMPLETENESS
    message = await refused(harness, number, "submit-completion", APPLICANT,
                            application=state.application.model_dump(mode="json"))
    assert "Svarstiden" in message
    await harness.act(number, "prepare-decision", OFFICER, kind="dismiss",
                      reasons="Ansökan har inte kompletterats inom svarstiden.")
    await harness.act(number, "declare-no-conflict", DECIDER)
    await harness.act(number, "decide", DECIDER)
    assert (await harness.settled(number)).outcome is Outcome.DISMISSED


async def test_rejection_after_communication(harness):
    _call, number = await assessed_case(harness)
    await harness.act(number, "prepare-decision", OFFICER, kind="reject",
                      reasons="Projektet bidrar svagt till utlysningens mål.",
                      unseen_material="Yttrande från Region Exempel om projektets förankring.")
    assert "kommuniceras" in await refused(harness, number, "decide", DECIDER)
    await harness.act(number, "communicate", OFFICER)
    assert "svarstid" in await refused(harness, number, "decide", DECIDER)
    await harness.fast_forward(number, timedelta(days=15))
    state = await harness.settled(number)
    assert state.communication.expired
    await harness.act(number, "decide", DECIDER)
    state = await harness.settled(number)
    assert state.outcome is Outcome.REJECTED
    letters = [x.kind for x in await list_letters(harness.pool, number)]
    assert letters == ["receipt", "communication", "decision_rejected"]


async def test_a_reply_to_communication_lets_the_decision_be_taken_at_once(harness):
    _call, number = await assessed_case(harness)
    await harness.act(number, "prepare-decision", OFFICER, kind="reject", reasons="Svag förankring.",
                      unseen_material="Regionens yttrande.")
    await harness.act(number, "communicate", OFFICER)
    await harness.act(number, "reply-to-communication", APPLICANT, text="Vi har förankrat projektet brett.")
    await harness.act(number, "decide", DECIDER)
    assert (await harness.settled(number)).outcome is Outcome.REJECTED


async def test_withdrawal_before_decision(harness):
    _call, number = await assessed_case(harness)
    receipt = await harness.act(number, "withdraw", APPLICANT, reason="Projektet genomförs inte.")
    assert receipt.stage is Stage.CLOSED  # nothing was paid: nothing to reclaim, the case closes
    state = await harness.settled(number)
    assert state.outcome is Outcome.WITHDRAWN
    assert "withdrawal_confirmed" in [x.kind for x in await list_letters(harness.pool, number)]
    assert "avslutat" in await refused(harness, number, "declare-no-conflict", OTHER_OFFICER)
    # The register says where the case stood when each thing happened, not where it ended.
    stages = {e.kind: e.stage for e in await case_events(harness.pool, number)}
    assert stages["registered"] == "received" and stages["ScoreApplication"] == "assessment"
    assert stages["Withdraw"] == "assessment" and stages["closed"] == "closed"


async def test_an_address_the_mail_server_refuses_does_not_stop_the_case(smtp_harness):
    harness = smtp_harness
    data = application_2021()
    data["applicant"]["contact"]["email"] = "finns.inte@example.se"
    harness.smtp.refuse.add("finns.inte@example.se")
    call, number = await open_case(harness, data)
    state = await harness.settled(number)
    # The receipt could not be delivered: the officer is told, and the case waits for them as usual.
    assert state.stage is Stage.SECRECY_REVIEW
    undelivered = [e for e in await case_events(harness.pool, number) if e.kind == "letter_undelivered"]
    assert len(undelivered) == 1 and "receipt" in undelivered[0].summary
    assert harness.smtp.messages == []
    receipt = await harness.act(number, "record-secrecy-review", OFFICER, rulings=[])
    assert receipt.stage is Stage.ASSESSMENT
    # The same case with a deliverable address gets its receipt by mail.
    other = await harness.submit(harness.application(application_2021(), call, 0))
    await harness.settled(other)
    assert [m.rcpt_tos for m in harness.smtp.messages] == [["anna.andersson@example.se"]]


async def test_a_receipt_that_cannot_be_written_does_not_keep_the_case_from_starting(harness, monkeypatch):
    # The intake writes the receipt with the case's opening; a receipt no retry can write (a bug in
    # its template) must not leave a registered application without its case.
    def broken(self):
        raise ApplicationError("no template key 'agency'", type="LetterTemplateError", non_retryable=True)

    monkeypatch.setattr(LetterRequest, "render", broken)
    _call, number = await open_case(harness)
    state = await harness.settled(number)
    assert state.stage is Stage.SECRECY_REVIEW
    # The case wrote its opening itself, and the officer is told that the receipt did not go out.
    kinds = [e.kind for e in await case_events(harness.pool, number)]
    assert kinds[:2] == ["registered", "checked"] and "letter_undelivered" in kinds
    assert await list_letters(harness.pool, number) == []
    [row] = await list_cases(harness.pool)
    assert row.stage == "secrecy_review"


async def test_sending_a_submission_again_after_it_was_registered_gives_the_same_case(harness):
    call, days = harness.call("export-samverkan-2021")
    data = harness.application(application_2021(), call, days)
    first = await harness.submit(data, submission_id="e-tjanst-4711")
    await harness.settled(first)
    assert await harness.submit(data, submission_id="e-tjanst-4711") == first
    assert len([c for c in await list_cases(harness.pool) if c.case_number == first]) == 1


async def test_four_eyes(harness):
    _call, number = await open_case(harness)
    await harness.settled(number)
    await harness.act(number, "record-secrecy-review", OFFICER, rulings=[])
    await harness.act(number, "declare-no-conflict", OFFICER)
    state = await harness.state(number)
    scores = [{"criterion": c, "score": 3, "motivation": "Godtagbart."} for c in state.applicable_criteria()]
    # Another officer must declare no conflict of interest first, and even then only the assessor scores.
    assert "erik har inte förklarat att jäv" in await refused(harness, number, "score", OTHER_OFFICER, scores=scores)
    await harness.act(number, "declare-no-conflict", OTHER_OFFICER)
    assert "jävsprövat" in await refused(harness, number, "score", OTHER_OFFICER, scores=scores)
    await harness.act(number, "score", OFFICER, scores=scores)
    await prepare_approval(harness, number)
    # The assessor holds a decision maker's role too: still not for this case.
    assert "fyraögonsprincipen" in await refused(harness, number, "decide", "decision_maker:anna")
    assert "beslutsfattare" in await refused(harness, number, "decide", OTHER_OFFICER)
    # A decision maker who has not declared no conflict of interest may not decide either.
    assert "jäv" in await refused(harness, number, "decide", DECIDER)
    await harness.act(number, "declare-no-conflict", DECIDER)
    await harness.act(number, "decide", DECIDER)


async def test_more_than_requested_or_than_the_budget_is_refused(harness):
    _call, number = await assessed_case(harness)
    assert "sökt belopp" in await refused(harness, number, "prepare-decision", OFFICER, kind="approve",
                                          amount="600000.00", period_start="2030-01-01", period_end="2030-02-01")


async def test_a_decision_over_what_remains_of_the_budget_is_refused(harness):
    call, days = harness.call("export-samverkan-2021", budget="600000.00")
    first, second = [await harness.submit(harness.application(application_2021(), call, days)) for _ in range(2)]
    for number in (first, second):
        await assess(harness, number)
        await prepare_approval(harness, number)
    await harness.act(first, "decide", DECIDER)
    # The first grant reaches the call, which tells the cases still in the running what remains.
    for _ in range(200):
        if (await harness.settled(second)).budget_remaining is not None:
            break
        await asyncio.sleep(0.05)  # polling for the call workflow's signal, not waiting for a timer
    assert (await harness.state(second)).budget_remaining == Decimal("30000.00")
    # So the decision over what remains is refused by the validator: nothing written to history.
    reason = await refused(harness, second, "decide", DECIDER)
    assert reason == "Utlysningens budget räcker inte: 30\u00a0000\u00a0kr återstår."
    state = await harness.settled(second)
    assert state.stage is Stage.DECISION and state.decision is None and state.granted is None
    # A smaller approval that fits is taken.
    await prepare_approval(harness, second, amount="30000.00", replaces_proposal=True)
    assert (await harness.act(second, "decide", DECIDER)).stage is Stage.PAYMENTS


async def test_two_approvals_at_once_against_a_budget_for_one(harness):
    call, days = harness.call("export-samverkan-2021", budget="600000.00")
    numbers = [await harness.submit(harness.application(application_2021(), call, days)) for _ in range(2)]
    for number in numbers:
        await assess(harness, number)
        await prepare_approval(harness, number)
    results = await asyncio.gather(*(harness.act(n, "decide", DECIDER) for n in numbers), return_exceptions=True)
    approved = [r for r in results if not isinstance(r, Exception)]
    refusals = [r for r in results if isinstance(r, ActionRefused)]
    assert len(approved) == 1 and len(refusals) == 1
    # Neither knew of the other's grant: the ledger is what refused the second.
    assert str(refusals[0]) == "Utlysningens budget räcker inte: 30\u00a0000\u00a0kr återstår."
    async with harness.pool.connection() as conn:
        total = await (await conn.execute("SELECT sum(amount) FROM budget_grants WHERE call_id = %s",
                                          (call.id,))).fetchone()
    assert total[0] == Decimal("570000.00")


async def test_a_written_request_for_a_decision_after_six_months(harness):
    call, number = await open_case(harness)
    await harness.settled(number)
    assert "tidigast" in await refused(harness, number, "request-decision", APPLICANT, text="Vi begär ett beslut.")
    await harness.fast_forward(number, timedelta(days=190))
    receipt = await harness.act(number, "request-decision", APPLICANT, text="Vi begär ett beslut.")
    state = await harness.settled(number)
    assert state.decision_request.deadline - state.decision_request.requested_at >= timedelta(weeks=4)
    assert state.next_deadline == state.decision_request.deadline
    [row] = await list_cases(harness.pool, call_id=call.id)
    assert row.next_deadline == state.next_deadline
    assert "senast" in receipt.message
    await harness.fast_forward(number, timedelta(weeks=5))
    state = await harness.settled(number)
    assert state.decision_request.overdue and state.next_deadline is None
    assert "decision_overdue" in [e.kind for e in await case_events(harness.pool, number)]


async def test_resending_an_action_returns_the_first_receipt(harness):
    _call, number = await open_case(harness)
    await harness.settled(number)
    first = await harness.act(number, "record-secrecy-review", OFFICER, action_id="sekr-1", rulings=[])
    again = await harness.act(number, "record-secrecy-review", OFFICER, action_id="sekr-1", rulings=[])
    assert again == first
    await harness.settled(number)
    events = [e for e in await case_events(harness.pool, number) if e.event_id == "sekr-1"]
    assert len(events) == 1


async def test_refusals_write_nothing(harness):
    _call, number = await open_case(harness)
    await harness.settled(number)
    await refused(harness, number, "decide", DECIDER)  # nothing prepared
    await refused(harness, number, "declare-no-conflict", OFFICER)  # wrong stage
    await refused(harness, number, "record-secrecy-review", APPLICANT, rulings=[])  # wrong role
    await refused(harness, number, "prepare-decision", OFFICER, kind="dismiss", reasons="x")  # not late/incomplete


async def test_a_cases_first_workflow_task_gives_a_command_before_any_local_activity(smtp_harness):
    # A first task that ends without a command (its local activities outlive the task's heartbeat)
    # lets the next update run before the workflow's main method on the worker that takes the case
    # up, and after it on replay: a fault run failed that way (docs/decisions/0010-first-task-command.md).
    # Where letters go by e-mail, the case's first task e-mails the receipt: a local activity.
    harness = smtp_harness
    _call, number = await open_case(harness)
    await harness.settled(number)
    events = (await harness.handle(number).fetch_history()).events
    first = next(i for i, e in enumerate(events) if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)
    assert events[first + 1].event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES, [
        EventType.Name(e.event_type) for e in events[first:first + 4]]
    assert any(e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED for e in events[first:])
    assert [m.rcpt_tos for m in harness.smtp.messages] == [["anna.andersson@example.se"]]


def _markers(events) -> list[str]:
    return [e.marker_recorded_event_attributes.marker_name for e in events
            if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED]


async def test_the_intake_opens_the_case_so_that_its_first_task_waits_on_nothing(harness):
    # The case's opening (its first events, its stage and the receipt) is in the register when
    # the applicant has the case number (docs/decisions/0016-the-intake-opens-the-case.md).
    _call, number = await open_case(harness)
    state = await harness.state(number)
    intake = harness.client.get_workflow_handle(intake_workflow_id(state.submission_id))
    assert _markers((await intake.fetch_history()).events).count("core_local_activity") == 3
    assert [(e.kind, e.stage) for e in await case_events(harness.pool, number)] == [
        ("registered", "received"), ("checked", "completeness")]
    [row] = await list_cases(harness.pool)
    assert row.stage == "secrecy_review"
    [letter] = await list_letters(harness.pool, number)
    assert letter.kind == "receipt" and number in letter.subject
    assert await scalar(harness.pool, "SELECT array_agg(document_id || ': ' || kind) FROM case_documents"
                        " WHERE case_number = %s", (number,)) == ["application-v1: application"]

    state = await harness.settled(number)
    assert state.stage is Stage.SECRECY_REVIEW and not state.outbox
    # Nothing is left for the case to write, and letters do not go by e-mail here: no local activity,
    # and its search attributes came with its start, so its first task sends nothing at all.
    events = (await harness.handle(number).fetch_history()).events
    assert _markers(events) == []
    assert [EventType.Name(e.event_type) for e in events] == [
        "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED", "EVENT_TYPE_WORKFLOW_TASK_SCHEDULED",
        "EVENT_TYPE_WORKFLOW_TASK_STARTED", "EVENT_TYPE_WORKFLOW_TASK_COMPLETED"]
    attrs = (await harness.handle(number).describe()).typed_search_attributes
    assert attrs.get(sa.CASE_STAGE) == "secrecy_review" and attrs.get(sa.CALL_ID) == state.call.id
    assert len(await case_events(harness.pool, number)) == 2 and len(await list_letters(harness.pool, number)) == 1
    # What the case does next is written by the case.
    await harness.act(number, "record-secrecy-review", OFFICER, rulings=[])
    await harness.settled(number)
    [row] = await list_cases(harness.pool)
    assert row.stage == "assessment"


async def test_search_attributes_stay_whole_while_each_upsert_carries_only_what_changed(harness):
    # Every attribute sent is encoded again on each replay of the case, so only changes are sent;
    # Temporal keeps the rest, and operations must still see the whole picture.
    call, number = await assessed_case(harness)
    await prepare_approval(harness, number)
    await harness.act(number, "decide", DECIDER)
    state = await harness.settled(number)

    attrs = (await harness.handle(number).describe()).typed_search_attributes
    assert attrs.get(sa.CASE_STAGE) == "payments" and attrs.get(sa.CALL_ID) == call.id
    assert attrs.get(sa.OFFICER) == "anna" and attrs.get(sa.GRANTED_AMOUNT_ORE) == 57_000_000
    assert attrs.get(sa.REQUESTED_AMOUNT_ORE) == int(state.application.requested_amount * 100)
    assert attrs.get(sa.NEXT_DEADLINE) == state.next_deadline and attrs.get(sa.CLAIM_STATUS) is None

    events = (await harness.handle(number).fetch_history()).events
    started = set(events[0].workflow_execution_started_event_attributes.search_attributes.indexed_fields)
    upserts = [set(e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields)
               for e in events if e.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES]
    # The intake starts the case with its attributes. A new case has no officer, grant or claim yet:
    # there is nothing to unset, so they are not sent.
    assert started - {sa.NEXT_DEADLINE.name} == {sa.CASE_STAGE.name, sa.CALL_ID.name, sa.REQUESTED_AMOUNT_ORE.name}
    assert upserts and all(sa.CALL_ID.name not in u and u for u in upserts), upserts
    assert {sa.CASE_STAGE.name, sa.GRANTED_AMOUNT_ORE.name} <= upserts[-1]


async def test_the_2022_call_and_a_secrecy_review(harness):
    call, days = harness.call("saker-digitalisering-2022")
    data = application_2022()
    data["secret_sections"] = [{"section": "$.descriptions.challenge", "reason": "Kundernas sårbarheter."}]
    number = await harness.submit(harness.application(data, call, days))
    assert (await harness.settled(number)).stage is Stage.SECRECY_REVIEW
    assert "lagrum" in await refused(harness, number, "record-secrecy-review", OFFICER, rulings=[
        {"section": "$.descriptions.challenge", "secret": True, "reason": "Skulle skada företagen."}])
    await harness.act(number, "record-secrecy-review", OFFICER, rulings=[
        {"section": "$.descriptions.challenge", "secret": True, "legal_ground": "OSL 30 kap. 23 §",
         "reason": "Uppgifterna om kundernas sårbarheter skulle skada dem om de lämnades ut."}])
    await harness.settled(number)
    async with harness.pool.connection() as conn:
        row = await (await conn.execute(
            "SELECT content FROM case_documents WHERE case_number = %s AND kind = 'public_version'",
            (number,))).fetchone()
    assert row[0]["descriptions"]["challenge"] == "[Sekretess enligt OSL 30 kap. 23 §]"
    assert row[0]["descriptions"]["activities"] == data["descriptions"]["activities"]


async def test_the_call_ranks_its_assessed_cases_once_closed_and_proposes_funding_down_the_ranking(harness):
    call, days = harness.call("export-samverkan-2021", budget="1000000.00")
    numbers = [await harness.submit(harness.application(application_2021(), call, days)) for _ in range(3)]
    for number, score in zip(numbers, (3, 5, 4), strict=True):
        await assess(harness, number, score=score)
    call_handle = harness.client.get_workflow_handle_for(CallWorkflow.run, call_workflow_id(call.id))
    standing = await call_handle.query(CallWorkflow.standing)
    assert not standing.closed and standing.ranking == []  # assessed in competition: nothing before the close

    await harness.env.fast_forward(call_handle, timedelta(days=11))
    for _ in range(200):
        standing = await call_handle.query(CallWorkflow.standing)
        if len(standing.ranking) == 3:
            break
        await asyncio.sleep(0.05)  # polling for the call workflow, not waiting for a timer
    # Highest score first; each is asked 570 000 kr; the budget of 1 000 000 runs out at the second.
    assert standing.closed
    assert [(n, p.rank, p.amount) for n, p in standing.ranking] == [
        (numbers[1], 1, Decimal("570000.00")), (numbers[2], 2, Decimal("430000.00")), (numbers[0], 3, Decimal(0))]
    for number, rank in ((numbers[1], 1), (numbers[2], 2), (numbers[0], 3)):
        for _ in range(200):
            if (state := await harness.state(number)).funding is not None:
                break
            await asyncio.sleep(0.05)
        assert state.funding.rank == rank


async def test_a_new_case_gives_the_same_commands_whether_an_update_comes_with_its_first_task_or_after(harness):
    await _same_commands_with_an_update_in_the_first_task_or_after(harness)


async def test_the_same_holds_where_the_first_task_e_mails_the_receipt(smtp_harness):
    # Its first task has a local activity to run (decision 10), and the update's work comes after it.
    await _same_commands_with_an_update_in_the_first_task_or_after(smtp_harness)


async def _same_commands_with_an_update_in_the_first_task_or_after(harness) -> None:
    # A worker killed in a case's first task leaves the next worker the case's start and an
    # officer's update in one activation, and the SDK runs the update's handler before the
    # workflow's main method. On replay the SDK may run the main method first
    # (temporalio/sdk-python#1591). So a case must give the same commands in either order, or its
    # history does not replay (docs/decisions/0010-first-task-command.md).
    _call, number = await open_case(harness)
    started = (await harness.handle(number).fetch_history()).events[0].workflow_execution_started_event_attributes
    client, queue, copy = harness.client, f"cold-{uuid.uuid4().hex}", f"{number}-copy"
    # The same case, on a queue that no worker polls yet: its first task waits, and the update with it.
    await client.workflow_service.start_workflow_execution(StartWorkflowExecutionRequest(
        namespace=client.namespace, workflow_id=copy, workflow_type=WorkflowType(name="CaseWorkflow"),
        task_queue=TaskQueue(name=queue), input=started.input, search_attributes=started.search_attributes,
        request_id=uuid.uuid4().hex))
    command = build_command("record-secrecy-review", {"role": "officer", "id": "anna"}, {"rulings": []}, None)
    sent = asyncio.create_task(cases.act(client, copy, "record-secrecy-review", command))
    await _admitted(client, copy, cases.update_id(command))
    async with Worker(client, task_queue=queue, workflows=registry.workflows(),
                      workflow_runner=registry.workflow_runner(strict=True),
                      activities=registry.activities(harness.pool, Settings(), client)):
        assert (await sent).action_id == command.action_id
        await harness.settled(copy)
    # The original case takes the same update after its first task.
    await harness.settled(number)
    await harness.act(number, "record-secrecy-review", OFFICER, rulings=[])
    await harness.settled(number)

    def kinds(history) -> list[str]:
        return [EventType.Name(e.event_type).removeprefix("EVENT_TYPE_") for e in history.events]

    def commands(history) -> list[str]:
        return [k for k in kinds(history) if not k.startswith(("WORKFLOW_TASK_", "WORKFLOW_EXECUTION_UPDATE_"))]

    together = await client.get_workflow_handle(copy).fetch_history()
    after = await harness.handle(number).fetch_history()
    assert kinds(together)[:5] == ["WORKFLOW_EXECUTION_STARTED", "WORKFLOW_TASK_SCHEDULED", "WORKFLOW_TASK_STARTED",
                                   "WORKFLOW_TASK_COMPLETED", "WORKFLOW_EXECUTION_UPDATE_ACCEPTED"], kinds(together)
    first_completed = kinds(after).index("WORKFLOW_TASK_COMPLETED")
    assert kinds(after).index("WORKFLOW_EXECUTION_UPDATE_ACCEPTED") > first_completed + 1, kinds(after)
    assert commands(together) == commands(after), "\n".join(map(str, (commands(together), commands(after))))
    replayer = Replayer(workflows=registry.workflows(), workflow_runner=registry.workflow_runner(strict=True),
                        data_converter=CONVERTER)
    await replayer.replay_workflow(together)
    await replayer.replay_workflow(after)


async def _admitted(client, workflow_id: str, update_id: str) -> None:
    """Until the server holds the update: it answers a poll for its acceptance by waiting, not by not knowing it."""
    ref = UpdateRef(workflow_execution=WorkflowExecution(workflow_id=workflow_id), update_id=update_id)
    accepted = WaitPolicy(lifecycle_stage=UpdateStage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ACCEPTED)
    for _ in range(200):
        try:
            await client.workflow_service.poll_workflow_execution_update(PollWorkflowExecutionUpdateRequest(
                namespace=client.namespace, update_ref=ref, identity="test", wait_policy=accepted),
                timeout=timedelta(milliseconds=300))
        except RPCError as error:
            if error.status in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):  # the client's timeout
                return
            if error.status is not RPCStatusCode.NOT_FOUND:
                raise
        else:
            raise AssertionError("the update was accepted with no worker polling")
        await asyncio.sleep(0.05)  # polling for the server, not waiting for a timer
    raise AssertionError("the update never reached the server")
