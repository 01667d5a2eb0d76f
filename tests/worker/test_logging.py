"""Logs: JSON lines or console lines, and a personnummer never reaches either."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import logging
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
import structlog
from pydantic import BaseModel
from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner

from domain.lifecycle import Stage
from infra.settings import Settings
from stack.embedded import find_temporal_binary
from tests.keys import CONVERTER
from tests.worker.helpers import FakePool
from worker.interceptors import activity_log_context
from worker.logging import (
    MASK,
    bind_case,
    case_number_of,
    configure_logging,
    flatten_temporal_details,
    mask_personnummer,
    mask_text,
)
from worker.main import Components, Pool, run_worker

TEMPORAL = find_temporal_binary()


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


def json_lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("19850101-1234", MASK),
        ("198501011234", MASK),
        ("850101-1234", MASK),
        ("8501011234", MASK),
        ("121212+1212", MASK),  # over 100 years old
        ("19850161-1234", MASK),  # samordningsnummer: day + 60
        ("Sökande 850101-1234, enskild firma", f"Sökande {MASK}, enskild firma"),
        ("pnr=198512311234.", f"pnr={MASK}."),
        ("850101-1234 och 900202-2345", f"{MASK} och {MASK}"),
    ],
)
def test_a_personnummer_is_masked(text, expected):
    assert mask_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "556000-0167",  # an organisationsnummer: digits 3-4 are 20 or more
        "165560000167",  # its 12-digit form
        "2021-00123",  # a case number
        "570000.00",  # money
        "4512345678901",  # longer than any personnummer
        "20240315-1234-7abc-9def-0123456789ab",  # a UUID (run id) that happens to start with digits
        "8513011234",  # month 13
    ],
)
def test_what_is_not_a_personnummer_is_left_alone(text):
    assert mask_text(text) == text


def test_the_processor_masks_every_value_at_any_depth():
    event = mask_personnummer(
        None,
        "info",
        {
            "event": "applicant 19850101-1234",
            "pnr": 198501011234,
            "amount_ore": 57000000,
            "nested": {"people": [{"id": "850101-1234"}], "org": "556000-0167"},
            "flag": True,
        },
    )
    assert event == {
        "event": f"applicant {MASK}",
        "pnr": MASK,
        "amount_ore": 57000000,
        "nested": {"people": [{"id": MASK}], "org": "556000-0167"},
        "flag": True,
    }


def test_json_logs_mask_structlog_events_stdlib_records_and_tracebacks(restore_logging):
    stream = io.StringIO()
    configure_logging("json", stream=stream)
    log = bind_case(case_number="2021-00123", stage="assessment", workflow_id="2021-00123", run_id="r1")
    log.info("letter sent", recipient="Anna, 850101-1234")
    try:
        raise ValueError("no such applicant 19850101-1234")
    except ValueError:
        log.exception("lookup failed")
    # What the Temporal SDK's activity.logger does: a stdlib record with the details in `extra`.
    logging.getLogger("temporalio.activity").warning(
        "retrying for 850101-1234", extra={"temporal_activity": {"activity_id": "1", "note": "198501011234"}}
    )

    output = stream.getvalue()
    assert "1234" not in output.replace("2021-00123", "")
    sent, failed, retry = json_lines(stream)
    assert sent["event"] == "letter sent"
    assert sent["recipient"] == f"Anna, {MASK}"
    assert (sent["case_number"], sent["stage"], sent["workflow_id"], sent["run_id"]) == (
        "2021-00123", "assessment", "2021-00123", "r1",
    )
    assert sent["level"] == "info" and "timestamp" in sent
    assert MASK in str(failed["exception"]) and "ValueError" in str(failed["exception"])
    assert retry["event"] == f"retrying for {MASK}"
    assert retry["temporal_activity"] == {"activity_id": "1", "note": MASK}


def test_console_logs_are_masked_too(restore_logging):
    stream = io.StringIO()
    configure_logging("console", stream=stream)
    structlog.stdlib.get_logger("test").info("applicant 850101-1234", case_number="2021-00123")
    output = stream.getvalue()
    assert MASK in output and "850101" not in output
    assert not output.lstrip().startswith("{")


def test_bind_case_leaves_out_what_is_unknown(restore_logging):
    stream = io.StringIO()
    configure_logging("json", stream=stream)
    bind_case(case_number="2021-00123").info("received")
    (line,) = json_lines(stream)
    assert line["case_number"] == "2021-00123"
    assert not {"stage", "workflow_id", "run_id"} & set(line)


def test_temporal_details_in_extra_become_the_fields_structlog_events_carry():
    from_workflow = flatten_temporal_details(
        None, "info", {"temporal_workflow": {"workflow_id": "2021-00123", "run_id": "r1", "attempt": 1}}
    )
    assert (from_workflow["workflow_id"], from_workflow["run_id"], from_workflow["case_number"]) == (
        "2021-00123", "r1", "2021-00123",
    )
    from_activity = flatten_temporal_details(
        None,
        "info",
        {
            "case_number": "2021-00456",  # bound by the interceptor from the activity's input: kept
            "temporal_activity": {
                "workflow_id": "call-export-2021", "workflow_run_id": "r2", "activity_type": "budget_grant",
                "attempt": 3,
            },
        },
    )
    fields = ("workflow_id", "run_id", "activity_type", "attempt", "case_number")
    assert {key: from_activity[key] for key in fields} == {
        "workflow_id": "call-export-2021", "run_id": "r2", "activity_type": "budget_grant", "attempt": 3,
        "case_number": "2021-00456",
    }
    assert "case_number" not in flatten_temporal_details(None, "info", {"temporal_workflow": {"workflow_id": "x"}})


@pytest.mark.parametrize(
    ("workflow_id", "expected"),
    [("2021-00123", "2021-00123"), ("call-export-2021", None), ("archive-2021-00123", None), (None, None)],
)
def test_only_a_case_number_pattern_is_taken_for_a_case_number(workflow_id, expected):
    assert case_number_of(workflow_id) == expected


# --- a real activity on a real worker -------------------------------------------------------------


class LetterNote(BaseModel):
    case_number: str
    stage: Stage
    recipient: str  # personal data: must never reach a log unmasked


class Ping(BaseModel):
    text: str


_log = structlog.stdlib.get_logger("tests.letters")


@activity.defn
async def note_letter(note: LetterNote) -> str:
    _log.info("letter noted", recipient=note.recipient)
    # A standard-library record, as the SDK's own activity.logger writes it.
    activity.logger.info("sent to %s", note.recipient)
    return "ok"


@activity.defn
async def ping(request: Ping) -> str:
    _log.info("pinged")
    return request.text


@workflow.defn
class LoggingCase:
    @workflow.run
    async def run(self, note: LetterNote) -> str:
        workflow.logger.info("case workflow running")
        return await workflow.execute_activity(note_letter, note, start_to_close_timeout=timedelta(seconds=10))


@workflow.defn
class LoggingCall:
    @workflow.run
    async def run(self, note: LetterNote) -> str:
        # A call's workflow acting for one case: the case number comes from the input, not the id.
        await workflow.execute_activity(ping, Ping(text="hej"), start_to_close_timeout=timedelta(seconds=10))
        return await workflow.execute_activity(note_letter, note, start_to_close_timeout=timedelta(seconds=10))


async def _open_pool(url: str) -> Pool:
    return FakePool(url)


async def _no_upgrade(url: str) -> None:
    return None


async def test_lines_logged_in_a_real_activity_carry_the_case_and_workflow_ids_and_no_personnummer(restore_logging):
    stream = io.StringIO()
    configure_logging("json", stream=stream)
    components = Components(
        workflows=lambda: [LoggingCase, LoggingCall],
        workflow_runner=UnsandboxedWorkflowRunner,
        activities=lambda pool, settings, client: [note_letter, ping],
        open_pool=_open_pool,
        upgrade=_no_upgrade,
    )
    settings = Settings(task_queue=f"logging-{uuid.uuid4()}", database_url="postgresql://unused/test")
    note = LetterNote(case_number="2021-00123", stage=Stage.ASSESSMENT, recipient="Anna, 850101-1234")
    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=TEMPORAL, data_converter=CONVERTER
    ) as env:
        stop, ready = asyncio.Event(), asyncio.Event()
        # The worker as `grantflow worker` builds it, interceptors included.
        worker = asyncio.create_task(
            run_worker(settings, stop=stop, ready=ready, client=env.client, components=components)
        )
        await asyncio.wait_for(ready.wait(), 10)
        try:
            case = await env.client.start_workflow(
                LoggingCase.run, note, id="2021-00123", task_queue=settings.task_queue
            )
            assert await case.result() == "ok"
            call = await env.client.start_workflow(
                LoggingCall.run, note.model_copy(update={"case_number": "2021-00456"}),
                id=f"call-{uuid.uuid4()}", task_queue=settings.task_queue,
            )
            assert await call.result() == "ok"
        finally:
            stop.set()
            await asyncio.wait_for(worker, 15)
    _log.info("after the activities")

    output = stream.getvalue()
    assert "850101" not in output
    lines = json_lines(stream)

    def logged(event: str, workflow_id: str) -> dict[str, object]:
        (line,) = [
            line for line in lines if str(line["event"]).startswith(event) and line.get("workflow_id") == workflow_id
        ]
        return line

    noted = logged("letter noted", "2021-00123")
    assert noted["recipient"] == f"Anna, {MASK}"
    assert {key: noted[key] for key in ("case_number", "stage", "run_id", "activity_type", "attempt")} == {
        "case_number": "2021-00123", "stage": "assessment", "run_id": case.result_run_id,
        "activity_type": "note_letter", "attempt": 1,
    }
    sent = logged("sent to", "2021-00123")  # the SDK's stdlib logger, through the same chain
    assert str(sent["event"]).startswith(f"sent to Anna, {MASK}")
    assert (sent["case_number"], sent["stage"], sent["run_id"]) == ("2021-00123", "assessment", case.result_run_id)
    running = logged("case workflow running", "2021-00123")  # workflow.logger, in workflow code
    assert (running["case_number"], running["run_id"]) == ("2021-00123", case.result_run_id)

    for_call = logged("letter noted", call.id)
    assert (for_call["case_number"], for_call["run_id"]) == ("2021-00456", call.result_run_id)
    pinged = logged("pinged", call.id)
    assert pinged["activity_type"] == "ping" and pinged["run_id"] == call.result_run_id
    assert not {"case_number", "stage"} & set(pinged)

    # Cleared after each activity: nothing of it is left on the lines that follow.
    (after,) = [line for line in lines if line["event"] == "after the activities"]
    assert not {"workflow_id", "run_id", "case_number", "stage", "activity_type"} & set(after)


def test_the_context_of_an_activity_without_a_case_leaves_the_case_out():
    info = dataclasses.replace(
        ActivityEnvironment.default_info(),
        workflow_id="archive-run", workflow_run_id="r3", activity_type="archive_case", attempt=2,
    )
    assert activity_log_context(info, [Ping(text="x")]) == {
        "workflow_id": "archive-run", "run_id": "r3", "activity_type": "archive_case", "attempt": 2,
    }


# --- a database error never brings its input to the log ------------------------------------------

SECRET = "Tolvan Tolvansson, tolvan@example.se"


class Statement(BaseModel):
    database_url: str
    text: str


@activity.defn
async def store_as_number(statement: Statement) -> None:
    # Not translated by the activity itself (activities.db.fails_for_good): the worker must see to it.
    import psycopg

    async with await psycopg.AsyncConnection.connect(statement.database_url) as conn:
        await conn.execute("SELECT %s::int", (statement.text,))  # PostgreSQL quotes the text it refuses


@activity.defn
async def check_model(statement: Statement) -> None:
    try:
        Ping.model_validate({"text": [statement.text]})  # pydantic quotes the input it refuses
    except Exception as error:
        raise RuntimeError("could not check the model") from error


@workflow.defn
class FailingStep:
    @workflow.run
    async def run(self, statement: Statement) -> str:
        failures = []
        for step in (store_as_number, check_model):
            try:
                await workflow.execute_activity(step, statement, start_to_close_timeout=timedelta(seconds=10),
                                                retry_policy=RetryPolicy(maximum_attempts=1))
            except ActivityError as error:
                failures.append(str(error.cause))
        return "; ".join(failures)


async def test_a_failing_activity_logs_no_input_from_a_database_or_validation_error(restore_logging, db):
    stream = io.StringIO()
    configure_logging("json", stream=stream)
    components = Components(
        workflows=lambda: [FailingStep],
        workflow_runner=UnsandboxedWorkflowRunner,
        activities=lambda pool, settings, client: [store_as_number, check_model],
        open_pool=_open_pool,
        upgrade=_no_upgrade,
    )
    settings = Settings(task_queue=f"logging-{uuid.uuid4()}", database_url="postgresql://unused/test")
    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=TEMPORAL, data_converter=CONVERTER
    ) as env:
        stop, ready = asyncio.Event(), asyncio.Event()
        worker = asyncio.create_task(
            run_worker(settings, stop=stop, ready=ready, client=env.client, components=components)
        )
        await asyncio.wait_for(ready.wait(), 10)
        try:
            failures = await env.client.execute_workflow(
                FailingStep.run, Statement(database_url=db, text=SECRET), id=f"failing-{uuid.uuid4()}",
                task_queue=settings.task_queue,
            )
        finally:
            stop.set()
            await asyncio.wait_for(worker, 15)

    output = stream.getvalue()
    # The SDK logged both failures with their tracebacks, and neither the log nor what Temporal keeps quotes the input.
    assert output.count("Completing activity as failed") == 2, output
    assert "SQLSTATE 22P02" in output and "message withheld" in output
    assert "Tolvan" not in output and "tolvan@" not in output
    assert "Tolvan" not in failures and "SQLSTATE 22P02" in failures
