"""Replay recorded cases against this version's workflow code, many at once, on every core.

`grantflow audit replay` and the pre-release check (deploy/pre-release-replay.sh) use it: the
histories of a case (every run of its continue-as-new chain), read from Temporal while the case
is there or from the archive after, are replayed with the worker's workflow classes, its runner
and the project's data converter (infra.converter: whatever codec that carries applies). A run
the code does not reproduce is reported with the recorded event it departs from, never raised.

The replay is CPU-bound Python: cases are sent in batches to a pool of processes (spawned, each
with one Replayer kept for its life), while this process reads the next cases. The histories
travel as JSON text, which a process parses itself, so that reading is all the parent does.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import multiprocessing
import os
import re
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from psycopg_pool import AsyncConnectionPool
from temporalio.client import Client, WorkflowHistory
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner
from temporalio.workflow import NondeterminismError

from activities.archive import ArchivedCase, archived_case
from infra.codec import Key
from infra.converter import codec_keys, converter_for
from infra.errors import InputError
from infra.settings import Settings
from services import history_json
from services.archive import ReplayReport, RunReplay, check_case_number
from services.register import read_pool
from services.replay_deadlock import LIMIT_SECONDS, TimedRunner

Source = Literal["temporal", "archive", "auto"]
SOURCES: tuple[Source, ...] = ("auto", "temporal", "archive")

CASE_WORKFLOW = "CaseWorkflow"
# Cases go to a process in batches: one Replayer's iterator per batch, and few round trips.
BATCH = 40
# Replays one process runs at once (see replay_cases).
STREAMS = int(os.environ.get("GRANTFLOW_REPLAY_STREAMS", "8"))
# How long one replay, of a history cut short to find where a run departs, may take.
_LOCATE_TIMEOUT = 60.0
# Temporal's workflow-task events: they frame each task's commands, and are never what differs.
_TASK_EVENTS = frozenset(f"EVENT_TYPE_WORKFLOW_TASK_{kind}" for kind in
                         ("SCHEDULED", "STARTED", "COMPLETED", "FAILED", "TIMED_OUT"))


@dataclass
class RecordedCase:
    """A case's recorded runs, oldest first, each in Temporal's JSON form ({"events": [...]}).

    `histories_json` (a JSON array of them, as the archive's column holds it) may stand in for
    `histories`: a process of the pool then parses it, not the process that read it.
    """

    case_number: str  # the workflow id for a workflow that is not a case's (a call's, an intake's)
    workflow_id: str
    source: str
    run_ids: list[str]
    histories: list[dict[str, Any]] = field(default_factory=list)
    complete: bool = True
    histories_json: str | None = None

    def parsed(self) -> list[dict[str, Any]]:
        if self.histories_json is not None:
            return list(json.loads(self.histories_json))
        return self.histories


class Summary:
    """What a replay of many cases came to."""

    def __init__(self) -> None:
        self.cases = 0
        self.runs = 0
        self.events = 0
        self.differ: list[ReplayReport] = []
        self.incomplete = 0

    def add(self, report: ReplayReport) -> None:
        self.cases += 1
        self.runs += len(report.runs)
        self.events += sum(run.events for run in report.runs)
        self.incomplete += not report.complete
        if not report.ok:
            self.differ.append(report)

    @property
    def ok(self) -> bool:
        return not self.differ


# --- replaying, in whichever process --------------------------------------------------------------


def new_replayer(keys: tuple[Key, ...] | None, workflows: Sequence[type] | None = None,
                 task_limit: float = LIMIT_SECONDS) -> Replayer:
    """A Replayer as the deployed worker runs the workflows: its classes, runner and data converter, with
    `keys` to decrypt the payloads (infra.converter.codec_keys; None: recorded in clear), and a workflow
    task that runs `task_limit` seconds without yielding failed, as the deployed worker fails it."""
    from worker import registry  # on use: it imports every workflow module

    # A build id given: else every replay worker hashes every loaded module for one (a fifth of a second).
    # Each workflow task on this thread (debug_mode), the deployed worker's deadlock check kept by
    # TimedRunner: handing each task to a thread and back cost an eighth of a replay's CPU.
    return Replayer(workflows=list(workflows if workflows is not None else registry.workflows()),
                    workflow_runner=TimedRunner(registry.workflow_runner(), task_limit),
                    unsandboxed_workflow_runner=TimedRunner(UnsandboxedWorkflowRunner(), task_limit),
                    data_converter=converter_for(keys), build_id="grantflow-replay", debug_mode=True)


def parse(workflow_id: str, raw: dict[str, Any]) -> WorkflowHistory:
    """A history in Temporal's JSON form, as WorkflowHistory.to_json_dict wrote it (the archive's form).

    Read by services.history_json: the SDK's reader (protobuf's json_format, after a deep copy and
    a rewrite of every enum for the older forms `temporal workflow show` once wrote) was two thirds
    of a replay. Those forms are still read, by the SDK's reader, when the fast one refuses.
    """
    try:
        return WorkflowHistory(workflow_id, history_json.events(raw))
    except ValueError:
        return WorkflowHistory.from_json(workflow_id, raw)


async def replay_case(case: RecordedCase, replayer: Replayer) -> ReplayReport:
    [report] = await replay_cases([case], replayer)
    return report


async def replay_cases(cases: Sequence[RecordedCase], replayer: Replayer) -> list[ReplayReport]:
    """Replay every run of every case; each run that differs is located."""
    runs: list[tuple[int, int]] = []
    outcomes: dict[tuple[int, int], RunReplay] = {}
    raw: dict[tuple[int, int], dict[str, Any]] = {}
    for c, case in enumerate(cases):
        for r, history in enumerate(case.parsed()):
            raw[c, r] = history
            runs.append((c, r))
    keys: dict[int, tuple[int, int]] = {}
    failed: list[tuple[int, int, BaseException]] = []

    async def stream(share: list[tuple[int, int]]) -> None:
        async def each() -> AsyncIterator[WorkflowHistory]:
            # Read as the replay goes, so that reading one overlaps the core's work on another.
            for c, r in share:
                try:
                    history = parse(cases[c].workflow_id, raw[c, r])
                except Exception as exc:  # protobuf's ParseError or the SDK's ValueError
                    events = raw[c, r].get("events") if isinstance(raw[c, r], dict) else None
                    outcomes[c, r] = RunReplay(run_id=cases[c].run_ids[r], ok=False,
                                               events=len(events) if isinstance(events, list) else 0,
                                               problem=f"the recorded history is malformed: {exc}")
                    continue
                keys[id(history)] = (c, r)
                yield history

        async with replayer.workflow_replay_iterator(each()) as results:
            async for result in results:
                c, r = keys.pop(id(result.history))
                if result.replay_failure is None:
                    outcomes[c, r] = RunReplay(run_id=cases[c].run_ids[r], ok=True, events=len(result.history.events))
                else:
                    failed.append((c, r, result.replay_failure))

    # A replay waits on the core (in threads of its own) at every workflow task: several streams at
    # once keep this process busy meanwhile.
    await asyncio.gather(*(stream(runs[i::STREAMS]) for i in range(min(STREAMS, len(runs)))))
    for c, r, failure in failed:
        outcomes[c, r] = RunReplay(
            run_id=cases[c].run_ids[r], ok=False, events=len(raw[c, r].get("events") or []),
            nondeterminism=isinstance(failure, NondeterminismError), problem=_problem(failure),
            event_id=await locate(raw[c, r], cases[c].workflow_id, str(failure), replayer),
        )
    return [ReplayReport(case_number=case.case_number, complete=case.complete, source=case.source,
                         runs=[outcomes[c, r] for r in range(len(case.run_ids))])
            for c, case in enumerate(cases)]


def _problem(failure: BaseException) -> str:
    text = str(failure)
    # The core's own words, without the Rust structure around them.
    found = re.search(r'message: "((?:[^"\\]|\\.)*)"', text)
    return f"{type(failure).__name__}: {found.group(1) if found else text}"


async def locate(history: dict[str, Any], workflow_id: str, failure: str, replayer: Replayer) -> int | None:
    """The id of the recorded event where the code departs from a run's history.

    The core names the mismatch but not the event, so the history is replayed cut short after
    each workflow task (a history may end there, as it does while a case waits): the first cut
    that fails ends with the task whose commands differ. Of that task's events, the one that
    names what the core quoted (an activity type, a timer id, ...) is the event; failing that,
    the task's first command event.
    """
    events = history.get("events") or []
    ends = [i + 1 for i, event in enumerate(events) if event.get("eventType") == "EVENT_TYPE_WORKFLOW_TASK_STARTED"]
    if not ends or ends[-1] != len(events):
        ends.append(len(events))

    async def fails(end: int) -> bool:
        cut = WorkflowHistory.from_json(workflow_id, {"events": events[:end]})
        try:
            result = await asyncio.wait_for(replayer.replay_workflow(cut, raise_on_replay_failure=False),
                                            _LOCATE_TIMEOUT)
        except TimeoutError:
            return True
        return result.replay_failure is not None

    low, high = 0, len(ends) - 1  # the first failing cut is ends[high]; cuts before ends[low] pass
    try:
        while low < high:
            middle = (low + high) // 2
            if await fails(ends[middle]):
                high = middle
            else:
                low = middle + 1
    except Exception:  # a history that cannot even be cut: the run is reported, without an event
        return None
    task = events[(ends[high - 1] if high > 0 else 0):ends[high]]
    commands = [event for event in task if event.get("eventType") not in _TASK_EVENTS]
    quoted = set(re.findall(r"'([^']+)'", failure))
    for event in commands:
        if quoted and any(f'"{name}"' in json.dumps(event) for name in quoted):
            return int(event["eventId"])
    chosen = commands[0] if commands else (task[-1] if task else None)
    return int(chosen["eventId"]) if chosen is not None else None


# --- the pool's processes ---------------------------------------------------------------------------

_replayer: Replayer | None = None
_loop: asyncio.AbstractEventLoop | None = None


def _start_process(keys: tuple[Key, ...] | None, workflows: Sequence[type] | None) -> None:
    global _replayer, _loop
    _quiet()
    _loop = asyncio.new_event_loop()
    _replayer = new_replayer(keys, workflows)


def _replay_batch(cases: list[RecordedCase]) -> list[ReplayReport]:
    assert _loop is not None and _replayer is not None
    return _loop.run_until_complete(replay_cases(cases, _replayer))


_quieted = False


def _quiet() -> None:
    """A run that differs is reported; the SDK's own log of its failed task would only repeat it."""
    global _quieted
    from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter

    if _quieted:
        return
    _quieted = True
    logging.getLogger("temporalio").setLevel(logging.CRITICAL)
    filter_ = TelemetryFilter(core_level="ERROR", other_level="ERROR")
    Runtime.set_default(Runtime(telemetry=TelemetryConfig(logging=LoggingConfig(filter=filter_))),
                        error_if_already_set=False)


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


