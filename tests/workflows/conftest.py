"""A real Temporal dev server with per-workflow virtual clocks, real activities, real PostgreSQL.

Time moves only when a test says so (`fast_forward`), so a test can answer a completion
request on day 13 and let another one run out on day 15, with no sleeping.
"""

from __future__ import annotations

import asyncio
import copy
import json
import shutil
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle
from temporalio.client import Interceptor as ClientInterceptor
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment
from temporalio.testing._timeskipping import TimeSkippingConfig
from temporalio.worker import Worker

from activities.db import open_pool
from domain.call import Call, shifted
from domain.case import CaseState, Receipt
from domain.clock import stockholm_date
from infra.calls import CallCatalog, load_catalog
from infra.settings import Settings, SmtpConfig
from services import cases
from tests.activities.support import RecordingHandler, free_port, start_smtp
from tests.keys import CONVERTER
from worker import registry
from worker.interceptors import LogContextInterceptor
from workflows import search_attributes as sa

TEMPORAL = shutil.which("temporal") or str(Path(sys.executable).with_name("temporal"))
SA_TYPES = {"KEYWORD": "Keyword", "INT": "Int", "DATETIME": "Datetime"}


def _open_copy(call: Call, days_left: int) -> Call:
    """The seed call moved so that its last day is `days_left` from today."""
    days = (stockholm_date(datetime.now(UTC)) + timedelta(days=days_left) - call.window.closes).days
    return shifted(call, days=days, new_id=f"{call.id}-test")


@dataclass
class Harness:
    env: WorkflowEnvironment
    client: Client
    catalog: CallCatalog
    task_queue: str
    database_url: str
    pool: Any
    smtp: Any = None  # the RecordingHandler of smtp_harness

    def call(self, seed_id: str, *, days_left: int = 10, budget: str | None = None) -> tuple[Call, int]:
        """An open copy of a seed call (and how many days its dates moved), added to the catalog."""
        seed = self.catalog.get(seed_id)
        call = _open_copy(seed, days_left)
        if budget is not None:
            call = call.model_copy(update={"funding": call.funding.model_copy(update={"budget": Decimal(budget)})})
        self.catalog.calls[call.id] = call
        return call, (call.window.closes - seed.window.closes).days

    def application(self, data: dict[str, Any], call: Call, days: int) -> dict[str, Any]:
        moved = copy.deepcopy(data)
        moved["call_id"] = call.id
        # From today (when it is received) to the end of the year: one budget year, within the call's dates.
        today = stockholm_date(datetime.now(UTC))
        moved["project"]["start"], moved["project"]["end"] = today.isoformat(), date(today.year, 12, 31).isoformat()
        return moved

    async def submit(self, data: dict[str, Any], **kwargs: Any) -> str:
        intake = await cases.submit(self.client, self.catalog, json.dumps(data), task_queue=self.task_queue, **kwargs)
        return intake.case_number

    async def act(self, number: str, action: str, actor: str, action_id: str | None = None, **payload: Any) -> Receipt:
        role, _, person = actor.partition(":")
        command = cases.build_command(action, {"role": role, "id": person}, payload, action_id)
        return await cases.act(self.client, number, action, command)

    async def state(self, number: str) -> CaseState:
        return await cases.case_state(self.client, number)

    def handle(self, number: str) -> WorkflowHandle[Any, Any]:
        return self.client.get_workflow_handle(number)

    async def fast_forward(self, number: str, by: timedelta) -> None:
        assert await self.env.fast_forward(self.handle(number), by)

    async def history_length(self, number: str) -> int:
        return len((await self.handle(number).fetch_history()).events)

    async def settled(self, number: str) -> CaseState:
        """The case's state once its outbox is carried out (the register and letters written).

        Polled for up to a minute: on a loaded 2-core CI machine a case's activities may queue behind
        other tests' for many seconds, and a quiet machine returns in milliseconds all the same."""
        for _ in range(1200):
            try:
                state = await self.state(number)
            except RPCError as error:
                if error.status is not RPCStatusCode.FAILED_PRECONDITION:
                    raise
                await asyncio.sleep(0.05)  # a run just continued as new has not had its first task yet
                continue
            raw = (await self.handle(number).describe()).raw_description
            if not state.outbox and not raw.pending_activities and not raw.HasField("pending_workflow_task"):
                return state
            await asyncio.sleep(0.05)  # polling for the worker, not waiting for a timer
        raise AssertionError(f"case {number} did not settle")


async def _harness(db, *dynamic_config: str, settings: Settings | None = None, strict: bool = True,
                   interceptors: Sequence[ClientInterceptor] = ()):
    """`strict=False`: the deployed worker's runner (no sandbox); `interceptors`: the client's (and so the worker's)."""
    search_attributes = [f"{key.name}={SA_TYPES[key.indexed_value_type.name]}" for key in sa.ALL]
    env = await WorkflowEnvironment.start_time_skipping_v2(
        ts_config=TimeSkippingConfig(enabled=False),
        dev_server_existing_path=TEMPORAL,
        dev_server_extra_args=[
            *[arg for value in ("frontend.WorkflowTimeSkippingEnabled=true", *dynamic_config)
              for arg in ("--dynamic-config-value", value)],
            *[arg for pair in search_attributes for arg in ("--search-attribute", pair)],
        ],
        data_converter=CONVERTER,
    )
    pool = await open_pool(db)
    task_queue = f"test-{uuid.uuid4().hex}"
    client = env.client if not interceptors else Client(
        env.client.service_client, namespace=env.client.namespace, data_converter=CONVERTER,
        interceptors=interceptors)
    # The worker's own lists: a workflow or activity left out of the registry fails here too.
    worker = Worker(
        client,
        task_queue=task_queue,
        workflows=registry.workflows(),
        workflow_runner=registry.workflow_runner(strict=strict),
        activities=registry.activities(pool, settings or Settings(), client),
        interceptors=[LogContextInterceptor()],
    )
    async with worker:
        yield Harness(env=env, client=client, catalog=load_catalog(), task_queue=task_queue,
                      database_url=db, pool=pool)
    await pool.close()


@pytest.fixture
async def harness(db):
    async for h in _harness(db):
        yield h


@pytest.fixture
async def short_history_harness(db):
    """A server that suggests continue-as-new after 60 events, as a real one does after thousands."""
    async for h in _harness(db, "limit.historyCount.suggestContinueAsNew=60"):
        yield h


@pytest.fixture
async def smtp_harness(db):
    """A harness whose letters go to a real SMTP server on loopback; `harness.smtp` is what it received."""
    handler = RecordingHandler()
    port = free_port()
    controller = start_smtp(handler, port)
    settings = Settings(smtp=SmtpConfig(host="127.0.0.1", port=port, sender="registrator@myndigheten.example",
                                        starttls=False))
    try:
        async for h in _harness(db, settings=settings):
            h.smtp = handler
            yield h
    finally:
        controller.stop()
