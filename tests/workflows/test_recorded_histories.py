"""Histories that earlier versions of the workflows wrote still replay with today's code.

A case lives for a year and an auditor replays it long after; a change to a workflow that its
recorded histories no longer follow would fail every running case at its next task. Each file in
`histories/` was recorded from a real run of the version its name gives, before a change to
what that workflow does (record_histories.py records the newer ones).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from tests.keys import CONVERTER
from worker import registry

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
                                           "state-aid-case-0033"}
