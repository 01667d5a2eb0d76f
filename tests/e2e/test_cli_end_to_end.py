"""Every example application from `grantflow submit` to a closed, archived case, through the real command line only.

One `grantflow up` (embedded PostgreSQL, Temporal dev server, worker) runs for the module in a fresh
data directory on free ports. Every step after that is a `python -m cli.main ...` subprocess, typed
as an officer (officer:anna), a decision maker (decision_maker:bo), the applicant or finance
(finance:fia) would type it; nothing here imports services to act, so the test sees what a person at
a terminal sees: exit codes, Swedish messages on stderr, the register, the letters, the payout
ledger and its bank file, the archive, and the cases in Temporal's visibility.

Eligible applications are approved, paid against a payment request and a final report, and closed
when the rest of the grant is paid; one is paid an advance larger than its final grant and closes
only when the reclaim that follows is repaid. Ineligible ones are dismissed and close at once.
Time is real: every approved project runs today .. today, so its payment request (which may only
cover a period that has ended) can be filed at once.

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
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest

from tests.worker.helpers import free_port, processes_mentioning, up_service_ports

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
CALL_FILES = ROOT / "domain" / "calls"
TEMPORAL = Path(sys.executable).with_name("temporal")

STARTUP_TIMEOUT = 60.0  # seconds for `grantflow up` to say it is up
STOP_TIMEOUT = 60.0  # seconds for it to stop after SIGINT
CLI_TIMEOUT = 60.0  # seconds for one command
SETTLE_TIMEOUT = 60.0  # seconds for the archive and visibility to catch up with the cases
WORKERS = 3  # CLI calls for different cases run side by side

CASE_NUMBER = re.compile(r"^\d{4}-\d{5}$")
LEGAL_GROUND = "OSL 30 kap. 23 §"
OFFICER = "officer:anna"
ASSESSOR_AS_DECISION_MAKER = "decision_maker:anna"
DECISION_MAKER = "decision_maker:bo"
APPLICANT = "applicant:sokanden"
FINANCE = "finance:fia"
BANKGIRO = "5402-9681"
STOCKHOLM = ZoneInfo("Europe/Stockholm")
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


@cache
def call_file(call: str) -> dict[str, Any]:
    """A seed call as its file says it: `grantflow case --json` leaves the call out of the state."""
    with (CALL_FILES / f"{call}.toml").open("rb") as f:
        return tomllib.load(f)


def applicable_criteria(example: Example) -> list[str]:
    """The call's assessment criteria that apply: no `when`, or a `when` path that is true in the application."""
    criteria = call_file(example.call)["assessment"]["criteria"]
    application = example.application()

    def holds(path: str) -> bool:
        node: Any = application
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        return node is True

    return [c["id"] for c in criteria if c.get("when") is None or holds(c["when"])]


# --- after the decision: what each approved case is paid ------------------------------------------

# The approved cases that get an advance; the first is paid more in advance than its final grant
# and goes through a reclaim. Every other eligible example is paid in arrears only.
RECLAIMED = "export-samverkan-2021/eligible-nationell-bredd-av-smaforetag.json"
ADVANCED = {RECLAIMED, "saker-digitalisering-2022/eligible-science-park-med-personalutbildning.json"}


def today() -> date:
    """The agency's day: the product dates everything in Stockholm."""
    return datetime.now(STOCKHOLM).date()


def exact(amount: Fraction) -> Decimal:
    """An amount that must be whole öre (the plans below are built so that every one is)."""
    ore = amount * 100
    assert ore.denominator == 1, amount
    return Decimal(ore.numerator).scaleb(-2)


def kr(amount: Decimal) -> str:
    """As the product writes an amount: "1 250 000 kr", "92 312,50 kr" (non-breaking spaces)."""
    whole, _, ore = f"{amount:.2f}".partition(".")
    groups = "\u00a0".join(f"{int(whole):,}".split(","))
    return groups + ("" if ore == "00" else f",{ore}") + "\u00a0kr"


def money(amount: Decimal | Fraction | int) -> str:
    return f"{exact(Fraction(amount)):.2f}"


def cost(cost_type: str, description: str, amount: int, voucher: str) -> dict[str, Any]:
    return {"cost_type": cost_type, "description": description, "amount": money(amount), "vouchers": [voucher]}


