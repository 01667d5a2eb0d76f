"""Histories that earlier versions of the workflows wrote still replay with today's code.

A case lives for a year and an auditor replays it long after; a change to a workflow that its
recorded histories no longer follow would fail every running case at its next task. Each file in
`histories/` was recorded from a real run of the version its name gives, before a change to
what that workflow does (record_histories.py records the newer ones).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from services.replay import RecordedCase, replay_recorded
from tests.keys import CONVERTER, KEYS
from worker import registry
from workflows.case import DECISION_MAKERS_DECLARE
from workflows.intake import OPENS_THE_CASE

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_a_recorded_history_replays(path: Path):
    history = WorkflowHistory.from_json(path.stem, path.read_text(encoding="utf-8"))
    replayer = Replayer(workflows=registry.workflows(), workflow_runner=registry.workflow_runner(strict=True),
                        data_converter=CONVERTER)
    await replayer.replay_workflow(history)


def test_there_are_histories_to_replay():
    assert {p.stem for p in HISTORIES} >= {"intake-before-0016", "case-before-0016", "intake-0016", "case-0016",
                                           "case-resumed-before-0017", "case-approved-revoked-before-0021",
                                           # assigned; a records request overdue, released, another refused in
                                           # part; rejected: the shapes of the records updates (decision 24)
                                           "case-assigned-records-overdue-0024",
                                           # reports naming companies, one over its de minimis ceiling until
                                           # resolved; certificates; the final report's company (decision 33)
                                           "state-aid-case-0033",
                                           # decision 30: every path, both calls, a chain of two runs
                                           "case-2022-rejected-0030", "case-dismissed-0030", "case-withdrawn-0030",
                                           "case-approved-paid-in-full-0030", "case-revoked-reclaim-interest-0030",
                                           "case-written-off-0030", "case-continued-as-new-0030-run1",
                                           "case-continued-as-new-0030-run2"}


def patches(name: str) -> set[str]:
    """The `workflow.patched` ids a recorded history's markers hold."""
    events = json.loads((HISTORIES[0].parent / f"{name}.json").read_text(encoding="utf-8"))["events"]
    found = set()
    for event in events:
        marker = event.get("markerRecordedEventAttributes") or {}
        if marker.get("markerName") == "core_patch":
            [payload] = marker["details"]["patch-data"]["payloads"]
            found.add(json.loads(base64.b64decode(payload["data"]))["id"])
    return found


@pytest.mark.parametrize(("patch", "before", "after"), [
    # Decision makers declare no conflict before they decide (decision 21): a case decided before it
    # went on under the new code; one decided after records the marker.
    (DECISION_MAKERS_DECLARE, "case-approved-revoked-before-0021", "case-approved-paid-in-full-0030"),
    (DECISION_MAKERS_DECLARE, "case-approved-revoked-before-0021", "case-written-off-0030"),
    # The intake opens the case (decision 16).
    (OPENS_THE_CASE, "intake-before-0016", "intake-0016"),
])
def test_a_patch_is_kept_with_histories_from_before_and_after_it(patch, before, after):
    """Both sides of a change rolled out under running cases are here, and both replay (above)."""
    assert patch not in patches(before) and patch in patches(after)


async def test_the_audits_replay_reproduces_every_recorded_history():
    """`grantflow audit replay`'s own path (the deployed runner, the located events) agrees."""
    chain = [p for p in HISTORIES if p.stem.startswith("case-continued-as-new-0030-")]

    async def cases():
        for path in HISTORIES:
            if path not in chain:
                yield RecordedCase(case_number=path.stem, workflow_id=path.stem, source="file", run_ids=[path.stem],
                                   histories_json=f"[{path.read_text(encoding='utf-8')}]")
        yield RecordedCase(case_number="case-continued-as-new-0030", workflow_id="2026-00001", source="file",
                           run_ids=[p.stem for p in chain],
                           histories=[json.loads(p.read_text(encoding="utf-8")) for p in chain])

    summary = await replay_recorded(cases(), keys=KEYS, jobs=1)
    assert summary.ok, [r.runs for r in summary.differ]
    assert summary.cases == len(HISTORIES) - len(chain) + 1 and summary.runs == len(HISTORIES)
