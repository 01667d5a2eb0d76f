"""Benchmark: replaying archived cases in bulk, as `grantflow audit replay --all --from archive` does.

Run by hand (it is not a test):

    .venv/bin/python bench/replay_archive.py [--cases 10000] [--skip-one-process]

What is replayed: the real case histories of tests/workflows/histories/ that a closed case
leaves (recorded from real runs by tests/workflows/record_histories.py: every path, both calls,
one chain of two runs), dealt out round-robin into `--cases` archived cases held in memory, each
as the archive delivers it to the replay: the text of its `histories` column (a JSON array of the
runs), with its run ids. They are copies, not 10 000 different cases: the replay does the same work
for a copy as for the case it copies (it keeps nothing between histories), but the database is
not read here (the archive's server-side cursor adds its own time beside this, in another process).

Beside it, the SDK's Replayer on a bare workflow with the same number of events per history (a
1 ms timer per workflow task, patch markers to make up the count, the case's input size as its
input), recorded on a Temporal dev server this script starts, fed the same way (JSON text parsed
into WorkflowHistory for each replay), in one process.

It prints histories replayed per second for: the cases in one process (services.replay with
jobs=1), the cases on every core (the pool of processes), and the bare workflow in one process,
and the ratios against the targets: per core ≥ 0.8 × bare, all cores ≥ 1.6 × bare.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio import workflow

ROOT = Path(__file__).resolve().parent.parent
HISTORIES = ROOT / "tests" / "workflows" / "histories"
QUEUE = "bench-replay-archive"


@workflow.defn
class BareArchived:
    """As many events as a case's history: a 1 ms timer per workflow task, patches for the rest."""

    @workflow.run
    async def run(self, timers: int, markers: int, ballast: str) -> int:
        for i in range(markers):
            workflow.patched(f"bench-{i}")
        for _ in range(timers):
            await workflow.sleep(timedelta(milliseconds=1))
        return len(ballast)


def archived_cases() -> list[tuple[list[str], list[str]]]:
    """Each closed case of histories/: (run ids, each run's history as JSON text), chains joined."""
    chains: dict[str, list[Path]] = {}
    for path in sorted(HISTORIES.glob("case-*.json")):
        events = json.loads(path.read_text(encoding="utf-8"))["events"]
        if events[-1]["eventType"] not in ("EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED",
                                           "EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW"):
            continue  # still open when recorded: not what the archive holds
        chains.setdefault(path.stem.split("-run")[0], []).append(path)
    return [([p.stem for p in paths], [p.read_text(encoding="utf-8") for p in paths]) for paths in chains.values()]


_KEYS: list[Any] = []


def _keys() -> Any:
    """The run's payload key (one for the bare histories, the cases' replays and the bare replays)."""
    if not _KEYS:
        from infra.codec import generate_key, parse_keys

        _KEYS.append(parse_keys(generate_key("bench")))
    return _KEYS[0]