@dataclass(frozen=True)
class Grant:
    """An approved case's money, worked out from the call file's terms before any command runs.

    Costs are whole kronor and the support rates are 3/4 and 1/2, so every amount the product
    computes is exact in öre and can be compared for equality.
    """

    granted: Fraction
    rate: Fraction  # the share of approved costs the grant covers: 1 - the required co-financing
    withheld: Fraction  # the share of the grant held back until the final report
    advance: Fraction | None
    reclaim: bool
    # Payment request 1: two costs, the second approved only in half.
    personnel: int
    services: int
    final_costs: int  # reported in the final report and approved in full

    @classmethod
    def plan(cls, example: Example) -> Grant:
        terms = call_file(example.call)
        cofinancing = next(r["minimum"] for r in terms["rules"] if r["check"] == "co_financing_share")
        rate = 1 - Fraction(cofinancing)
        granted = Fraction(example.application()["requested_amount"])
        payments = terms["payments"]
        cap = min(Fraction(payments["advance_max_share"]) * granted, Fraction(payments["advance_max_amount"]))
        reclaim = example.file == RECLAIMED
        advance = None if example.file not in ADVANCED else cap if reclaim else granted / 4
        # The reclaimed case reports costs worth about half its advance in all; the others costs worth
        # more than the grant, so that the final report releases the rest of it.
        base, shares = (advance, ("0.2", "0.1", "0.3")) if reclaim and advance else (granted, ("0.4", "0.2", "0.6"))
        personnel, services, final_costs = (round(base * Fraction(share) / rate) for share in shares)
        return cls(granted=granted, rate=rate, withheld=Fraction(payments["withheld_share"]), advance=advance,
                   reclaim=reclaim, personnel=personnel, services=services, final_costs=final_costs)

    @property
    def services_approved(self) -> int:
        return self.services // 2

    @property
    def requested(self) -> Fraction:
        """What the applicant asks for: the support rate of the costs, within what is left of the grant."""
        return min(self.rate * (self.personnel + self.services), self.granted - (self.advance or 0))

    @property
    def payment(self) -> Fraction:
        """Paid on request 1: the approved costs' share, below the withheld share, less the advance."""
        approved = self.rate * (self.personnel + self.services_approved)
        ceiling = self.granted - self.withheld * self.granted
        return max(Fraction(0), min(min(approved, ceiling) - (self.advance or 0), self.requested))

    @property
    def final_grant(self) -> Fraction:
        return min(self.granted, self.rate * (self.personnel + self.services_approved + self.final_costs))

    @property
    def paid_before_final(self) -> Fraction:
        return (self.advance or 0) + self.payment

    @property
    def owed(self) -> Fraction:
        """What the reclaim asks back: paid above the final grant."""
        return max(Fraction(0), self.paid_before_final - self.final_grant)

    def payouts(self) -> list[tuple[int, str, Decimal]]:
        """(request number, kind, amount) of every payout the ledger should hold for the case."""
        rows = [(0, "advance", exact(self.advance))] if self.advance else []
        if self.payment:
            rows.append((1, "payment", exact(self.payment)))
        if self.final_grant > self.paid_before_final:
            rows.append((2, "final", exact(self.final_grant - self.paid_before_final)))
        return rows

    def payment_request(self, day: date) -> dict[str, Any]:
        return {"request": {
            "period_start": day.isoformat(), "period_end": day.isoformat(),
            "costs": [cost("personnel", "Projektledning och rådgivning", self.personnel, "V-1"),
                      cost("external_services", "Konsultstöd för marknadsanalys", self.services, "V-2")],
            "requested": money(self.requested), "cofinancing_received": "50000.00",
            "progress_report": "Tolv företag har fått rådgivning om nya marknader.", "payee_bankgiro": BANKGIRO,
        }}

    def payment_review(self) -> dict[str, Any]:
        return {"request_number": 1, "costs": [
            {"approved": money(self.personnel)},
            {"approved": money(self.services_approved),
             "reason": "Hälften av fakturan avser arbete före projektperioden."},
        ]}

    def final_report(self) -> dict[str, Any]:
        return {"report": {
            "results": "Projektet nådde sina mål.",
            "goals": [{"goal": "Fler företag på nya marknader", "result": "Åtta företag har nya kunder."}],
            "companies_reached": 14, "companies_women": 5, "companies_men": 9,
            "costs": [cost("personnel", "Projektledning, slutfas", self.final_costs, "V-3")],
            "cofinancing_received_total": "140000.00",
        }}


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
    assert result.stderr.startswith("nekad: ") and swedish in result.stderr, shown(result)


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