async def replay_recorded(cases: AsyncIterable[RecordedCase], *, keys: tuple[Key, ...] | None,
                          jobs: int | None = None,
                          workflows: Sequence[type] | None = None,
                          on_report: Callable[[ReplayReport], None] | None = None,
                          batch: int = BATCH) -> Summary:
    """Replay each case as it comes; `jobs` processes (every core by default; 1: in this process)."""
    jobs = jobs or cores()
    summary = Summary()

    def done(reports: list[ReplayReport]) -> None:
        for report in reports:
            summary.add(report)
            if on_report is not None:
                on_report(report)

    if jobs == 1:
        _quiet()
        replayer = new_replayer(keys, workflows)
        async for chunk in _batches(cases, batch):
            done(await replay_cases(chunk, replayer))
        return summary
    loop = asyncio.get_running_loop()
    context = multiprocessing.get_context("spawn")  # never fork a process that holds a Temporal client
    with concurrent.futures.ProcessPoolExecutor(jobs, mp_context=context, initializer=_start_process,
                                                initargs=(keys, workflows)) as pool:
        pending: set[asyncio.Future[list[ReplayReport]]] = set()
        async for chunk in _batches(cases, batch):
            pending.add(loop.run_in_executor(pool, _replay_batch, chunk))
            if len(pending) >= 2 * jobs:
                finished, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for future in finished:
                    done(future.result())
        for future in asyncio.as_completed(pending):
            done(await future)
    return summary


