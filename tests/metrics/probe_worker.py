"""`grantflow worker` with one more workflow, MetricsProbe, whose tasks and activities fail on purpose.

`python -m tests.metrics.probe_worker worker ...` runs the real command line (cli.main); the worker also
runs MetricsProbe: its first workflow task raises (a failed workflow task, retried), then it runs an
activity and a local activity that each fail twice before they succeed. The SDK exports a failure
counter only once something failed; the probe makes a healthy worker export them all, so that the
dashboard and the alerts can be checked against the names a worker really serves.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.common import RetryPolicy

from worker import registry

PROBE = "MetricsProbe"
RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=100), backoff_coefficient=1.0)
_failed_a_task = False  # this process's first probe task fails; its retry runs on (workflows run unsandboxed)


@activity.defn(name="metrics_probe_flaky")
async def flaky(key: str) -> str:
    if activity.info().attempt < 3:
        raise RuntimeError(f"failing on purpose ({key}, attempt {activity.info().attempt})")
    return key


@workflow.defn(name=PROBE)
class MetricsProbe:
    @workflow.run
    async def run(self) -> str:
        global _failed_a_task
        if not _failed_a_task and not workflow.unsafe.is_replaying():
            _failed_a_task = True
            raise RuntimeError("failing this workflow task on purpose")
        await workflow.execute_activity(flaky, "activity", start_to_close_timeout=timedelta(seconds=30),
                                        retry_policy=RETRY)
        await workflow.execute_local_activity(flaky, "local", start_to_close_timeout=timedelta(seconds=30),
                                              retry_policy=RETRY)
        return "done"


_workflows, _activities = registry.workflows, registry.activities
registry.workflows = lambda: [*_workflows(), MetricsProbe]  # type: ignore[method-assign]


def _with_flaky(*args: Any) -> list[Any]:
    return [*_activities(*args), flaky]


registry.activities = _with_flaky  # type: ignore[assignment]

if __name__ == "__main__":
    from cli.main import main

    sys.exit(main())
