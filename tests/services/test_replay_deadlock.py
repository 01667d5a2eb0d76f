"""A replay fails a workflow task that runs past the deadlock limit, as the deployed worker does.

The replay runs each task on its own thread, where the SDK's own check is off (services/replay_deadlock.py).
A history is recorded from a real run on a dev server; then code that, on replay, blocks past the
limit, never yields, or never yields and swallows the interruption is replayed against it, with a
limit of a fraction of a second so that the test does not wait two.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from temporalio import workflow
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from services.replay import RecordedCase, new_replayer, replay_cases
from worker import registry

TEMPORAL = shutil.which("temporal") or str(Path(sys.executable).with_name("temporal"))
LIMIT = 0.3


@workflow.defn(name="Counting")
class Recorded:
    @workflow.run
    async def run(self, n: int) -> int:
        return n + 1


@workflow.defn(name="Counting")
class UnderTheLimit:
    @workflow.run
    async def run(self, n: int) -> int:
        _busy(LIMIT / 3)
        return n + 1


@workflow.defn(name="Counting")
class BlocksPastTheLimit:
    @workflow.run
    async def run(self, n: int) -> int:
        _busy(1.5 * LIMIT)  # returns by itself: after the limit, before the watch interrupts at twice it
        return n + 1


@workflow.defn(name="Counting")
class NeverYields:
    @workflow.run
    async def run(self, n: int) -> int:
        while True:
            n += 1


@workflow.defn(name="Counting")
class SwallowsTheInterruption:
    @workflow.run
    async def run(self, n: int) -> int:
        try:
            while True:
                n += 1
        except BaseException:  # the careless workflow code this is about
            return n


def _busy(seconds: float) -> None:
    """Work without yielding: what blocks a workflow task (a wait would be the same to the check)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


@pytest.fixture
async def recorded() -> dict[str, Any]:
    async with await WorkflowEnvironment.start_local(dev_server_existing_path=TEMPORAL) as env:
        async with Worker(env.client, task_queue="counting", workflows=[Recorded],
                          workflow_runner=registry.workflow_runner()):
            handle = await env.client.start_workflow(Recorded.run, 1, id="counting", task_queue="counting")
            assert await handle.result() == 2
        return (await handle.fetch_history()).to_json_dict()


def _cases(history: dict[str, Any], n: int) -> list[RecordedCase]:
    return [RecordedCase(case_number=f"counting-{i}", workflow_id="counting", source="archive",
                         run_ids=[f"run-{i}"], histories=[history]) for i in range(n)]


async def test_a_task_within_the_limit_replays(recorded):
    [report] = await replay_cases(_cases(recorded, 1), new_replayer(None, [UnderTheLimit], task_limit=LIMIT))
    assert report.ok, report.runs


@pytest.mark.parametrize("code", [BlocksPastTheLimit, NeverYields, SwallowsTheInterruption])
async def test_a_task_past_the_limit_fails_the_replay_and_the_next_ones_are_replayed(recorded, code):
    # Three copies through one Replayer: nothing of an interrupted workflow is left to stop the next.
    reports = await replay_cases(_cases(recorded, 3), new_replayer(None, [code], task_limit=LIMIT))
    assert [report.case_number for report in reports] == ["counting-0", "counting-1", "counting-2"]
    for report in reports:
        [run] = report.runs
        assert not run.ok and not run.nondeterminism
        assert "TMPRL1101" in (run.problem or "") and f"within {LIMIT:g} second(s)" in (run.problem or "")