def all_of(*checks: Callable[[], object]) -> None:
    """Independent checks side by side: most of a command's time is the CLI starting up."""
    in_parallel(lambda check: check(), list(checks))


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
            [sys.executable, "-m", "cli.main", "up", "--port", str(port), "--ui-port", str(ui_port),
             *up_service_ports()],
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
    project_day: date | None = None  # an approved project runs this one day
    # The refusals and the stage after intake are the same for every case of a kind: they are
    # looked at closely on one case of each kind, to keep the test fast.
    examined: bool = False

    @property
    def grant(self) -> Grant | None:
        return Grant.plan(self.example) if self.example.eligible else None


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


def approve(stack: Stack, case: Case, grant: Grant) -> None:
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

    # The project runs today .. today, so that its payment request may be filed at once.
    day = case.project_day = today()
    decision: dict[str, Any] = {"kind": "approve", "amount": money(grant.granted),
                                "period_start": day.isoformat(), "period_end": day.isoformat()}
    if case.examined:
        # The call's own day for the final report (2021-11-30 / 2022-11-30) is long gone: even a
        # project period that ends before it needs a report day of its own in the decision.
        received = date.fromisoformat(case.example.received[:10])
        refused(stack.act(number, "prepare-decision", OFFICER, decision | {
            "period_start": received.isoformat(), "period_end": (received + timedelta(days=60)).isoformat()}),
            "ange i beslutet när slutrapporten ska lämnas (final_report_due)")
    decision["final_report_due"] = (day + timedelta(days=60)).isoformat()
    if grant.advance is not None:
        decision |= {"advance": money(grant.advance), "payee_bankgiro": BANKGIRO,
                     "advance_reasons": "Sökanden saknar likviditet att ligga ute med projektets kostnader."}
    accepted(stack.act(number, "prepare-decision", OFFICER, decision))
    if case.examined:
        # Four eyes: the assessor may not decide, whatever role she claims.
        refused(stack.act(number, "decide", ASSESSOR_AS_DECISION_MAKER), "fyraögonsprincipen")
        # Nor may a decision maker who has not declared no conflict of interest (FL 16–18 §§).
        refused(stack.act(number, "decide", DECISION_MAKER), "bo har inte förklarat att jäv inte föreligger")
    accepted(stack.act(number, "declare-no-conflict", DECISION_MAKER))

    decided = accepted(stack.act(number, "decide", DECISION_MAKER))
    assert f"Beslut fattat: bifall om {kr(exact(grant.granted))}." in decided, decided
    assert decided.rstrip().endswith("(steg: Utbetalning)"), decided
    case.outcome = "approved"


def pay(stack: Stack, case: Case, grant: Grant) -> None:
    """A payment request with one cost partly approved, then the final report and its review."""
    number, day = case.number, case.project_day
    assert day is not None
    filed = accepted(stack.act(number, "file-payment-request", APPLICANT, grant.payment_request(day)))
    assert f"Ansökan om utbetalning 1 är mottagen ({kr(exact(grant.requested))})" in filed, filed
    if case.examined:
        # A cost not approved in full needs the officer's reason.
        unexplained = grant.payment_review()
        del unexplained["costs"][1]["reason"]
        refused(stack.act(number, "review-payment-request", OFFICER, unexplained), "ange skälet")
    reviewed = accepted(stack.act(number, "review-payment-request", OFFICER, grant.payment_review()))
    assert f"Ansökan om utbetalning 1 är prövad: {kr(exact(grant.payment))} betalas ut." in reviewed, reviewed

    reported = accepted(stack.act(number, "submit-final-report", APPLICANT, grant.final_report()))
    assert reported.rstrip().endswith("(steg: Slutrapport)"), reported
    reviewed = accepted(stack.act(number, "review-final-report", OFFICER, {
        "costs": [{"approved": money(grant.final_costs)}],
        "assessment": "Målen är uppnådda och kostnaderna är styrkta.",
    }))
    assert f"slutligt stöd {kr(exact(grant.final_grant))}" in reviewed, reviewed
    # The rest of the grant is paid, which closes the case; or more was paid than the final grant.
    assert reviewed.rstrip().endswith("(steg: Återkrav)" if grant.reclaim else "(steg: Slutrapport)"), reviewed


