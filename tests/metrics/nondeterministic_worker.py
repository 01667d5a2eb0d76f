"""`grantflow worker` with a deliberately non-deterministic change to the workflows' code.

`python -m tests.metrics.nondeterministic_worker worker ...` runs the real command line (cli.main) with
one thing changed, for this process only: every activity a workflow runs (a case's checks and
register writes first of all) is preceded by a one-second timer. Code that has been "deployed" so under
running cases no longer matches their histories: replaying one, the worker issues a timer where
the history recorded an activity, and each workflow task of the case fails with a
non-determinism error, as after a careless change to workflows/case.py.

Nothing in production code knows about this. The deployed worker runs workflows unsandboxed
(worker/registry.py), so patching temporalio.workflow here reaches the workflows' calls.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from typing import Any

from temporalio import workflow


def _with_a_timer_first(start: Any) -> Any:
    async def started(*args: Any, **kwargs: Any) -> Any:
        await workflow.sleep(timedelta(seconds=1))  # a command no history recorded
        return await start(*args, **kwargs)

    return started


for _name in ("execute_activity", "execute_activity_method", "execute_local_activity",
              "execute_local_activity_method"):
    setattr(workflow, _name, _with_a_timer_first(getattr(workflow, _name)))

if __name__ == "__main__":
    from cli.main import main

    sys.exit(main())