async def bare_histories(texts: list[str]) -> dict[int, str]:
    """For each event count among `texts`, a bare workflow's history with that count, as JSON text."""
    sys.path.insert(0, str(ROOT / "bench"))
    from cases import start_temporal
    from temporalio.worker import Worker

    from infra.converter import converter_for
    from worker import registry

    wanted: dict[int, int] = {}
    for text in texts:
        history = json.loads(text)
        started = history["events"][0]["workflowExecutionStartedEventAttributes"]
        size = sum(len(p.get("data", "")) for p in started.get("input", {}).get("payloads", []))
        wanted[len(history["events"])] = size
    env = await start_temporal(converter_for(_keys()))  # encrypted, as deployed
    found: dict[int, str] = {}
    try:
        async with Worker(env.client, task_queue=QUEUE, workflows=[BareArchived],
                          workflow_runner=registry.workflow_runner()):
            for events, size in wanted.items():
                # Started, the first task and the completion: 5 events; each timer and its task: 5; each
                # patch: 2 (its marker and the search attribute that lists the patches).
                markers = 3 * ((events - 5) % 5) % 5
                timers = (events - 5 - 2 * markers) // 5
                ballast = "x" * (size * 3 // 4)  # base64 in the JSON: 4 characters for 3 bytes
                handle = await env.client.start_workflow(BareArchived.run, args=[timers, markers, ballast],
                                                         id=f"bare-{uuid.uuid4().hex}", task_queue=QUEUE)
                await handle.result()
                history = await handle.fetch_history()
                assert len(history.events) == events, (len(history.events), events)
                found[events] = history.to_json()
    finally:
        await env.shutdown()
    return found


async def case_rate(cases: list[tuple[list[str], list[str]]], n: int, jobs: int) -> tuple[float, int]:
    from services.replay import RecordedCase, replay_recorded

    async def feed() -> Any:
        for i in range(n):
            run_ids, texts = cases[i % len(cases)]
            yield RecordedCase(case_number=f"2026-{i:05d}", workflow_id=f"2026-{i:05d}", source="archive",
                               run_ids=run_ids, histories_json=f"[{','.join(texts)}]")

    started = time.perf_counter()
    summary = await replay_recorded(feed(), keys=_keys(), jobs=jobs)
    elapsed = time.perf_counter() - started
    assert summary.ok and summary.cases == n, [r.runs for r in summary.differ[:3]]
    return summary.runs / elapsed, summary.runs


async def bare_rate(texts: list[str], n: int) -> float:
    from temporalio.client import WorkflowHistory
    from temporalio.worker import Replayer

    from infra.converter import converter_for
    from worker import registry

    replayer = Replayer(workflows=[BareArchived], workflow_runner=registry.workflow_runner(),
                        data_converter=converter_for(_keys()))

    async def feed() -> Any:
        for i in range(n):
            yield WorkflowHistory.from_json("bare", texts[i % len(texts)])

    started = time.perf_counter()
    done = 0
    async with replayer.workflow_replay_iterator(feed()) as results:
        async for result in results:
            if result.replay_failure is not None:
                raise result.replay_failure
            done += 1
    return done / (time.perf_counter() - started)


async def main(n: int, one_process: bool) -> None:
    from services.replay import cores

    cases = archived_cases()
    runs = [text for _ids, texts in cases for text in texts]
    per_case = [len(ids) for ids, _texts in cases]
    histories = sum(per_case[i % len(cases)] for i in range(n))
    events = sum(len(json.loads(t)["events"]) for t in runs) / len(runs)
    bare = await bare_histories(runs)
    # The bare histories in the same mix as the cases' runs.
    bare_texts = [bare[len(json.loads(t)["events"])] for t in runs]
    jobs = cores()
    print(f"{n} archived cases ({len(cases)} recorded cases dealt out round-robin): {histories} histories, "
          f"{events:.0f} events each on average; {jobs} cores; load average {os.getloadavg()[0]:.1f}")
    rate_all, _ = await case_rate(cases, n, jobs)
    print(f"   cases, {jobs} processes     {rate_all:8.1f} histories/s")
    rate_one = None
    if one_process:
        rate_one, _ = await case_rate(cases, n, 1)
        print(f"   cases, one process     {rate_one:8.1f} histories/s")
    bare_one = await bare_rate(bare_texts, histories)
    print(f"   bare, one process      {bare_one:8.1f} histories/s   (SDK Replayer, same events per history)")
    per_core = rate_all / jobs / bare_one
    print(f"   per core: {per_core:.2f} × bare on all cores"
          + (f", {rate_one / bare_one:.2f} × in one process" if rate_one else "") + "   (target ≥ 0.8)")
    print(f"   all cores: {rate_all / bare_one:.2f} × bare in one process   (target ≥ 1.6)")
    print(f"   load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=10_000, help="archived cases to replay (default 10 000)")
    parser.add_argument("--skip-one-process", action="store_true", help="only the pool, not the one-process run")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.cases, not arguments.skip_one_process))
