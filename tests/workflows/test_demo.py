"""`grantflow up --demo` leaves a living system: cases in every stage up to payments."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path

from activities.register import list_cases
from cli.main import main
from infra.calls import default_catalog
from services import cases
from services.demo import DEMO_MARKER, load_demo
from tests.factories import application_2021


async def test_the_demo_takes_cases_to_different_stages(harness, tmp_path):
    numbers = await load_demo(harness.client, harness.task_queue, tmp_path)
    states = [await harness.settled(n) for n in numbers]
    stages = Counter(s.stage.value for s in states)
    assert {"payments", "closed", "decision", "assessment", "secrecy_review", "completeness"} <= set(stages)
    paying = [s for s in states if s.stage.value == "payments"]
    assert all(s.payments.paid == 100000 and len(s.payments.requests) == 1 for s in paying)
    assert await cases.case_state(harness.client, numbers[0])
    # A case in each call is assigned to the demo officer's colleague in her team (services/teams.py).
    assert [s.stage.value for s in states if s.assigned_officer == "erik.handlaggare"] == ["secrecy_review"] * 2


async def demo_cases(harness) -> list[str]:
    return [row.case_number for row in await list_cases(harness.pool) if row.call_id.endswith("-demo")]


async def test_the_demo_is_loaded_once_per_data_directory(harness, tmp_path):
    first = await load_demo(harness.client, harness.task_queue, tmp_path)
    assert sorted(await demo_cases(harness)) == sorted(first) and len(first) == 16

    # `grantflow up --demo` started again on the same data.
    assert await load_demo(harness.client, harness.task_queue, tmp_path) == first
    # Started again after a crash that came before the demo was marked as loaded: its submissions
    # and actions carry fixed ids, so nothing is added either.
    (tmp_path / DEMO_MARKER).unlink()
    again = await load_demo(harness.client, harness.task_queue, tmp_path)
    assert again == first and sorted(await demo_cases(harness)) == sorted(first)


async def test_the_demo_calls_are_calls_of_the_installation(harness, tmp_path, monkeypatch, capsys):
    data_dir = tmp_path / "data"
    await load_demo(harness.client, harness.task_queue, data_dir)
    # The CLI in another terminal: it knows the installation by its data directory, nothing else.
    monkeypatch.setenv("GRANTFLOW_DATA_DIR", str(data_dir))
    monkeypatch.setenv("GRANTFLOW_DATABASE_URL", harness.database_url)
    monkeypatch.setenv("GRANTFLOW_TEMPORAL_ADDRESS", harness.client.service_client.config.target_host)
    monkeypatch.setenv("GRANTFLOW_TASK_QUEUE", harness.task_queue)
    default_catalog.cache_clear()
    try:
        capsys.readouterr()
        assert await asyncio.to_thread(main, ["calls"]) == 0
        listed = capsys.readouterr().out
        assert "export-samverkan-2021-demo\t" in listed and "saker-digitalisering-2022-demo\t" in listed, listed

        application = application_2021()
        call = default_catalog().get("export-samverkan-2021-demo")
        application["call_id"] = call.id
        application["project"]["start"] = call.window.closes.isoformat()
        application["project"]["end"] = call.window.closes.replace(month=12, day=31).isoformat()
        path = Path(tmp_path / "application.json")
        path.write_text(json.dumps(application), encoding="utf-8")
        assert await asyncio.to_thread(main, ["submit", str(path)]) == 0, capsys.readouterr().err
        number = capsys.readouterr().out.strip().splitlines()[-1]
        state = await harness.settled(number)
        assert state.call.id == "export-samverkan-2021-demo"
    finally:
        default_catalog.cache_clear()
