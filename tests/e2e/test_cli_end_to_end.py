"""Every example application from `grantflow submit` to a decision, through the real command line only.

One `grantflow up` (embedded PostgreSQL, Temporal dev server, worker) runs for the module in a fresh
data directory on free ports. Every step after that is a `python -m cli.main ...` subprocess, typed
as an officer (officer:anna) or a decision maker (decision_maker:bo) would type it; nothing here
imports services to act, so the test sees what a person at a terminal sees: exit codes, Swedish
messages on stderr, the register, the letters, and the cases in Temporal's visibility.

The scenario is one test on purpose: under `pytest -n auto` tests of one module may run in
different processes, and each would start a stack of its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.worker.helpers import free_port, processes_mentioning

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
CALL_FILES = ROOT / "domain" / "calls"
TEMPORAL = Path(sys.executable).with_name("temporal")

STARTUP_TIMEOUT = 60.0  # seconds for `grantflow up` to say it is up
STOP_TIMEOUT = 60.0  # seconds for it to stop after SIGINT
CLI_TIMEOUT = 60.0  # seconds for one command
SETTLE_TIMEOUT = 30.0  # seconds for the register, the letters and visibility to catch up with the cases
WORKERS = 2  # CLI calls for different cases run side by side

CASE_NUMBER = re.compile(r"^\d{4}-\d{5}$")
LEGAL_GROUND = "OSL 30 kap. 23 §"
OFFICER = "officer:anna"
ASSESSOR_AS_DECISION_MAKER = "decision_maker:anna"
DECISION_MAKER = "decision_maker:bo"
UP_MESSAGE = "grantflow is up."

T = TypeVar("T")


# --- the examples ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Example:
    file: str
    call: str
    received: str
    eligible: bool
    rules: tuple[str, ...]

    @property
    def path(self) -> Path:
        return EXAMPLES / self.file

    def application(self) -> dict[str, Any]:
        # Decimal: amounts go back to the CLI exactly as the applicant wrote them.
        data: dict[str, Any] = json.loads(self.path.read_text(encoding="utf-8"), parse_float=Decimal)
        return data


def _manifest() -> tuple[list[Example], list[Example]]:
    """The examples to submit, and the entries skipped: a file listed again (the late copy)."""
    with (EXAMPLES / "manifest.toml").open("rb") as f:
        entries = tomllib.load(f)["examples"]
    kept: list[Example] = []
    skipped: list[Example] = []
    for entry in entries:
        example = Example(
            file=entry["file"], call=entry["call"], received=entry["received"],
            eligible=entry["expected"] == "eligible", rules=tuple(entry.get("rules", ())),
        )
        (skipped if any(k.file == example.file for k in kept) else kept).append(example)
    return kept, skipped


SUBMITTED, SKIPPED = _manifest()


def applicable_criteria(example: Example) -> list[str]:
    """The call's assessment criteria that apply: no `when`, or a `when` path that is true in the application.

    `grantflow case --json` leaves the call out of the state, so the call file (data, not code) is read.
    """
    with (CALL_FILES / f"{example.call}.toml").open("rb") as f:
        criteria = tomllib.load(f)["assessment"]["criteria"]
    application = example.application()

    def holds(path: str) -> bool:
        node: Any = application
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        return node is True

    return [c["id"] for c in criteria if c.get("when") is None or holds(c["when"])]


# --- running the commands ----------------------------------------------------------------------


@dataclass
class Stack:
    data_dir: Path
    port: int
    env: dict[str, str]
    runs: list[subprocess.CompletedProcess[str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def grantflow(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "cli.main", *args],
            cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=CLI_TIMEOUT, check=False,
        )
        with self.lock:
            self.runs.append(result)
        return result

    def act(
        self, number: str, action: str, actor: str, data: dict[str, Any] | None = None
    ) -> subprocess.CompletedProcess[str]:
        args = ["act", number, action, "--as", actor]
        if data is not None:
            args += ["--data", json.dumps(data, ensure_ascii=False)]
        return self.grantflow(*args)

    def state(self, number: str) -> dict[str, Any]:
        state: dict[str, Any] = json.loads(accepted(self.grantflow("case", number, "--json")))["state"]
        return state

    def workflows(self, query: str) -> list[str]:
        """Workflow ids matching a visibility query, from the `temporal` CLI installed with grantflow."""
        result = subprocess.run(
            [str(TEMPORAL), "workflow", "list", "--address", self.address, "--namespace", "default",
             "--query", query, "-o", "json"],
            env=self.env, capture_output=True, text=True, timeout=CLI_TIMEOUT, check=False,
        )
        assert result.returncode == 0, shown(result)
        return [w["execution"]["workflowId"] for w in json.loads(result.stdout or "[]")]


def shown(result: subprocess.CompletedProcess[str]) -> str:
    args = result.args[3:] if result.args[:3] == [sys.executable, "-m", "cli.main"] else result.args
    return (f"`{' '.join(map(str, args))}` exited {result.returncode}\n"
            f"--- stdout\n{result.stdout}--- stderr\n{result.stderr}")


def accepted(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, shown(result)
    return result.stdout


def refused(result: subprocess.CompletedProcess[str], swedish: str) -> None:
    """Exit 1 and the case's own (Swedish) reason on stderr."""
    assert result.returncode == 1, shown(result)
    assert result.stderr.startswith("refused: ") and swedish in result.stderr, shown(result)