async def _batches(cases: AsyncIterable[RecordedCase], size: int) -> AsyncIterator[list[RecordedCase]]:
    chunk: list[RecordedCase] = []
    async for case in cases:
        chunk.append(case)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# --- where the histories come from ------------------------------------------------------------------


@dataclass(frozen=True)
class Selection:
    """One case (`number`), the cases of a call (`call_id`), or every case (`everything`)."""

    number: str | None = None
    call_id: str | None = None
    everything: bool = False

    def __post_init__(self) -> None:
        if sum((self.number is not None, self.call_id is not None, self.everything)) != 1:
            raise InputError.one("NUMBER", "give a case number, --call ID or --all (one of them)")
        if self.number is not None:
            check_case_number(self.number)
        if self.call_id is not None and not re.fullmatch(r"[A-Za-z0-9._-]{1,100}", self.call_id):
            raise InputError.one("--call", f"{self.call_id!r} is not a call id")


def _visibility_query(selection: Selection, workflow_types: Sequence[str]) -> str:
    if selection.number is not None:
        return f"WorkflowId = '{selection.number}' AND WorkflowType = '{CASE_WORKFLOW}'"
    if selection.call_id is not None:
        return f"WorkflowType = '{CASE_WORKFLOW}' AND CallId = '{selection.call_id}'"
    # Every workflow the worker runs: a change to the intake or a call's workflow breaks those running too.
    names = ", ".join(f"'{name}'" for name in workflow_types)
    return f"WorkflowType IN ({names})"


