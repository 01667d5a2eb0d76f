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

The recorded files are in clear; each payload the codec encrypts in a deployed cluster is
encrypted here with the run's key, as the archive holds it, so that the replay decrypts as it does
in production (search attributes, headers and the SDK's bookkeeping in markers stay in clear, as
the SDK leaves them).

Beside it, the SDK's Replayer on a bare workflow with the same number of events per history (a
1 ms timer per workflow task, patch markers to make up the count, the case's input size as its
input), recorded encrypted on a Temporal dev server this script starts, fed the same way (JSON text
parsed into WorkflowHistory for each replay), in one process. It runs in two halves, before and
after the cases, so that a load that changes during the run weighs on both sides alike. The targets
are against that Replayer as it comes, which hands each workflow task to a thread and back; the
cases' replay runs each task on its own thread (decision 30), so the bare replay run that way too is
timed last and its ratios printed beside, as the like-for-like comparison (not a target).

It prints histories replayed per second and CPU time per history (every thread of the process,
and the pool's processes) for: the cases on every core (the pool of processes, their start
included), the cases in one process (services.replay with jobs=1), and the bare workflow in one
process; then the two ratios beside their targets, (a) one process ≥ 0.8 × bare, (b) all cores
≥ 1.6 × bare in one process, and (b) by CPU time alone: what the pool would come to with every core
to itself, against a bare replay keeping one core busy. On a loaded machine the rates move by tens
of percent; the CPU times far less.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import resource
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
    """Each closed case of histories/: (run ids, each run's history as JSON text), chains joined.

    Encrypted as the archive of a deployed cluster holds them (the recorded files are in clear): every
    payload the codec would have encrypted is, with the run's key, so that the replay decrypts as it
    does in production, as the bare replay does.
    """
    chains: dict[str, list[Path]] = {}
    for path in sorted(HISTORIES.glob("case-*.json")):
        events = json.loads(path.read_text(encoding="utf-8"))["events"]
        if events[-1]["eventType"] not in ("EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED",
                                           "EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW"):
            continue  # still open when recorded: not what the archive holds
        chains.setdefault(path.stem.split("-run")[0], []).append(path)
    return [([p.stem for p in paths], [_encrypted(p.read_text(encoding="utf-8")) for p in paths])
            for paths in chains.values()]


# Payloads the SDK never passes through a codec (tests/workflows/test_encryption.py `_clear`): search
# attributes, headers, and its own bookkeeping in markers (a local activity's, a patch's).
_IN_CLEAR = frozenset({"searchAttributes", "header", "data", "patch-data"})


def _encrypted(text: str) -> str:
    from temporalio.api.common.v1 import Payload

    from infra.codec import EncryptionCodec

    codec = EncryptionCodec(_keys())

    def walk(value: Any, clear: bool) -> Any:
        if isinstance(value, list):
            return [walk(item, clear) for item in value]
        if not isinstance(value, dict):
            return value
        if isinstance(value.get("metadata"), dict) and isinstance(value.get("data", ""), str) and not clear:
            payload = Payload(metadata={k: base64.b64decode(v) for k, v in value["metadata"].items()},
                              data=base64.b64decode(value.get("data", "")))
            sealed = codec.encrypt(payload)
            return {"metadata": {k: base64.b64encode(v).decode() for k, v in sealed.metadata.items()},
                    "data": base64.b64encode(sealed.data).decode()}
        return {key: walk(item, clear or key in _IN_CLEAR) for key, item in value.items()}

    return json.dumps(walk(json.loads(text), False))


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
            async def record(events: int, size: int) -> None:
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

            # All at once: the dev server fires a timer about a second after it is due, whatever its length.
            await asyncio.gather(*(record(events, size) for events, size in wanted.items()))
    finally:
        await env.shutdown()
    return found


class Timed:
    """Wall time, and CPU time of this process (every thread) and of the processes it started and waited for."""

    def __enter__(self) -> Timed:
        self.wall, self.cpu, self.children = time.perf_counter(), time.process_time(), _children_cpu()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu + _children_cpu() - self.children


def _children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


async def case_rate(cases: list[tuple[list[str], list[str]]], n: int, jobs: int) -> tuple[int, Timed]:
    """The histories the cases hold, and the time and CPU the replay took: the pool's start included."""
    from services.replay import RecordedCase, replay_recorded

    async def feed() -> Any:
        for i in range(n):
            run_ids, texts = cases[i % len(cases)]
            yield RecordedCase(case_number=f"2026-{i:05d}", workflow_id=f"2026-{i:05d}", source="archive",
                               run_ids=run_ids, histories_json=f"[{','.join(texts)}]")

    with Timed() as timed:
        summary = await replay_recorded(feed(), keys=_keys(), jobs=jobs)
    assert summary.ok and summary.cases == n, [r.runs for r in summary.differ[:3]]
    return summary.runs, timed


