"""Benchmark: what replaying a case costs the worker, against a bare workflow with the same history.

Run by hand (it is not a test):

    .venv/bin/python bench/replay.py [--replays 400]

An officer's action on a case that has left the worker's cache starts with a replay of the case's
history. bench/cases.py times that action end to end, through the server, on a shared machine, and
its figure moves by tens of percent between runs. This bench times the replay alone, in one
process, with nothing else running, so that a change to the workflow's own work shows.

It starts a Temporal dev server and an embedded PostgreSQL and runs, in this process, a worker as
deployed (worker.registry: the same workflows, activities, runner and data converter) and a bare
worker. It makes the two histories that bench/cases.py replays on an evicted action:
- a case after two officer actions (record-secrecy-review, then declare-no-conflict), each sent
  once the case has finished what the one before set off;
- bench/cases.py's BareShapedCase after two updates: the same workflow tasks, timers, local
  activities, search attribute upserts and summaries, and an input of the case's size;
- the same without the upserts and the summaries: the baseline before decision 13.
Then it replays them in turn (`--replays` of each) with the SDK's Replayer, the deployed runner
and data converter, and prints each one's median and quartiles and the case's ratio to each.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

# The script's own directory is on the path: bench/cases.py's baseline workflow, as it runs there.
from cases import (
    BARE_QUEUE,
    BareShapedCase,
    _use_root,
    bare_step,
    bench_converter,
    codec_environment,
    demo_submission,
    settled,
    start_shaped,
    start_temporal,
)

QUEUE = "grantflow-replay-bench"


async def main(replays: int) -> None:
    root = _use_root()
    import pgserver
    from temporalio.worker import Replayer, Worker

    from activities.db import open_pool, upgrade
    from infra.settings import Settings
    from services import cases
    from worker import registry

    work = Path(tempfile.mkdtemp(prefix="grantflow-replay-bench-"))
    db = pgserver.get_server(work / "pg", cleanup_mode="delete")
    url = db.get_uri()
    await upgrade(url)
    converter = bench_converter(codec_environment())  # encrypted, as deployed
    env = await start_temporal(converter)
    pool = await open_pool(url)
    try:
        client = env.client
        settings = Settings.from_env({"GRANTFLOW_DATABASE_URL": url})
        call, catalog, raw = demo_submission(root)
        officer = {"role": "officer", "id": "anna"}
        runner = registry.workflow_runner()
        async with (Worker(client, task_queue=QUEUE, workflows=registry.workflows(),
                           activities=registry.activities(pool, settings, client), workflow_runner=runner),
                    Worker(client, task_queue=BARE_QUEUE, workflows=[BareShapedCase], activities=[bare_step],
                           workflow_runner=runner)):
            await cases.ensure_call_workflow(client, call, QUEUE)
            number = (await cases.submit(client, catalog, raw, task_queue=QUEUE)).case_number
            case = client.get_workflow_handle(number)
            await settled(case, 60)
            for action in ("record-secrecy-review", "declare-no-conflict"):
                payload = {"rulings": []} if action == "record-secrecy-review" else {}
                await cases.act(client, number, action, cases.build_command(action, officer, payload, None))
                await settled(case, 60)
            started = (await case.fetch_history()).events[0]
            size = len(started.workflow_execution_started_event_attributes.input.payloads[0].data)
            histories = {"case": await case.fetch_history()}
            for name, annotated in (("bare, same history", True), ("bare, unannotated", False)):
                shaped = await start_shaped(client, "x" * size, annotated)
                await settled(shaped, 60)
                for _ in range(2):
                    await shaped.execute_update(BareShapedCase.act, "x", id=uuid.uuid4().hex)
                    await settled(shaped, 60)
                histories[name] = await shaped.fetch_history()
    finally:
        await pool.close()
        await env.shutdown()
        db.cleanup()
        shutil.rmtree(work, ignore_errors=True)

    replayer = Replayer(workflows=[*registry.workflows(), BareShapedCase], workflow_runner=registry.workflow_runner(),
                        data_converter=converter)
    warm_up = 20
    order = list(histories) * (replays + warm_up)
    times: dict[str, list[float]] = {name: [] for name in histories}

    async def feed() -> Any:
        for name in order:
            yield histories[name]

    # In turn, so that whatever else the machine does falls on all of them.
    async with replayer.workflow_replay_iterator(feed()) as results:
        last = time.perf_counter()
        i = 0
        async for result in results:
            now = time.perf_counter()
            if result.replay_failure is not None:
                raise result.replay_failure
            times[order[i]].append((now - last) * 1000)
            last, i = now, i + 1
    events = {name: len(h.events) for name, h in histories.items()}
    print(f"replay of an evicted case's history, {replays} of each, in turn, in one process")
    medians = {}
    for name, values in times.items():
        values = values[warm_up:]
        q1, q2, q3 = statistics.quantiles(values, n=4)
        medians[name] = q2
        print(f"   {name:20s} {events[name]:3d} events   median {q2:6.2f} ms   quartiles {q1:6.2f} – {q3:6.2f} ms")
    print(f"   ratio of medians {medians['case'] / medians['bare, same history']:.2f} to the same history "
          f"({medians['case'] / medians['bare, unannotated']:.2f} to the unannotated one)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replays", type=int, default=400, help="replays of each history (default 400)")
    asyncio.run(main(parser.parse_args().replays))