def reclaim(stack: Stack, case: Case, grant: Grant) -> None:
    """The advance exceeded the final grant: prepared, heard, decided by another person, repaid to zero."""
    number, owed = case.number, exact(grant.owed)
    accepted(stack.act(number, "prepare-reclaim", OFFICER, {
        "amount": f"{owed:.2f}", "reasons": "Det slutliga stödet är lägre än det utbetalda förskottet.",
    }))
    # Four eyes, and the applicant's right to be heard first (FL 25 §).
    refused(stack.act(number, "decide-reclaim", ASSESSOR_AS_DECISION_MAKER), "fyraögonsprincipen")
    refused(stack.act(number, "decide-reclaim", DECISION_MAKER), "Sökanden har svarstid")
    accepted(stack.act(number, "reply-to-communication", APPLICANT, {"text": "Vi har inga invändningar."}))
    decided = accepted(stack.act(number, "decide-reclaim", DECISION_MAKER))
    assert f"Beslut om återkrav fattat: {kr(owed)}" in decided, decided

    state = stack.state(number)["reclaim"]
    # What the final review suggested (paid above the final grant) is what was decided.
    assert (state["basis"], Decimal(state["suggested"])) == ("overpayment", owed), state
    claim = state["claim"]
    assert (Decimal(claim["principal"]), claim["decided_by"], claim["repayments"]) == (
        owed, DECISION_MAKER.partition(":")[2], []), claim
    paid_on = today().isoformat()
    # Interest runs from the day after `interest_from`: paid the same day, the claim is the principal.
    balance = owed if claim["interest_from"] == paid_on else None
    refused(stack.act(number, "register-repayment", FINANCE, {"amount": f"{owed + 1000:.2f}", "paid_on": paid_on}),
            "större än skulden")
    part = (owed / 2).quantize(Decimal(1))
    first = accepted(stack.act(number, "register-repayment", FINANCE, {"amount": f"{part:.2f}", "paid_on": paid_on}))
    left = re.search(r"kvar ([\d\u00a0]+(?:,\d\d)?)\u00a0kr", first)
    assert left is not None, first
    rest = Decimal(left.group(1).replace("\u00a0", "").replace(",", "."))
    assert balance is None or rest == balance - part, first
    last = accepted(stack.act(number, "register-repayment", FINANCE, {"amount": f"{rest:.2f}", "paid_on": paid_on}))
    assert "kvar 0\u00a0kr" in last and last.rstrip().endswith("(steg: Avslutad)"), last


def dismiss(stack: Stack, case: Case) -> None:
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
        # Only a decision maker who has declared no conflict of interest decides (FL 16–18 §§) ...
        refused(stack.act(number, "decide", DECISION_MAKER), "bo har inte förklarat att jäv inte föreligger")
        # ... and four eyes: whoever prepared the decision may not take it, declared or not.
        accepted(stack.act(number, "declare-no-conflict", ASSESSOR_AS_DECISION_MAKER))
        refused(stack.act(number, "decide", ASSESSOR_AS_DECISION_MAKER), "fyraögonsprincipen")
    accepted(stack.act(number, "declare-no-conflict", DECISION_MAKER))
    decided = accepted(stack.act(number, "decide", DECISION_MAKER))
    # Nothing follows a dismissal: the case closes at once.
    assert "Beslut fattat: avvisning" in decided and decided.rstrip().endswith("(steg: Avslutad)"), decided
    case.outcome = "dismissed"


def drive(stack: Stack, case: Case) -> None:
    """From intake to a closed case, and the archive of it once its workflow has completed."""
    grant = case.grant
    if grant is None:
        dismiss(stack, case)
    else:
        approve(stack, case, grant)
        pay(stack, case, grant)  # closes once the last payout is paid ...
        if grant.reclaim:
            reclaim(stack, case, grant)  # ... or once the reclaim is repaid
    archived(stack, case)


