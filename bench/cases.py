"""Benchmark: case intake and officer actions against bare Temporal on the same server, same run.

Run by hand (it is not a test):  .venv/bin/python bench/cases.py [--cases 1000] [--open 10000]

It starts a Temporal dev server and an embedded PostgreSQL, runs a grantflow worker in a
separate process (so that its memory can be measured alone) and prints:
  1. cases registered per second (submit → register row → checks → case started), beside
     bare workflow starts per second and bare start-to-completion per second;
  2. an officer action's latency (an update that records an event) beside a bare update's;
  3. the worker's peak resident memory with N cases open and waiting.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pgserver
from temporalio import workflow
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from activities.db import upgrade  # noqa: E402  (after the path is set)
from domain.clock import stockholm_date  # noqa: E402
from services import cases  # noqa: E402
from services.calls import CallCatalog, load_catalog  # noqa: E402
from services.demo import demo_application, demo_call  # noqa: E402
from workflows import search_attributes as sa  # noqa: E402


@workflow.defn(sandboxed=False)
class Bare:
    """The baseline: a workflow that waits for one update, like a case waiting for an officer."""

    def __init__(self) -> None:
        self.done = False

    @workflow.run
    async def run(self, wait: bool) -> None:
        if wait:
            await workflow.wait_condition(lambda: self.done)

    @workflow.update
    def act(self, value: str) -> str:
        return value


def rss_peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def timed(coros: list) -> float:
    started = time.perf_counter()
    await asyncio.gather(*coros)
    return time.perf_counter() - started


async def main(n_cases: int, n_open: int, actions: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="grantflow-bench-"))
    db = pgserver.get_server(work / "pg", cleanup_mode="stop")
    url = db.get_uri()
    await upgrade(url)
    temporal = shutil.which("temporal") or str(Path(sys.executable).with_name("temporal"))
    attrs = [arg for key in sa.ALL
             for arg in ("--search-attribute", f"{key.name}={key.indexed_value_type.name.title()}")]
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal, dev_server_extra_args=attrs, data_converter=pydantic_data_converter,
        dev_server_log_level="error",
    )
    client: Client = env.client
    address = client.service_client.config.target_host
    worker_env = {**os.environ, "GRANTFLOW_TEMPORAL_ADDRESS": address, "GRANTFLOW_DATABASE_URL": url,
                  "GRANTFLOW_TASK_QUEUE": "grantflow", "GRANTFLOW_LOG_FORMAT": "json"}
    worker = subprocess.Popen([sys.executable, "-m", "cli.main", "worker"], cwd=ROOT, env=worker_env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        seeds = load_catalog()
        today = stockholm_date(datetime.now(UTC))
        call = demo_call(seeds.get("export-samverkan-2021"), today)
        catalog = CallCatalog(calls={**seeds.calls, call.id: call}, form=seeds.form, texts=seeds.texts)
        example = json.loads((ROOT / "examples/export-samverkan-2021/eligible-regional-livsmedel-ostergotland.json")
                             .read_text(encoding="utf-8"))
        raw = json.dumps(demo_application(example, call, today))
        await cases.ensure_call_workflow(client, call, "grantflow")
        await cases.submit(client, catalog, raw, task_queue="grantflow")  # warm-up

        async with Worker(client, task_queue="bare", workflows=[Bare]):
            bare_starts = await timed([
                client.start_workflow(Bare.run, True, id=f"bare-{uuid.uuid4()}", task_queue="bare")
                for _ in range(n_cases)])
            bare_complete = await timed([
                client.execute_workflow(Bare.run, False, id=f"bare-{uuid.uuid4()}", task_queue="bare")
                for _ in range(n_cases)])
            submits = await timed([cases.submit(client, catalog, raw, task_queue="grantflow")
                                   for _ in range(n_cases)])
            print(f"1. {n_cases} at once:")
            print(f"   bare workflow starts          {n_cases / bare_starts:8.1f} /s")
            print(f"   bare start to completion      {n_cases / bare_complete:8.1f} /s")
            print(f"   cases registered (submit)     {n_cases / submits:8.1f} /s"
                  f"   ratio to bare starts {bare_starts / submits:.2f}, to bare completions "
                  f"{bare_complete / submits:.2f}")

            # 2. latency, one at a time: a bare update against a case's declare-no-conflict.
            handle = await client.start_workflow(Bare.run, True, id=f"bare-{uuid.uuid4()}", task_queue="bare")
            bare_lat = []
            for i in range(actions):
                t = time.perf_counter()
                await handle.execute_update(Bare.act, str(i))
                bare_lat.append(time.perf_counter() - t)
            # Cases submitted and in secrecy review before timing, so that the worker is as idle
            # for the officer's actions as it is for the bare updates.
            numbers = []
            for _ in range(actions):
                number = (await cases.submit(client, catalog, raw, task_queue="grantflow")).case_number
                await cases.act(client, number, "record-secrecy-review", cases.build_command(
                    "record-secrecy-review", {"role": "officer", "id": "anna"}, {"rulings": []}, None))
                numbers.append(number)
            await asyncio.sleep(5)  # let their outboxes drain: nothing else is timed here
            case_lat = []
            for number in numbers:
                command = cases.build_command("declare-no-conflict", {"role": "officer", "id": "anna"}, {}, None)
                t = time.perf_counter()
                await cases.act(client, number, "declare-no-conflict", command)
                case_lat.append(time.perf_counter() - t)
            b50, c50 = statistics.median(bare_lat) * 1000, statistics.median(case_lat) * 1000
            b95 = statistics.quantiles(bare_lat, n=20)[-1] * 1000
            c95 = statistics.quantiles(case_lat, n=20)[-1] * 1000
            print(f"2. officer action latency over {actions} actions (one at a time):")
            print(f"   bare update       p50 {b50:6.1f} ms  p95 {b95:6.1f} ms")
            print(f"   officer action    p50 {c50:6.1f} ms  p95 {c95:6.1f} ms   ratio p50 {c50 / b50:.2f}")

        # 3. memory with many cases open and waiting.
        batch = 500
        for start in range(0, n_open, batch):
            await asyncio.gather(*(cases.submit(client, catalog, raw, task_queue="grantflow")
                                   for _ in range(min(batch, n_open - start))))
        await asyncio.sleep(5)  # let the outboxes drain before reading the high-water mark
        print(f"3. worker peak memory with {n_open + n_cases + actions} cases open: "
              f"{rss_peak_mb(worker.pid):.0f} MB (VmHWM)")
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        await env.shutdown()
        db.cleanup()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--open", type=int, default=10000)
    parser.add_argument("--actions", type=int, default=50)
    args = parser.parse_args()
    asyncio.run(main(args.cases, args.open, args.actions))