async def bare_rate(texts: list[str], n: int, start: int = 0, *, inline: bool = False) -> Timed:
    """Replay `n` bare histories (from the `start`th on) with the SDK's Replayer, as its documentation does;
    `inline`: with each workflow task on the replay's own thread (`debug_mode`), as the cases' replay runs."""
    from temporalio.client import WorkflowHistory
    from temporalio.worker import Replayer

    from infra.converter import converter_for
    from worker import registry

    replayer = Replayer(workflows=[BareArchived], workflow_runner=registry.workflow_runner(),
                        data_converter=converter_for(_keys()), debug_mode=inline)

    async def feed() -> Any:
        for i in range(start, start + n):
            yield WorkflowHistory.from_json("bare", texts[i % len(texts)])

    done = 0
    with Timed() as timed:
        async with replayer.workflow_replay_iterator(feed()) as results:
            async for result in results:
                if result.replay_failure is not None:
                    raise result.replay_failure
                done += 1
    assert done == n
    return timed


def _against(value: float, target: float) -> str:
    return f"(target ≥ {target}: {'met' if value >= target else 'NOT met'})"


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
          f"{events:.0f} events each on average, encrypted; {jobs} cores; load average {os.getloadavg()[0]:.1f}")
    # The bare replay in two halves, before and after the cases', so that a load that changes during the
    # run weighs on both alike.
    bare_before = await bare_rate(bare_texts, histories // 2)
    _, pool = await case_rate(cases, n, jobs)
    one = (await case_rate(cases, n, 1))[1] if one_process else None
    bare_after = await bare_rate(bare_texts, histories - histories // 2, start=histories // 2)
    bare_inline = await bare_rate(bare_texts, histories, inline=True)
    bare_one = histories / (bare_before.wall + bare_after.wall)
    bare_cpu = (bare_before.cpu + bare_after.cpu) / histories

    def line(label: str, timed: Timed) -> None:
        print(f"   {label:24s} {histories / timed.wall:7.1f} histories/s   "
              f"CPU {1000 * timed.cpu / histories:5.1f} ms a history")

    line(f"cases, {jobs} processes", pool)
    if one is not None:
        line("cases, one process", one)
    print(f"   {'bare, one process':24s} {bare_one:7.1f} histories/s   CPU {1000 * bare_cpu:5.1f} ms a history"
          "   (SDK Replayer, same events per history)")
    rate_all = histories / pool.wall
    if one is not None:
        rate_one = histories / one.wall
        print(f"   (a) per core, one process:  {rate_one / bare_one:.2f} × bare {_against(rate_one / bare_one, 0.8)}")
    print(f"       per core, {jobs} processes: {rate_all / jobs / bare_one:.2f} × bare")
    print(f"   (b) all cores: {rate_all / bare_one:.2f} × bare in one process {_against(rate_all / bare_one, 1.6)}")
    # What (b) comes to by CPU time alone, which a load moves far less than the rates: the pool with every core
    # to itself, against a bare replay that keeps exactly one core busy (how busy it kept one here is shown).
    by_cpu = jobs * bare_cpu / (pool.cpu / histories)
    print(f"       by CPU time: {jobs} cores / the pool's CPU a history, against one core / the bare's: {by_cpu:.2f}"
          f"   (the bare kept {(bare_before.cpu + bare_after.cpu) / (bare_before.wall + bare_after.wall):.2f} "
          "of a core busy here)")
    # The targets are against the SDK's Replayer as it comes. The cases' replay runs each workflow task on its
    # own thread (decision 30); the bare replay run the same way is the like-for-like comparison, shown beside.
    inline_one = histories / bare_inline.wall
    line("bare, one process, inline", bare_inline)
    print(f"   against the bare replay with each task on its own thread as the cases' (debug_mode), not a target: "
          f"(a) {(histories / one.wall if one else rate_all / jobs) / inline_one:.2f}, "
          f"(b) {rate_all / inline_one:.2f}")
    print(f"   load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=10_000, help="archived cases to replay (default 10 000)")
    parser.add_argument("--skip-one-process", action="store_true", help="only the pool, not the one-process run")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.cases, not arguments.skip_one_process))
