"""`grantflow audit replay` on real cases: a real Temporal dev server, real PostgreSQL, the CLI as run.

One test walks through it all, because its cases take most of its time: two calls' cases, one
closed and archived and two open, replayed by call and all together from Temporal (the pool of
processes), one from the archive, and then that one's archived history altered so that it no
longer matches the code: the case, its run and the recorded event are named, and the exit is 1.
"""

from __future__ import annotations

import asyncio
import json
import re

from psycopg.types.json import Jsonb

from activities.archive import archived_case
from cli.main import main
from tests.factories import application_2021, application_2022
from tests.workflows.test_case_workflow import APPLICANT
from workflows.archive import ArchiveWorkflow, archive_workflow_id

DIFFERS = re.compile(r"^  case (\S+) run (\S+) event (\d+): (.*)$", re.MULTILINE)


async def test_cases_replay_from_temporal_and_the_archive_and_a_difference_is_named(harness, monkeypatch, capsys):
    export, days = harness.call("export-samverkan-2021")
    secure, days_2022 = harness.call("saker-digitalisering-2022")
    closed = await harness.submit(harness.application(application_2021(), export, days))
    still_open = await harness.submit(harness.application(application_2021(), export, days))
    other_call = await harness.submit(harness.application(application_2022(), secure, days_2022))
    for number in (closed, still_open, other_call):
        await harness.settled(number)
    await harness.act(closed, "withdraw", APPLICANT, reason="Projektet genomförs inte.")
    await harness.handle(closed).result()
    await harness.client.get_workflow_handle_for(ArchiveWorkflow.run, archive_workflow_id(closed)).result()
    # Visibility lists what the command replays; it catches up with the cases a moment after they start.
    for _ in range(400):
        if await harness.client.count_workflows(f"WorkflowType = 'CaseWorkflow' AND CallId = '{export.id}'") == 2:
            break
        await asyncio.sleep(0.05)

    monkeypatch.setenv("GRANTFLOW_DATABASE_URL", harness.database_url)
    monkeypatch.setenv("GRANTFLOW_TEMPORAL_ADDRESS", harness.client.service_client.config.target_host)
    monkeypatch.setenv("GRANTFLOW_TEMPORAL_NAMESPACE", harness.client.namespace)
    capsys.readouterr()

    async def cli(*argv: str) -> tuple[int, str, str]:
        code = await asyncio.to_thread(main, ["audit", "replay", *argv])
        out, err = capsys.readouterr()
        return code, out, err

    # A call's cases, from Temporal, in two processes, with progress on stderr.
    code, out, err = await cli("--call", export.id, "--from", "temporal", "--verbose", "--jobs", "2", "--progress")
    assert code == 0, out + err
    assert {f"{closed} (temporal): ok, 1 run", f"{still_open} (temporal): ok, 1 run"} <= set(out.splitlines())
    assert other_call not in out
    assert out.splitlines()[-1].startswith("2 cases, 2 runs, ") and out.endswith(": 0 differ\n")
    assert "cases replayed" in err and "Traceback" not in err

    # Everything the worker runs: the cases, their intakes, the calls and the archiving.
    code, out, err = await cli("--all", "--from", "temporal", "--verbose")
    assert code == 0, out + err
    assert {closed, still_open, other_call, archive_workflow_id(closed)} <= {
        line.split(" ")[0] for line in out.splitlines()}

    # One case: from Temporal while it is there (auto), from the archive when asked.
    code, out, _ = await cli(closed)
    assert code == 0 and out.splitlines()[0] == f"{closed} (temporal): ok, 1 run"
    code, out, _ = await cli(closed, "--from", "archive")
    assert code == 0 and out.splitlines()[0] == f"{closed} (archive): ok, 1 run"

    # The archived history altered: the archiving child it started is now of another type.
    archive = await archived_case(harness.pool, closed)
    assert archive is not None
    [history] = archive.histories
    [altered] = [event for event in history["events"] if "startChildWorkflowExecutionInitiatedEventAttributes" in event]
    altered["startChildWorkflowExecutionInitiatedEventAttributes"]["workflowType"]["name"] = "SomethingElse"
    async with harness.pool.connection() as conn:
        await conn.execute("UPDATE case_archive SET histories = %s WHERE case_number = %s",
                           (Jsonb(archive.histories), closed))

    code, out, err = await cli(closed, "--from", "archive")
    assert code == 1, out + err
    assert out.splitlines()[0] == f"{closed} (archive): DIFFERS in 1 of 1 runs"
    [(number, run_id, event_id, problem)] = DIFFERS.findall(out)
    assert (number, run_id, int(event_id)) == (closed, archive.run_ids[0], int(altered["eventId"]))
    assert "Nondeterminism" in problem and "SomethingElse" in problem
    assert f"replay differs for {closed}" in err and "Traceback" not in out + err

    # The same through the pool, every archived case; and Temporal's copy still replays.
    code, out, _ = await cli("--all", "--from", "archive", "--jobs", "2")
    assert code == 1 and [m[:3] for m in DIFFERS.findall(out)] == [(closed, run_id, event_id)]
    code, _, _ = await cli(closed, "--from", "temporal")
    assert code == 0


async def test_bad_selections_are_refused_naming_the_field(harness, monkeypatch, capsys):
    monkeypatch.setenv("GRANTFLOW_DATABASE_URL", harness.database_url)
    monkeypatch.setenv("GRANTFLOW_TEMPORAL_ADDRESS", harness.client.service_client.config.target_host)
    capsys.readouterr()
    assert await asyncio.to_thread(main, ["audit", "replay", "2025-99999"]) == 2
    assert "error: NUMBER: case 2025-99999 is neither in Temporal nor in the archive" in capsys.readouterr().err
    assert await asyncio.to_thread(main, ["audit", "replay", "nonsense"]) == 2
    assert "is not a case number" in capsys.readouterr().err
    assert await asyncio.to_thread(main, ["audit", "replay", "--call", "x' OR 'a'='a"]) == 2
    assert "--call" in capsys.readouterr().err
    # Nothing to replay is not a difference.
    assert await asyncio.to_thread(main, ["audit", "replay", "--call", "no-such-call", "--from", "temporal"]) == 0
    assert json.dumps(capsys.readouterr().out).startswith('"0 cases')
