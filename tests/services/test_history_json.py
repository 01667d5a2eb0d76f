"""The fast reader of recorded histories reads exactly what the SDK's reader does, or refuses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory

from services import history_json
from services.replay import parse

HISTORIES = sorted((Path(__file__).parents[1] / "workflows" / "histories").glob("*.json"))


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
def test_every_recorded_history_reads_as_the_sdk_reads_it(path: Path):
    raw = json.loads(path.read_text(encoding="utf-8"))
    assert history_json.events(raw) == list(WorkflowHistory.from_json(path.stem, raw).events)


def test_an_older_form_is_refused_and_read_by_the_sdk_instead():
    raw = json.loads(HISTORIES[0].read_text(encoding="utf-8"))
    # `temporal workflow show` once wrote enums in this form, which the SDK's reader still reads.
    raw["events"][0]["eventType"] = "WorkflowExecutionStarted"
    raw["events"][0]["someFieldOfANewerServer"] = 1
    with pytest.raises(ValueError):
        history_json.events(raw)
    assert parse("x", raw).events[0].event_id == 1
