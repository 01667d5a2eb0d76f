"""The grantflow worker process: polls the task queue for workflow and activity tasks until told to stop."""

from __future__ import annotations

import asyncio
import functools
import gc
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

import structlog
from temporalio.client import Client
from temporalio.worker import Worker, WorkflowRunner

from infra.errors import InputError
from infra.settings import Settings, SettingsError
from infra.temporal import TemporalUnavailable, collect_clients, connect
from infra.tracing import start_from_env, worker_interceptors
from worker.interceptors import LogContextInterceptor
from worker.logging import configure_logging

# On shutdown, running activities get this long to finish (a letter half sent, a ledger write)
# before they are cancelled; whatever is cancelled is retried by Temporal on the next worker.
GRACEFUL_SHUTDOWN = timedelta(seconds=10)

# The same codes as the rest of the CLI: 2 a setting to fix, 3 Temporal or the stack unavailable.
EXIT_OK, EXIT_CONFIG, EXIT_UNAVAILABLE, EXIT_INTERRUPTED = 0, 2, 3, 130


class Pool(Protocol):
    async def close(self) -> None: ...


@dataclass(frozen=True)
class Components:
    """What the runtime takes from the application's code. Tests pass their own."""

    workflows: Callable[[], list[type]]
    workflow_runner: Callable[[], WorkflowRunner]
    activities: Callable[[Any, Settings, Client], list[Callable[..., Any]]]
    open_pool: Callable[[str], Awaitable[Pool]]
    upgrade: Callable[[str], Awaitable[object]]  # database migrations, for `grantflow up`


def default_components(settings: Settings | None = None) -> Components:
    # Imported on use, not at module level: these pull in every workflow and activity module,
    # which CLI commands that never run a worker should neither pay for nor fail on.
    import activities.db
    from worker import registry

    return Components(
        workflows=registry.workflows,
        workflow_runner=registry.workflow_runner,
        activities=registry.activities,
        # The pool's size is a setting (GRANTFLOW_WORKER_DATABASE_POOL): every worker holds its own.
        open_pool=(activities.db.open_pool if settings is None
                   else functools.partial(activities.db.open_pool, max_size=settings.worker_database_pool)),
        upgrade=activities.db.upgrade,
    )


async def run_worker(
    settings: Settings,
    *,
    stop: asyncio.Event | None = None,
    ready: asyncio.Event | None = None,
    client: Client | None = None,
    components: Components | None = None,
) -> None:
    """Run a worker on settings.task_queue until `stop` is set or this task is cancelled.

    Opens the database pool first and always closes it, however the worker ends. `client` lets a
    caller that is already connected (grantflow up) share its connection.
    """
    if settings.database_url is None:
        raise SettingsError.one(
            "GRANTFLOW_DATABASE_URL", "required to run a worker (`grantflow up` starts a database of its own)"
        )
    parts = components or default_components(settings)
    log = structlog.stdlib.get_logger("grantflow.worker").bind(
        task_queue=settings.task_queue, namespace=settings.temporal_namespace
    )
    if client is None:
        client = await connect(settings)
    pool = await parts.open_pool(settings.database_url)
    try:
        # All activities are async: a blocking one would need an activity_executor here.
        worker = Worker(
            client,
            task_queue=settings.task_queue,
            workflows=parts.workflows(),
            workflow_runner=parts.workflow_runner(),
            activities=parts.activities(pool, settings, client),
            max_cached_workflows=settings.worker_cached_cases,
            max_concurrent_workflow_tasks=settings.worker_workflow_tasks,
            max_concurrent_activities=settings.worker_activity_tasks,
            graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
            # Every activity's log lines carry its case number, stage and workflow ids.
            interceptors=[LogContextInterceptor(), *worker_interceptors(client)],
        )
        # What the worker has built so far (its modules, the calls' rules, pydantic's validators)
        # lives as long as it does. Frozen, it is left out of the collector's full passes, which
        # the churn of cached cases sets off and which walked all of it each time (decision 18).
        gc.collect()
        gc.freeze()
        # `async with` shuts the worker down on the way out, on stop, cancellation or a fatal error.
        async with worker:
            log.info("worker started", address=settings.temporal_address)
            if ready is not None:
                ready.set()
            await (stop if stop is not None else asyncio.Event()).wait()
            log.info("worker stopping")
    finally:
        # Collectable again once the worker is gone, in a process that goes on (tests, `grantflow up`).
        gc.unfreeze()
        await pool.close()
        log.info("worker stopped")


# SIGHUP too: closing the terminal must stop the stack cleanly, not leave its servers running.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def run_until_signalled(main: Callable[[asyncio.Event], Coroutine[Any, Any, None]]) -> None:
    """asyncio.run(main(stop)), where SIGINT, SIGTERM or SIGHUP set `stop` for a clean shutdown.

    A second signal cancels `main` outright for someone who does not want to wait; its cleanup
    (finally blocks) still runs.
    """

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None

        def on_signal() -> None:
            if stop.is_set():
                task.cancel()
            else:
                stop.set()

        for signum in STOP_SIGNALS:
            loop.add_signal_handler(signum, on_signal)
        try:
            await main(stop)
        finally:
            for signum in STOP_SIGNALS:
                loop.remove_signal_handler(signum)
            collect_clients()

    asyncio.run(runner())


def print_input_error(exc: InputError) -> None:
    for problem in exc.problems:
        print(f"error: {problem.field}: {problem.reason}", file=sys.stderr)


def main_worker(settings: Settings) -> int:
    """`grantflow worker`: run a worker until Ctrl-C or SIGTERM; return the exit code."""
    configure_logging(settings.log_format)
    start_from_env("grantflow-worker")  # traces, if an OTLP endpoint is configured
    metrics = None
    try:
        from worker.metrics import start_metrics  # before the first connect: it makes the runtime

        metrics = start_metrics(settings)
        run_until_signalled(lambda stop: run_worker(settings, stop=stop))
    except InputError as exc:
        print_input_error(exc)
        return EXIT_CONFIG
    except asyncio.CancelledError:
        return EXIT_INTERRUPTED
    except TemporalUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    finally:
        if metrics is not None:
            metrics.close()
    return EXIT_OK