async def from_temporal(client: Client, selection: Selection, workflow_types: Sequence[str],
                        *, skip: set[str] | None = None, seen: set[str] | None = None,
                        fetches: int = 8, archived: ArchiveLookup | None = None) -> AsyncIterator[RecordedCase]:
    """Each selected workflow's chain of runs, as Temporal holds them now.

    Visibility names the workflows (by the case's search attributes); each chain is then read
    exactly, from its latest run back through the run each one continued (its started event
    names it), as the archive reads it. `fetches` chains are read at once.
    """
    ids: list[str] = []
    async for execution in client.list_workflows(_visibility_query(selection, workflow_types)):
        if execution.id not in ids and execution.id not in (skip or set()):
            ids.append(execution.id)
    if seen is not None:
        seen.update(ids)
    queue: asyncio.Queue[RecordedCase | None] = asyncio.Queue(maxsize=fetches * 2)
    todo = iter(ids)

    async def fetch() -> None:
        for workflow_id in todo:
            case = await _chain(client, workflow_id, archived)
            if case is not None:
                await queue.put(case)
        await queue.put(None)

    workers = [asyncio.create_task(fetch()) for _ in range(fetches)]
    try:
        finished = 0
        while finished < len(workers):
            case = await queue.get()
            if case is None:
                finished += 1
            else:
                yield case
        for worker in workers:
            await worker  # raises what a fetch raised
    finally:
        for worker in workers:
            worker.cancel()


# What the archive holds of a case, by its number: the runs that ended, kept before retention removes them.
ArchiveLookup = Callable[[str], Awaitable[ArchivedCase | None]]


