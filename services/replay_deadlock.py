"""The deployed worker's deadlock check, for a replay that runs each workflow task on its own thread.

A deployed worker runs each workflow task on a thread of the SDK's and fails a task that runs two
seconds without yielding (a potential deadlock, TMPRL1101): a replay must fail such a task too.
The replay runs its tasks on its event loop's thread instead (the SDK's `debug_mode`), because
handing every task to a thread and back was an eighth of a replay's CPU, and more than that with
a process on every core (decision 30, bench/README.md). `debug_mode` turns the SDK's check off;
`TimedRunner` puts it back around each task:

- a task that returns after the limit is failed, with the SDK's code and words;
- a task that does not return (a loop, a wait that never ends) is interrupted once it is past the
  limit, as the SDK interrupts one, and failed; its workflow is then evicted without running it
  again, since an interrupted workflow's state cannot be trusted to tear down.

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


def overran(limit: float) -> str:
    return (f"[TMPRL1101] Potential deadlock detected: workflow didn't yield within {limit:g} second(s) "
            "(a deployed worker fails this workflow task)")


class _Interrupted(BaseException):
    """Raised into a task that is past the limit. A BaseException, as the SDK's own interruption is, so
    that workflow code catching Exception does not swallow it."""


class _Task:
    def __init__(self, thread: int) -> None:
        self.thread = thread
        self.started = time.monotonic()
        self.running = True
        self.interrupted = False


class _Watch:
    """One thread per process that interrupts the task running past the limit, if one is.

    Tasks run one at a time, on whichever thread calls `activate`; a task is interrupted at most once,
    and only while it runs: the lock makes "still running" and "interrupt it" one step, as in the SDK.
    """

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._task: _Task | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> _Task:
        task = _Task(threading.get_ident())
        with self._lock:
            self._task = task
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, name="replay-deadlock-watch", daemon=True)
                self._thread.start()
        return task

    def stop(self, task: _Task) -> None:
        with self._lock:
            task.running = False
            if self._task is task:
                self._task = None

    def _watch(self) -> None:
        while True:
            time.sleep(self.limit / 4)
            with self._lock:
                task = self._task
                if task is None or not task.running or task.interrupted:
                    continue
                if time.monotonic() - task.started < self.limit:
                    continue
                task.interrupted = True
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(task.thread), ctypes.py_object(_Interrupted))


class TimedRunner(WorkflowRunner):
    """`inner`'s workflow instances, each task timed against `limit` seconds."""

    def __init__(self, inner: WorkflowRunner, limit: float = LIMIT_SECONDS) -> None:
        self._inner = inner
        self._watch = _Watch(limit)

    def prepare_workflow(self, defn: temporalio.workflow._Definition) -> None:
        self._inner.prepare_workflow(defn)

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        return _TimedInstance(self._inner.create_instance(det), self._watch)

    def set_worker_level_failure_exception_types(self, types: Sequence[type[BaseException]]) -> None:
        self._inner.set_worker_level_failure_exception_types(types)


class _TimedInstance(WorkflowInstance):
    def __init__(self, inner: WorkflowInstance, watch: _Watch) -> None:
        self._inner = inner
        self._watch = watch
        self._broken = False

    def activate(self, act: WorkflowActivation) -> WorkflowActivationCompletion:
        if self._broken:
            # Interrupted: only its eviction comes after. Tried, timed like a task, but whatever it comes
            # to, the eviction succeeds: one the SDK cannot finish, it retries for ever.
            with contextlib.suppress(Exception):
                self._timed(act)
            return WorkflowActivationCompletion(run_id=act.run_id)
        completion, task = self._timed(act)
        # Interrupted where the workflow's own code may have caught it, or not: either way its state is
        # not to be trusted with another task.
        self._broken = task.interrupted
        if completion is not None and time.monotonic() - task.started < self._watch.limit and not task.interrupted:
            return completion
        failed = WorkflowActivationCompletion(run_id=act.run_id)
        failed.failed.failure.message = overran(self._watch.limit)
        failed.failed.failure.source = "grantflow-replay"
        return failed

    def _timed(self, act: WorkflowActivation) -> tuple[WorkflowActivationCompletion | None, _Task]:
        task = self._watch.start()
        completion: WorkflowActivationCompletion | None = None
        # The interruption is delivered at the next bytecode this thread runs after it is raised, and it
        # is raised only before `stop` has taken the lock: so always inside this try.
        try:
            try:
                completion = self._inner.activate(act)
            finally:
                self._watch.stop(task)
        except _Interrupted:
            self._watch.stop(task)
        return completion, task

    def get_serialization_context(self, command_info: Any) -> SerializationContext | None:
        return self._inner.get_serialization_context(command_info)

    def get_external_store_context(self, command_info: Any) -> Any:
        return self._inner.get_external_store_context(command_info)

    def get_info(self) -> temporalio.workflow.Info:
        return self._inner.get_info()

    def get_thread_id(self) -> int | None:
        return self._inner.get_thread_id()