def archived(stack: Stack, case: Case) -> None:
    """The case's workflow has completed and the archive holds its history and register."""

    def shown_archive() -> dict[str, Any]:
        result = stack.grantflow("archive", "show", case.number, "--json")
        assert result.returncode == 0, shown(result)
        summary: dict[str, Any] = json.loads(result.stdout)
        return summary

    summary = eventually(shown_archive)
    register = summary["register_summary"]
    assert (summary["case_number"], summary["complete"], register["stage"], register["outcome"]) == (
        case.number, True, "closed", case.outcome), summary
    assert summary["runs"] and summary["runs"][-1]["ended_with"] == "workflow_execution_completed", summary
    assert register["call_id"] == case.example.call and register["letters"] > 0, summary


DECISION_SUBJECTS = {"approved": "beviljas", "dismissed": "avvisas"}


def letter_subjects(stack: Stack) -> dict[str, list[str]]:
    """Every letter's subject, by case: `grantflow letters` with no case lists the whole outbox."""
    subjects: dict[str, list[str]] = {}
    number = None
    for line in accepted(stack.grantflow("letters")).splitlines():
        if line.startswith("=== "):
            number = line.split()[1]
        elif line.startswith("Ämne: ") and number is not None:
            subjects.setdefault(number, []).append(line.removeprefix("Ämne: "))
            number = None
    return subjects


def expected_subjects(case: Case) -> list[str]:
    n, grant = case.number, case.grant
    subjects = [f"Vi har tagit emot din ansökan – {n}", f"Beslut: ansökan {DECISION_SUBJECTS[case.outcome]} – {n}"]
    if grant is not None:
        subjects += [f"Beslut om utbetalning – {n}", f"Beslut om slutligt stöd – {n}", f"Ärendet är avslutat – {n}"]
        subjects += [f"Utbetalning – {n}"] * len(grant.payouts())
        if grant.reclaim:
            subjects += [f"Kommunicering inför beslut om återkrav – {n}", f"Beslut om återkrav – {n}"]
    return sorted(subjects)


# --- the test --------------------------------------------------------------------------------------