async def _chain(client: Client, workflow_id: str, archived: ArchiveLookup | None = None) -> RecordedCase | None:
    run_ids: list[str] = []
    histories: list[dict[str, Any]] = []
    complete = True
    run_id: str | None = None
    try:
        run_id = (await client.get_workflow_handle(workflow_id).describe()).run_id
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None  # gone since it was listed (retention)
        raise
    while run_id and run_id not in run_ids:
        try:
            history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND or not run_ids:
                raise
            # The earlier runs have left Temporal (retention counts from each run's end); the case
            # archived them when it went on in a new run (ArchiveEndedRuns), so they are replayed too.
            complete = False
            kept = await archived(workflow_id) if archived is not None else None
            if kept is not None and run_id in kept.run_ids:
                upto = kept.run_ids.index(run_id) + 1
                run_ids += reversed(kept.run_ids[:upto])
                histories += reversed(kept.histories[:upto])
                complete = kept.complete
            break
        run_ids.append(run_id)
        histories.append(history.to_json_dict())
        run_id = history.events[0].workflow_execution_started_event_attributes.continued_execution_run_id
    run_ids.reverse()
    histories.reverse()
    return RecordedCase(case_number=workflow_id, workflow_id=workflow_id, source="temporal", run_ids=run_ids,
                        histories=histories, complete=complete)


_ARCHIVED = """
SELECT a.case_number, a.workflow_id, a.run_ids, a.histories::text, a.complete
FROM case_archive a JOIN cases c USING (case_number)
WHERE ({where}) ORDER BY a.case_number
"""


async def from_archive(settings: Settings, selection: Selection, *,
                       skip: set[str] | None = None) -> AsyncIterator[RecordedCase]:
    """Each selected archived case, read with a server-side cursor: the archive may be large."""
    where, params = "true", {}
    if selection.number is not None:
        where, params = "a.case_number = %(number)s", {"number": selection.number}
    elif selection.call_id is not None:
        where, params = "c.call_id = %(call_id)s", {"call_id": selection.call_id}
    async with read_pool(settings) as pool, pool.connection() as conn, conn.transaction():
        cursor = conn.cursor("archived_histories")
        await cursor.execute(_ARCHIVED.format(where=where), params)
        async for number, workflow_id, run_ids, histories, complete in cursor:
            if skip and number in skip:
                continue
            yield RecordedCase(case_number=number, workflow_id=workflow_id, source="archive", run_ids=list(run_ids),
                               histories_json=histories, complete=complete)


async def recorded(settings: Settings, selection: Selection, source: Source,
                   workflow_types: Sequence[str]) -> AsyncIterator[RecordedCase]:
    """The selected cases from `source`; "auto": from Temporal where a case still is, else from the archive."""
    found = 0
    seen: set[str] = set()
    if source in ("temporal", "auto"):
        from infra.temporal import connect

        client = await connect(settings)
        async with contextlib.AsyncExitStack() as opened:
            pool: AsyncConnectionPool | None = None

            async def archived(number: str) -> ArchivedCase | None:
                # Opened only for a case whose earlier runs have left Temporal: a replay of cases that
                # are all there whole needs no database.
                nonlocal pool
                if pool is None:
                    pool = await opened.enter_async_context(read_pool(settings))
                return await archived_case(pool, number)

            async for case in from_temporal(client, selection, workflow_types, seen=seen, archived=archived):
                found += 1
                yield case
    if source in ("archive", "auto"):
        async for case in from_archive(settings, selection, skip=seen):
            found += 1
            yield case
    if selection.number is not None and not found:
        where = {"temporal": "not in Temporal", "archive": "not in the archive",
                 "auto": "neither in Temporal nor in the archive"}[source]
        raise InputError.one("NUMBER", f"case {selection.number} is {where}")


async def replay(settings: Settings, selection: Selection, *, source: Source = "auto", jobs: int | None = None,
                 on_report: Callable[[ReplayReport], None] | None = None) -> Summary:
    """Replay the selected cases' recorded histories against this version's workflows."""
    from worker import registry

    types = [getattr(cls, "__temporal_workflow_definition").name for cls in registry.workflows()]
    if selection.number is not None:
        jobs = 1  # one case: not worth starting processes for
    return await replay_recorded(recorded(settings, selection, source, types), keys=codec_keys(settings), jobs=jobs,
                                 on_report=on_report)


__all__ = [
    "SOURCES",
    "RecordedCase",
    "Selection",
    "Source",
    "Summary",
    "cores",
    "from_archive",
    "from_temporal",
    "locate",
    "new_replayer",
    "recorded",
    "replay",
    "replay_case",
    "replay_cases",
    "replay_recorded",
]
