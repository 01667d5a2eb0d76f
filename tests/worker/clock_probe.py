"""A workflow that reads the wall clock: what the tests' sandbox must refuse.

In a module of its own, with nothing else imported: the sandbox re-imports it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from temporalio import workflow


@workflow.defn
class ClockProbeWorkflow:
    @workflow.run
    async def run(self) -> str:
        return datetime.now(UTC).isoformat()
