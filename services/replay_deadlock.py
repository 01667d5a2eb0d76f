"""The deployed worker's deadlock check, for a replay that runs each workflow task on its own thread.

A deployed worker runs each workflow task on a thread of the SDK's and fails a task that runs two
seconds without yielding (a potential deadlock, TMPRL1101): a replay must fail such a task too.
The replay runs its tasks on its event loop's thread instead (the SDK's `debug_mode`), because
handing every task to a thread and back was an eighth of a replay's CPU, and more than that with
a process on every core (decision 30, bench/README.md). `debug_mode` turns the SDK's check off;
`TimedRunner` puts it back around each task:

- a task that returns after the limit is failed, with the SDK's code and words;
- a task still running at twice the limit (a loop that never yields) is interrupted, as the SDK
  interrupts one, and failed; its workflow is then evicted without running it again, since an
  interrupted workflow's state cannot be trusted to tear down.

What neither this nor the SDK stops: a task blocked in a call that never returns (an endless wait
in C), or one that catches the interruption and goes on. The SDK's replay then waits for ever on
its eviction; this one waits on the task.

The replay reports a failed task as a run the code does not reproduce (services.replay).
"""

from __future__ import annotations

import contextlib
import ctypes
import threading
import time
from collections.abc import Sequence
from typing import Any

import temporalio.workflow
from temporalio.bridge.proto.workflow_activation import WorkflowActivation
from temporalio.bridge.proto.workflow_completion import WorkflowActivationCompletion
from temporalio.converter import SerializationContext
from temporalio.worker import WorkflowInstance, WorkflowInstanceDetails, WorkflowRunner

# The SDK's limit on a deployed worker (temporalio.worker, `_deadlock_timeout_seconds`).
LIMIT_SECONDS = 2.0
# How often the watch looks at the running task.
_POLL_SECONDS = 0.1


def overran(limit: float) -> str:
    return (f"[TMPRL1101] Potential deadlock detected: workflow didn't yield within {limit:g} second(s) "
            "(a deployed worker fails this workflow task)")


class _Interrupted(BaseException):
    """Raised into a task that runs on past the limit. A BaseException, as the SDK's own interruption
    is, so that workflow code catching Exception does not swallow it."""


class _Task:
    def __init__(self, limit: float) -> None:
        self.limit = limit
        self.thread = threading.get_ident()
        self.started = time.monotonic()
        self.interrupted = False

    def late(self) -> bool:
        return self.interrupted or time.monotonic() - self.started >= self.limit


class _Watch:
    """One thread for the process that interrupts a task still running at twice its limit.

    A task is interrupted at most once, and only while it runs (while it is in `_running`): the lock
    makes "still running" and "interrupt it" one step, as in the SDK. Tasks of several replayers may
    run at once, each on its own thread.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: set[_Task] = set()
        self._thread: threading.Thread | None = None

    def start(self, task: _Task) -> None:
        with self._lock:
            self._running.add(task)
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, name="replay-deadlock-watch", daemon=True)
                self._thread.start()

    def stop(self, task: _Task) -> None:
        with self._lock:
            self._running.discard(task)

    def _watch(self) -> None:
        while True:
            time.sleep(_POLL_SECONDS)
            with self._lock:
                now = time.monotonic()
                for task in self._running:
                    if not task.interrupted and now - task.started >= 2 * task.limit:
                        task.interrupted = True
                        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(task.thread),
                                                                   ctypes.py_object(_Interrupted))


_WATCH = _Watch()


class TimedRunner(WorkflowRunner):
    """`inner`'s workflow instances, each task timed against `limit` seconds."""

    def __init__(self, inner: WorkflowRunner, limit: float = LIMIT_SECONDS) -> None:
        self._inner = inner
        self._limit = limit

    def prepare_workflow(self, defn: temporalio.workflow._Definition) -> None:
        self._inner.prepare_workflow(defn)

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        return _TimedInstance(self._inner.create_instance(det), self._limit)

    def set_worker_level_failure_exception_types(self, types: Sequence[type[BaseException]]) -> None:
        self._inner.set_worker_level_failure_exception_types(types)


class _TimedInstance(WorkflowInstance):
    def __init__(self, inner: WorkflowInstance, limit: float) -> None:
        self._inner = inner
        self._limit = limit
        self._broken = False

    def activate(self, act: WorkflowActivation) -> WorkflowActivationCompletion:
        if self._broken:
            if not any(job.HasField("remove_from_cache") for job in act.jobs):
                return self._failed(act)
            # Its eviction: tried, timed like a task, but whatever it comes to it succeeds, since an
            # eviction the SDK cannot finish it retries for ever.
            with contextlib.suppress(Exception):
                self._timed(act)
            return WorkflowActivationCompletion(run_id=act.run_id)
        completion, task = self._timed(act)
        # Interrupted where the workflow's own code may have caught it, or not: either way its state is
        # not to be trusted with another task.
        self._broken = task.interrupted
        if completion is None or task.late():
            return self._failed(act)
        return completion

    def _timed(self, act: WorkflowActivation) -> tuple[WorkflowActivationCompletion | None, _Task]:
        task = _Task(self._limit)
        completion: WorkflowActivationCompletion | None = None
        # The interruption is delivered at the next bytecode this thread runs after it is raised, and it
        # is raised only between `start` and the end of `stop`: so always inside this try.
        try:
            try:
                _WATCH.start(task)
                completion = self._inner.activate(act)
            finally:
                _WATCH.stop(task)
        except _Interrupted:
            _WATCH.stop(task)
        return completion, task

    def _failed(self, act: WorkflowActivation) -> WorkflowActivationCompletion:
        failed = WorkflowActivationCompletion(run_id=act.run_id)
        failed.failed.failure.message = overran(self._limit)
        failed.failed.failure.source = "grantflow-replay"
        return failed

    def get_serialization_context(self, command_info: Any) -> SerializationContext | None:
        return self._inner.get_serialization_context(command_info)

    def get_external_store_context(self, command_info: Any) -> Any:
        return self._inner.get_external_store_context(command_info)

    def get_info(self) -> temporalio.workflow.Info:
        return self._inner.get_info()

    def get_thread_id(self) -> int | None:
        return self._inner.get_thread_id()