def test_every_example_application_runs_to_a_closed_archived_case_through_the_command_line(stack: Stack) -> None:
    assert [(s.file, s.received) for s in SKIPPED] == [
        ("export-samverkan-2021/eligible-regional-livsmedel-ostergotland.json", "2021-03-09T08:15:00+01:00")
    ], "the manifest should list exactly one application twice (the late copy), which is not submitted"
    assert {e.call for e in SUBMITTED} == {"export-samverkan-2021", "saker-digitalisering-2022"}
    assert {e.file for e in SUBMITTED if e.eligible} >= ADVANCED
    assert {e.call for e in SUBMITTED if e.eligible and e.file not in ADVANCED} == {
        "export-samverkan-2021", "saker-digitalisering-2022"}, "each call should have a case paid without advance"

    # 1. Import every application with its original received instant.
    cases = in_parallel(lambda example: submit(stack, example), SUBMITTED)
    numbers = [c.number for c in cases]
    assert len(set(numbers)) == len(numbers), numbers

    # 2. Drive each case to its end: approval, payments, final report (and a reclaim), or dismissal;
    # then it is closed and archived. The longest first, so that the last to start is a short one.
    for eligible in (True, False):
        next(c for c in cases if c.example.eligible is eligible).examined = True
    longest_first = sorted(cases, key=lambda c: (not c.example.eligible, c.example.file != RECLAIMED))
    in_parallel(lambda case: drive(stack, case), longest_first)
    assert all(c.outcome == ("approved" if c.example.eligible else "dismissed") for c in cases)
    replayed = [next(c for c in cases if c.example.file == RECLAIMED),
                next(c for c in cases if c.example.eligible and c.example.call == "saker-digitalisering-2022")]

    def register() -> None:
        """The register lists every case as closed, in Swedish."""
        listed = accepted(stack.grantflow("cases"))
        stages = {line.split()[0]: line.split()[2] for line in listed.splitlines() if line.strip()}
        assert stages == dict.fromkeys(numbers, "Avslutad"), listed

    def replay(case: Case) -> Callable[[], None]:
        def check() -> None:
            """The archive alone replays the case's workflow with this version's code."""
            result = stack.grantflow("archive", "replay", case.number)
            assert result.returncode == 0 and f"{case.number}: ok, " in result.stdout, shown(result)
        return check

    def closed_case() -> None:
        """A closed case takes no more actions, and still shows where it ended, also in the archive."""
        refused(stack.act(replayed[0].number, "prepare-decision", OFFICER, {
            "kind": "reject", "reasons": "Sent påkommet."}), "Ärendet är avslutat")
        shown_case = accepted(stack.grantflow("case", replayed[0].number))
        assert "Steg:      Avslutad, utfall: beviljad" in shown_case, shown_case
        text = accepted(stack.grantflow("archive", "show", replayed[0].number))
        assert f"Ärende {replayed[0].number} – arkiverat" in text and "steg: Avslutad, utfall: beviljad" in text, text

    def bad_input() -> None:
        """Unusable input is exit 2 naming the option; an unknown case is a clear error."""
        malformed = stack.grantflow("act", cases[0].number, "score", "--as", OFFICER, "--data", "{not json")
        assert malformed.returncode == 2 and "--data" in malformed.stderr, shown(malformed)
        not_an_object = stack.grantflow("act", cases[0].number, "score", "--as", OFFICER, "--data", "[1, 2]")
        assert not_an_object.returncode == 2 and "--data: ska vara ett JSON-objekt" in not_an_object.stderr, (
            shown(not_an_object))
        for unknown in (stack.grantflow("case", "2099-99999"), stack.act("2099-99999", "decide", DECISION_MAKER)):
            assert unknown.returncode != 0 and "det finns inget ärende '2099-99999'" in unknown.stderr, shown(unknown)

    def letters() -> None:
        """The applicants got every letter: receipt, decision, and for a grant each payout and the closing."""
        subjects = letter_subjects(stack)
        assert set(subjects) == set(numbers), sorted(subjects)
        for case in cases:
            assert sorted(subjects[case.number]) == expected_subjects(case), (case.number, subjects[case.number])

    def payouts() -> None:
        """One row in the payout ledger per payout each plan foresaw, and all of them in one bank file."""
        expected = sorted((c.number, *row) for c in cases if c.grant for row in c.grant.payouts())
        for case in cases:  # every approved case but the reclaimed one was paid its whole grant
            if case.grant and not case.grant.reclaim:
                assert sum(amount for number, _, _, amount in expected if number == case.number) == (
                    exact(case.grant.granted))
        bank_file = stack.data_dir.parent / "bank-file.xml"
        exported = accepted(stack.grantflow("bank-file", "export", "--out", str(bank_file)))
        assert f"{len(expected)} utbetalningar" in exported, exported
        rows = json.loads(accepted(stack.grantflow("payouts", "--json")))
        assert sorted((r["case_number"], r["request_number"], r["kind"], Decimal(r["amount"])) for r in rows) == (
            expected), rows
        assert len({r["bank_file_id"] for r in rows}) == 1 and rows[0]["bank_file_id"] is not None, rows
        transfers = [e for e in ET.parse(bank_file).iter() if e.tag.endswith("CdtTrfTxInf")]
        ids = sorted(e.text or "" for t in transfers for e in t.iter() if e.tag.endswith("EndToEndId"))
        assert ids == sorted(f"{number}-{request}" for number, request, _, _ in expected), ids

    def visible() -> None:
        """Temporal's visibility finds the closed cases by their search attributes."""
        closed_2021 = sorted(c.number for c in cases if c.example.call == "export-samverkan-2021")
        found = stack.workflows("CaseStage='closed' AND CallId='export-samverkan-2021'")
        assert sorted(found) == closed_2021, found
        assert sorted(stack.workflows("CaseStage='closed'")) == sorted(numbers)
        granted = sorted(c.number for c in cases if c.outcome == "approved")
        assert sorted(stack.workflows("CaseStage='closed' AND GrantedAmountOre > 0")) == granted

    # 3. What the closed cases left behind. Every case is archived, so its register rows, letters and
    # payouts are all written: only Temporal's visibility may still lag.
    all_of(register, letters, payouts, replay(replayed[0]), replay(replayed[1]), closed_case, bad_input,
           lambda: eventually(visible))

    tracebacks = [shown(r) for r in stack.runs if "Traceback" in r.stderr]
    assert not tracebacks, "\n\n".join(tracebacks)
