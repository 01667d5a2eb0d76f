"""A step of a case that fails for good stops, visibly, keeps its effect, and goes on when operations resume it."""

from __future__ import annotations

import asyncio

import pytest
from temporalio.client import WorkflowExecutionStatus

from activities.register import case_events
from domain.case import Actor, CaseState, DecisionKind, PrepareDecision, RecordEvent, Role
from domain.lifecycle import Stage
from services import cases
from services.cases import ActionRefused, NotRegistered
from tests.factories import application_2021
from tests.workflows.test_case_workflow import OFFICER, open_case
from workflows import search_attributes as sa
from workflows.intake import intake_workflow_id

OPERATIONS = "operations:olle"


async def stalled(harness, number: str) -> CaseState:
    for _ in range(200):
        state = await harness.state(number)
        if state.stalled is not None:
            return state
        await asyncio.sleep(0.05)  # polling for the worker, not waiting for a timer
    raise AssertionError(f"case {number} did not stop")


async def details(harness, number: str) -> str:
    metadata = await harness.handle(number).query("__temporal_workflow_metadata")
    return str(metadata.current_details)


async def test_a_register_write_the_database_refuses_stops_the_step_until_operations_resume_it(harness):
    _, number = await open_case(harness)
    assert (await harness.settled(number)).stage is Stage.SECRECY_REVIEW
    # A constraint the officer's entry breaks: the database refuses the write however often it is tried.
    async with harness.pool.connection() as conn:
        await conn.execute("ALTER TABLE case_events ADD CONSTRAINT refuse_review "
                           "CHECK (kind <> 'RecordSecrecyReview') NOT VALID")

    receipt = await harness.act(number, "record-secrecy-review", OFFICER, action_id="review-1", rulings=[])
    assert receipt.stage is Stage.ASSESSMENT

    state = await stalled(harness, number)
    assert (state.stalled.step, state.stalled.error) == ("register", "CheckViolation")
    # Nothing lost: the entry waits in the outbox, and the case itself goes on running.
    assert [e.event_id for e in state.outbox if isinstance(e, RecordEvent)] == ["review-1"]
    description = await harness.handle(number).describe()
    assert description.status is WorkflowExecutionStatus.RUNNING
    assert description.typed_search_attributes.get(sa.CASE_STALLED) == "register"
    assert (await harness.client.count_workflows(f"CaseStalled = 'register' AND WorkflowId = '{number}'")).count == 1
    assert "Stoppat" in await details(harness, number) and "CheckViolation" in await details(harness, number)
    assert "RecordSecrecyReview" not in [e.kind for e in await case_events(harness.pool, number)]

    with pytest.raises(ActionRefused, match="drift"):
        await harness.act(number, "resume", OFFICER)

    async with harness.pool.connection() as conn:
        await conn.execute("ALTER TABLE case_events DROP CONSTRAINT refuse_review")
    await harness.act(number, "resume", OPERATIONS, action_id="resume-1")

    state = await harness.settled(number)
    assert state.stalled is None and not state.outbox and state.stage is Stage.ASSESSMENT
    kinds = [e.kind for e in await case_events(harness.pool, number)]
    assert kinds[-2:] == ["RecordSecrecyReview", "Resume"]
    description = await harness.handle(number).describe()
    assert description.typed_search_attributes.get(sa.CASE_STALLED) is None
    assert "Stoppat" not in await details(harness, number)

    with pytest.raises(ActionRefused, match="Inget steg"):
        await harness.act(number, "resume", OPERATIONS)


async def test_an_application_the_register_refuses_fails_its_intake_and_the_submitter_is_told(harness):
    async with harness.pool.connection() as conn:
        await conn.execute("ALTER TABLE cases ADD CONSTRAINT refuse_subject CHECK (subject NOT LIKE '%Tolvan%')")
    call, days = harness.call("export-samverkan-2021")
    data = harness.application(application_2021(), call, days)
    data["project"]["title"] = "Projekt för Tolvan Tolvansson"
    with pytest.raises(NotRegistered) as caught:
        await harness.submit(data, submission_id="refused-1")
    assert "CheckViolation" in str(caught.value) and "intake-refused-1" in str(caught.value)
    assert "Tolvan" not in str(caught.value)
    # A failed intake, as Temporal UI shows it, rather than one retrying for ever.
    description = await harness.client.get_workflow_handle(intake_workflow_id("refused-1")).describe()
    assert description.status is WorkflowExecutionStatus.FAILED


async def test_a_command_from_another_client_with_a_nul_is_refused_by_the_case_before_its_history(harness):
    _, number = await open_case(harness)
    await harness.settled(number)
    before = await harness.history_length(number)
    # Built without validation, as a client that does not use these models might send it.
    command = PrepareDecision.model_construct(
        action_id="dismiss-1", actor=Actor(id="anna", role=Role.OFFICER), kind=DecisionKind.DISMISS,
        amount=None, period_start=None, period_end=None, conditions=[], reasons="Avvisas\x00", unseen_material=None,
        advance=None, advance_reasons=None, payee_bankgiro=None, final_report_due=None,
    )
    with pytest.raises(ActionRefused) as caught:
        await cases.act(harness.client, number, "prepare-decision", command)
    assert "Avvisas" not in str(caught.value)
    assert await harness.history_length(number) == before
    assert (await harness.state(number)).prepared is None