def eventually(check: Callable[[], T], timeout: float = SETTLE_TIMEOUT) -> T:
    """`check()` once it stops failing: the register, letters and visibility follow a case's actions."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() >= deadline:
                raise
        time.sleep(0.5)


def in_parallel(work: Callable[[Any], T], items: list[Any]) -> list[T]:
    with ThreadPoolExecutor(WORKERS) as pool:
        return list(pool.map(work, items))


# --- the stack -----------------------------------------------------------------------------------


def _environment(data_dir: Path, port: int) -> dict[str, str]:
    # Nothing from the caller's GRANTFLOW_* or TEMPORAL_* (a database URL, another calls directory).
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRANTFLOW_", "TEMPORAL_"))}
    return env | {
        "GRANTFLOW_DATA_DIR": str(data_dir),
        "GRANTFLOW_TEMPORAL_ADDRESS": f"127.0.0.1:{port}",
        "GRANTFLOW_LOG_FORMAT": "json",
    }


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _dev_servers(port: int) -> list[int]:
    """Temporal dev servers listening on `port` (Linux /proc)."""
    found = []
    for pid in processes_mentioning(f"--port {port} "):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"start-dev" in cmdline and Path(cmdline[0].decode(errors="replace")).name == "temporal":
            found.append(pid)
    return found


def _stop(up: subprocess.Popen[bytes]) -> int | None:
    """SIGINT, as Ctrl-C would; None when it did not stop in time (then it is killed)."""
    if up.poll() is not None:
        return up.returncode
    up.send_signal(signal.SIGINT)
    try:
        return up.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        up.kill()
        up.wait()
        return None


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    # Not pytest's tmp_path: the embedded PostgreSQL runs as another user (see tests/conftest.py).
    parent = Path(tempfile.mkdtemp(prefix="grantflow-e2e-"))
    data_dir = parent / "data"
    port = free_port()
    ui_port = free_port()
    while ui_port == port:
        ui_port = free_port()
    env = _environment(data_dir, port)
    stdout, stderr = parent / "up.stdout", parent / "up.stderr"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        up = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "up", "--port", str(port), "--ui-port", str(ui_port)],
            cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
        )

    def log() -> str:
        return f"--- stdout\n{_tail(stdout)}\n--- stderr\n{_tail(stderr)}"

    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while UP_MESSAGE not in stdout.read_text(errors="replace"):
            if up.poll() is not None:
                pytest.fail(f"`grantflow up` exited with {up.returncode} before it was up\n{log()}")
            if time.monotonic() >= deadline:
                pytest.fail(f"`grantflow up` did not print {UP_MESSAGE!r} within {STARTUP_TIMEOUT:.0f} s\n{log()}")
            time.sleep(0.2)
        yield Stack(data_dir=data_dir, port=port, env=env)
    finally:
        code = _stop(up)
        output = log()
        servers = _dev_servers(port)
        leftovers = sorted(set(servers) | set(processes_mentioning(str(data_dir))))
        postmaster = (data_dir / "postgres" / "postmaster.pid").exists()
        for pid in leftovers:  # only what this fixture started: its dev server or database
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(parent, ignore_errors=True)
    assert code == 0, f"`grantflow up` exited with {code} after SIGINT\n{output}"
    assert servers == [], f"a temporal dev server is still running on port {port}: pids {servers}"
    assert leftovers == [], f"processes still use {data_dir}: pids {leftovers}"
    assert not postmaster, "the embedded PostgreSQL was not stopped"


# --- the cases -----------------------------------------------------------------------------------


@dataclass
class Case:
    example: Example
    number: str
    errors: list[tuple[str, str]]  # (rule, message) of each error `submit` reported
    outcome: str = ""  # what the decision was, once decided
    # The refusals and the stage after intake are the same for every case of a kind: they are
    # looked at closely on one case of each kind, to keep the test fast.
    examined: bool = False


def submit(stack: Stack, example: Example) -> Case:
    result = stack.grantflow("submit", str(example.path), "--imported-received", example.received)
    number = accepted(result).strip()
    assert CASE_NUMBER.match(number), shown(result)
    # The findings are on stderr, one a line: severity, rule, field, message.
    findings = [line.strip().split("  ", 3) for line in result.stderr.splitlines() if line.strip()]
    assert all(len(f) == 4 and f[0] in {"fel", "varning"} for f in findings), shown(result)
    errors = [(rule, message) for severity, rule, _, message in findings if severity == "fel"]
    assert bool(errors) is not example.eligible, shown(result)
    assert set(example.rules) <= {rule for rule, _ in errors}, shown(result)
    return Case(example=example, number=number, errors=errors)


def decide_eligible(stack: Stack, case: Case) -> None:
    number, application = case.number, case.example.application()
    if case.examined:
        state = stack.state(number)
        assert (state["stage"], state["verdict"]["eligible"], state["imported"], state["late"]) == (
            "secrecy_review", True, True, False), state
        # An officer action in the wrong stage: the conflict declaration comes after the secrecy review.
        refused(stack.act(number, "declare-no-conflict", OFFICER),
                "Åtgärden kan inte utföras när ärendet är i steget ”Sekretessprövning”.")

    rulings = [
        {"section": mark["section"], "secret": True, "legal_ground": LEGAL_GROUND,
         "reason": "Uppgiften rör sökandens affärsförhållanden och kan skada sökanden om den röjs."}
        for mark in application.get("secret_sections", [])
    ]
    done = accepted(stack.act(number, "record-secrecy-review", OFFICER, {"rulings": rulings}))
    assert f"{len(rulings)} av {len(rulings)} markerade avsnitt sekretessbelagda" in done, done

    accepted(stack.act(number, "declare-no-conflict", OFFICER))
    criteria = applicable_criteria(case.example)
    scores = [{"criterion": c, "score": 4, "motivation": f"Ansökan svarar väl mot kriteriet {c}."} for c in criteria]
    done = accepted(stack.act(number, "score", OFFICER, {"scores": scores}))
    assert f"totalt {4 * len(criteria)} poäng" in done, done

    project = application["project"]
    accepted(stack.act(number, "prepare-decision", OFFICER, {
        "kind": "approve", "amount": str(application["requested_amount"]),
        "period_start": project["start"], "period_end": project["end"],
    }))
    if case.examined:
        # Four eyes: the assessor may not decide, whatever role she claims.
        refused(stack.act(number, "decide", ASSESSOR_AS_DECISION_MAKER), "fyraögonsprincipen")

    decided = stack.act(number, "decide", DECISION_MAKER)
    if decided.returncode == 1 and "budget räcker inte" in decided.stderr:
        # The ledger refuses a grant the call's budget cannot carry: the case is rejected instead.
        accepted(stack.act(number, "prepare-decision", OFFICER, {
            "kind": "reject", "reasons": "Utlysningens budget räcker inte till fler projekt.",
        }))
        accepted(stack.act(number, "decide", DECISION_MAKER))
        case.outcome = "rejected"
    else:
        assert "Beslut fattat: bifall" in accepted(decided), shown(decided)
        case.outcome = "approved"


def dismiss_ineligible(stack: Stack, case: Case) -> None:
    number = case.number
    if case.examined:
        state = stack.state(number)
        assert (state["stage"], state["verdict"]["eligible"], state["imported"], state["late"]) == (
            "completeness", False, True, False), state
        errors = {(f["rule"], f["message"]) for f in state["verdict"]["findings"] if f["severity"] == "error"}
        assert errors == set(case.errors), state["verdict"]
        # An officer action in the wrong stage: an incomplete application is not reviewed for secrecy.
        refused(stack.act(number, "record-secrecy-review", OFFICER, {"rulings": []}),
                "Åtgärden kan inte utföras när ärendet är i steget ”Komplettering och behörighet”.")

    reasons = "Ansökan uppfyller inte utlysningens krav: " + " ".join(
        f"{message} ({rule})" for rule, message in case.errors)
    accepted(stack.act(number, "prepare-decision", OFFICER, {"kind": "dismiss", "reasons": reasons}))
    if case.examined:
        # Four eyes: whoever prepared the decision may not take it.
        refused(stack.act(number, "decide", ASSESSOR_AS_DECISION_MAKER), "fyraögonsprincipen")
    assert "Beslut fattat: avvisning" in accepted(stack.act(number, "decide", DECISION_MAKER))
    case.outcome = "dismissed"


def drive(stack: Stack, case: Case) -> None:
    (decide_eligible if case.example.eligible else dismiss_ineligible)(stack, case)


DECISION_SUBJECTS = {"approved": "beviljas", "rejected": "avslås", "dismissed": "avvisas"}


def check_case_and_letters(stack: Stack, case: Case) -> None:
    number = case.number
    shown_case = accepted(stack.grantflow("case", number))
    assert f"Steg:      Beslutad, utfall: {case.outcome}" in shown_case, shown_case

    def letters() -> None:
        text = accepted(stack.grantflow("letters", number))
        assert f"Ämne: Vi har tagit emot din ansökan – {number}" in text, text
        assert f"Ämne: Beslut: ansökan {DECISION_SUBJECTS[case.outcome]} – {number}" in text, text

    eventually(letters)


# --- the test --------------------------------------------------------------------------------------


def test_every_example_application_is_decided_through_the_command_line(stack: Stack) -> None:
    assert [(s.file, s.received) for s in SKIPPED] == [
        ("export-samverkan-2021/eligible-regional-livsmedel-ostergotland.json", "2021-03-09T08:15:00+01:00")
    ], "the manifest should list exactly one application twice (the late copy), which is not submitted"
    assert {e.call for e in SUBMITTED} == {"export-samverkan-2021", "saker-digitalisering-2022"}

    # 1. Import every application with its original received instant.
    cases = in_parallel(lambda example: submit(stack, example), SUBMITTED)
    numbers = [c.number for c in cases]
    assert len(set(numbers)) == len(numbers), numbers

    # 2. Drive each to a decision: approval (or rejection when the budget runs out), or dismissal.
    for eligible in (True, False):
        next(c for c in cases if c.example.eligible is eligible).examined = True
    in_parallel(lambda case: drive(stack, case), cases)
    assert {c.outcome for c in cases if not c.example.eligible} == {"dismissed"}
    assert all(c.outcome in {"approved", "rejected"} for c in cases if c.example.eligible)

    # A decided case takes no more officer actions.
    refused(stack.act(cases[0].number, "prepare-decision", OFFICER, {"kind": "reject", "reasons": "Sent påkommet."}),
            "Åtgärden kan inte utföras när ärendet är i steget ”Beslutad”.")

    # Unusable input is exit 2 naming the option; an unknown case is a clear error.
    malformed = stack.grantflow("act", cases[0].number, "score", "--as", OFFICER, "--data", "{not json")
    assert malformed.returncode == 2 and "--data" in malformed.stderr, shown(malformed)
    not_an_object = stack.grantflow("act", cases[0].number, "score", "--as", OFFICER, "--data", "[1, 2]")
    assert not_an_object.returncode == 2 and "--data: must be a JSON object" in not_an_object.stderr, (
        shown(not_an_object))
    for unknown in (stack.grantflow("case", "2099-99999"), stack.act("2099-99999", "decide", DECISION_MAKER)):
        assert unknown.returncode != 0 and "no case '2099-99999'" in unknown.stderr, shown(unknown)

    # 3. The register lists every case as decided ...
    def register() -> None:
        listed = accepted(stack.grantflow("cases"))
        stages = {line.split()[0]: line.split()[2] for line in listed.splitlines() if line.strip()}
        assert stages == dict.fromkeys(numbers, "decided"), listed

    eventually(register)
    # ... each case shows its decision, and the applicant got a receipt and a decision letter.
    in_parallel(lambda case: check_case_and_letters(stack, case), cases)

    # 4. Temporal's visibility finds the cases by their search attributes.
    decided_2021 = sorted(c.number for c in cases if c.example.call == "export-samverkan-2021")

    def visible() -> None:
        found = stack.workflows("CaseStage='decided' AND CallId='export-samverkan-2021'")
        assert sorted(found) == decided_2021, found
        assert sorted(stack.workflows("CaseStage='decided'")) == sorted(numbers)

    eventually(visible)

    tracebacks = [shown(r) for r in stack.runs if "Traceback" in r.stderr]
    assert not tracebacks, "\n\n".join(tracebacks)
