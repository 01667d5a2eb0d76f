"""Archiving closed cases: every run's history and the register rows, read back and replayed.

A real Temporal dev server and a real PostgreSQL (the `harness` fixture). The cases here are
small workflows of this module's own, run under real case numbers from the register: one
that continues as new once, one that waits for a signal to close.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from temporalio import activity, workflow
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import Client, WorkflowFailureError, WorkflowHistory
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
    Replayer,
    Worker,
)

# The workflows below run in Temporal's sandbox, which imports this module afresh for every
# run it executes or replays: what they do not use is passed through, not imported again.
with workflow.unsafe.imports_passed_through():
    import pytest
    from psycopg.types.json import Jsonb

    from activities.archive import Archive, ArchivedCase, ArchiveRequest, ArchiveResult, archived_case
    from activities.budget import BudgetLedger, GrantRequest
    from activities.payments import Debtor, PaymentLedger, Payout, PayoutOrder, export_bank_file, list_payouts
    from activities.register import CaseEvent, Register, RegisterApplication, RegisterWrite
    from cli.main import main
    from domain.lifecycle import Stage
    from domain.payment import PayoutKind
    from services import archive as archive_service
    from tests.factories import application_2021
    from tests.keys import CONVERTER, KEYS
    from workflows.archive import ArchiveWorkflow, archive_workflow_id

# --- the test's own cases ------------------------------------------------------------------


@activity.defn
async def note(text: str) -> str:
    return text.upper()


@workflow.defn(name="ArchiveTestCase")
class ContinuingCase:
    """Does one activity per run, continues as new `runs_left` times, then completes."""

    @workflow.run
    async def run(self, runs_left: int) -> str:
        await workflow.execute_activity(note, f"körning {runs_left}", start_to_close_timeout=timedelta(seconds=30))
        if runs_left > 0:
            workflow.continue_as_new(runs_left - 1)
        return "klar"


@workflow.defn(name="ArchiveTestCase")
class ChangedCase:
    """The same workflow type changed since it ran: a timer where its history has an activity."""

    @workflow.run
    async def run(self, runs_left: int) -> str:
        await workflow.sleep(timedelta(seconds=1))
        if runs_left > 0:
            workflow.continue_as_new(runs_left - 1)
        return "klar"


@workflow.defn(name="ArchiveTestWaiting")
class WaitingCase:
    """Open until it is told to close."""

    def __init__(self) -> None:
        self.closing = False

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: self.closing)
        return "stängd"

    @workflow.signal
    def close(self) -> None:
        self.closing = True


class _SeeRefusals(Interceptor):
    """Sets `refused` when archive_case fails because the case is still open."""

    def __init__(self) -> None:
        self.refused = asyncio.Event()

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        refused = self.refused

        class Inbound(ActivityInboundInterceptor):
            async def execute_activity(self, input: ExecuteActivityInput) -> Any:
                try:
                    return await super().execute_activity(input)
                except ApplicationError as exc:
                    if exc.type == "CaseStillOpen":
                        refused.set()
                    raise

        return Inbound(next)


@dataclass
class Archiving:
    client: Client
    pool: Any
    task_queue: str
    database_url: str
    refusals: _SeeRefusals

    async def new_case(self) -> str:
        """A case in the register, with one event, as the intake and the case workflow write them."""
        register = Register(self.pool)
        registered = await register.register_application(RegisterApplication(
            submission_id=uuid.uuid4().hex, call_id="export-samverkan-2021-test", received_at=datetime.now(UTC),
            imported=False, sender_name="Region Exempel", sender_org_number="232100-0123",
            subject="Exportsamverkan i Exempellän", requested_amount=Decimal("570000.00"),
        ))
        await register.write(RegisterWrite(case_number=registered.case_number, events=[CaseEvent(
            case_number=registered.case_number, event_id="registered", at=datetime.now(UTC),
            actor_id="system", actor_role="system", kind="registered", stage=Stage.RECEIVED,
            summary="Ansökan registrerad.",
        )]))
        return registered.case_number

    async def archive(self, number: str) -> ArchiveResult:
        return await self.client.execute_workflow(
            ArchiveWorkflow.run, ArchiveRequest(case_number=number),
            id=archive_workflow_id(number), task_queue=self.task_queue,
        )

    async def closed_case(self) -> str:
        """A case whose workflow ran two runs (it continued as new once) and completed."""
        number = await self.new_case()
        result = await self.client.execute_workflow(ContinuingCase.run, 1, id=number, task_queue=self.task_queue)
        assert result == "klar"
        return number

    async def archived(self, number: str) -> ArchivedCase:
        found = await archived_case(self.pool, number)
        assert found is not None
        return found

    async def rows(self, number: str) -> list[tuple[Any, ...]]:
        async with self.pool.connection() as conn:
            cursor = await conn.execute("SELECT * FROM case_archive WHERE case_number = %s", (number,))
            return await cursor.fetchall()


@pytest.fixture
async def archiving(harness) -> AsyncIterator[Archiving]:
    refusals = _SeeRefusals()
    task_queue = f"archive-{uuid.uuid4().hex}"
    worker = Worker(
        harness.client,
        task_queue=task_queue,
        workflows=[ArchiveWorkflow, ContinuingCase, WaitingCase],
        activities=[Archive(harness.pool, harness.client).archive_case, note],
        interceptors=[refusals],
    )
    async with worker:
        yield Archiving(client=harness.client, pool=harness.pool, task_queue=task_queue,
                        database_url=harness.database_url, refusals=refusals)


CALL_ID = "export-samverkan-2021-test"
DEBTOR = Debtor(name="Tillväxtverket", bankgiro="123-4566")


@dataclass
class PaidCase:
    number: str
    bank_file_id: int  # the bank file the advance went out in; the final payout waits for one


async def paid_closed_case(archiving: Archiving) -> PaidCase:
    """A closed case granted 400 000 kr and paid twice, as the ledgers' activities write it.

    The advance has gone out in a bank file; the final payout (ordered just before the case
    closed) waits for the next export, as it usually does when the case is archived.
    """
    number = await archiving.new_case()
    grant = await BudgetLedger(archiving.pool).grant(GrantRequest(
        call_id=CALL_ID, call_budget=Decimal("10000000.00"), case_number=number, amount=Decimal("400000.00")))
    assert grant.granted
    ledger = PaymentLedger(archiving.pool)
    await ledger.pay(PayoutOrder(case_number=number, request_number=0, kind=PayoutKind.ADVANCE,
                                 amount=Decimal("100000.00"), payee_name="Region Exempel", payee_bankgiro="5402-9681"))
    exported = await export_bank_file(archiving.pool, DEBTOR, now=datetime.now(UTC))
    assert exported is not None and exported.transactions == 1
    await ledger.pay(PayoutOrder(case_number=number, request_number=1, kind=PayoutKind.FINAL,
                                 amount=Decimal("200000.50"), payee_name="Region Exempel", payee_bankgiro="5402-9681"))
    result = await archiving.client.execute_workflow(ContinuingCase.run, 1, id=number, task_queue=archiving.task_queue)
    assert result == "klar"
    return PaidCase(number=number, bank_file_id=exported.id)


def event_type(event: dict[str, Any]) -> str:
    return str(event["eventType"]).removeprefix("EVENT_TYPE_")


# --- archiving -------------------------------------------------------------------------------


async def test_a_closed_case_is_archived_with_every_run_and_replays(archiving):
    paid = await paid_closed_case(archiving)
    number = paid.number

    result = await archiving.archive(number)

    archived = await archiving.archived(number)
    assert result == ArchiveResult(case_number=number, runs=2, events=sum(len(h["events"]) for h in archived.histories))
    assert archived.workflow_id == number and archived.complete
    first, second = archived.histories
    assert event_type(first["events"][-1]) == "WORKFLOW_EXECUTION_CONTINUED_AS_NEW"
    started = second["events"][0]["workflowExecutionStartedEventAttributes"]
    assert started["continuedExecutionRunId"] == archived.run_ids[0]
    assert event_type(second["events"][-1]) == "WORKFLOW_EXECUTION_COMPLETED"
    # Exactly what Temporal holds, run by run, oldest first.
    for run_id, history in zip(archived.run_ids, archived.histories, strict=True):
        fetched = await archiving.client.get_workflow_handle(number, run_id=run_id).fetch_history()
        assert history == fetched.to_json_dict()
    # The register's rows, as they are in their tables.
    assert archived.register_rows["case"]["case_number"] == number
    assert archived.register_rows["case"]["requested_amount"] == 570000.00
    assert [event["kind"] for event in archived.register_rows["events"]] == ["registered"]
    assert archived.register_rows["documents"] == [] and archived.register_rows["letters"] == []
    # What was granted and paid: the budget ledger's grant and the payment ledger's rows, each
    # payout with the bank file it went out in (none yet for the final payout).
    assert [(g["call_id"], g["case_number"], g["amount"]) for g in archived.register_rows["budget_grants"]] == [
        (CALL_ID, number, 400000.00)]
    payouts = archived.register_rows["payouts"]
    assert [(p["request_number"], p["kind"], p["amount"], p["bank_file_id"]) for p in payouts] == [
        (0, "advance", 100000.00, paid.bank_file_id), (1, "final", 200000.50, None)]
    assert [Payout.model_validate(p) for p in payouts] == await list_payouts(archiving.pool, number)

    # Replayable from the archived JSON alone, as Temporal's own tools read it.
    histories = [WorkflowHistory.from_json(number, history) for history in archived.histories]
    replayer = Replayer(workflows=[ContinuingCase], data_converter=CONVERTER)
    for history in histories:
        await replayer.replay_workflow(history)  # raises on any replay failure
    report = await archive_service.replay_archived(archived, [ContinuingCase], KEYS)
    assert report.ok and [run.run_id for run in report.runs] == archived.run_ids

    # The final payout goes out in a bank file after the case was archived: archiving again
    # (as a retried attempt would) writes the file's id, and nothing else changes.
    later = await export_bank_file(archiving.pool, DEBTOR, now=datetime.now(UTC))
    assert later is not None and later.transactions == 1
    assert await archiving.archive(number) == result
    again = await archiving.archived(number)
    assert [p["bank_file_id"] for p in again.register_rows["payouts"]] == [paid.bank_file_id, later.id]
    assert (again.run_ids, again.histories) == (archived.run_ids, archived.histories)


async def test_archiving_waits_until_the_case_has_closed(archiving):
    number = await archiving.new_case()
    case = await archiving.client.start_workflow(WaitingCase.run, id=number, task_queue=archiving.task_queue)
    archive = await archiving.client.start_workflow(
        ArchiveWorkflow.run, ArchiveRequest(case_number=number),
        id=archive_workflow_id(number), task_queue=archiving.task_queue,
    )

    await asyncio.wait_for(archiving.refusals.refused.wait(), timeout=30)  # an attempt found the case open
    assert await archived_case(archiving.pool, number) is None

    await case.signal(WaitingCase.close)
    assert await case.result() == "stängd"
    result = await archive.result()

    assert result.runs == 1 and result.complete
    archived = await archiving.archived(number)
    assert event_type(archived.histories[0]["events"][-1]) == "WORKFLOW_EXECUTION_COMPLETED"
    attempts = [event.activity_task_started_event_attributes.attempt
                for event in (await archive.fetch_history()).events
                if event.HasField("activity_task_started_event_attributes")]
    assert attempts and attempts[-1] >= 2


async def test_archiving_twice_leaves_one_identical_row(archiving):
    number = await archiving.closed_case()
    first = await archiving.archive(number)
    rows = await archiving.rows(number)

    again = await archiving.archive(number)

    assert again == first
    assert await archiving.rows(number) == rows and len(rows) == 1


async def test_a_case_not_in_the_register_is_not_archived(archiving):
    # A workflow under a case number that the register never gave out: nothing to archive it with.
    number = "1999-00001"
    await archiving.client.execute_workflow(ContinuingCase.run, 0, id=number, task_queue=archiving.task_queue)
    with pytest.raises(WorkflowFailureError) as failed:
        await archiving.archive(number)
    assert isinstance(failed.value.cause, ActivityError) and isinstance(failed.value.cause.cause, ApplicationError)
    assert failed.value.cause.cause.type == "CaseNotFound"
    assert await archived_case(archiving.pool, number) is None


async def forget_first_run(client: Client, number: str) -> str:
    """Remove a case's first run from Temporal, as retention does once it has been closed long enough."""
    run_id = (await client.get_workflow_handle(number).describe()).raw_description.workflow_execution_info.first_run_id
    await client.workflow_service.delete_workflow_execution(DeleteWorkflowExecutionRequest(
        namespace=client.namespace, workflow_execution=WorkflowExecution(workflow_id=number, run_id=run_id)))
    handle = client.get_workflow_handle(number, run_id=run_id)
    # The server deletes in the background, after half a minute or so on the dev server: wait
    # until the run is gone, which nothing in Temporal announces.
    for _ in range(240):
        try:
            await handle.fetch_history()
        except RPCError as exc:
            assert exc.status == RPCStatusCode.NOT_FOUND
            return run_id
        await asyncio.sleep(0.25)
    raise AssertionError(f"run {run_id} of {number} was not deleted")


async def test_runs_gone_from_temporal_are_kept_from_the_archive_or_reported_missing(archiving):
    archived_before, never_archived = await archiving.closed_case(), await archiving.closed_case()
    await archiving.archive(archived_before)
    rows = await archiving.rows(archived_before)
    _, gone = await asyncio.gather(*(forget_first_run(archiving.client, n) for n in (archived_before, never_archived)))

    # Archived again after its first run left Temporal: the archive keeps that run, row unchanged.
    again = await archiving.archive(archived_before)
    assert (again.runs, again.complete) == (2, True)
    assert await archiving.rows(archived_before) == rows

    # Archived only after its first run had left: what Temporal still has, marked incomplete.
    late = await archiving.archive(never_archived)
    assert (late.runs, late.complete) == (1, False)
    archived = await archiving.archived(never_archived)
    assert not archived.complete and gone not in archived.run_ids
    report = await archive_service.replay_archived(archived, [ContinuingCase], KEYS)
    assert report.ok and not report.complete


# --- replaying from the archive --------------------------------------------------------------


async def test_changed_workflow_code_is_reported_as_nondeterminism(archiving):
    number = await archiving.closed_case()
    await archiving.archive(number)

    report = await archive_service.replay_archived(await archiving.archived(number), [ChangedCase], KEYS)

    assert not report.ok
    assert [run.nondeterminism for run in report.runs] == [True, True]
    assert "Nondeterminism" in (report.runs[0].problem or "")


async def test_a_history_altered_in_the_archive_is_reported_as_nondeterminism(archiving):
    number = await archiving.closed_case()
    await archiving.archive(number)
    archived = await archiving.archived(number)
    histories = archived.histories
    for event in histories[0]["events"]:
        if "activityTaskScheduledEventAttributes" in event:
            event["activityTaskScheduledEventAttributes"]["activityType"]["name"] = "something_else"
    async with archiving.pool.connection() as conn:
        await conn.execute("UPDATE case_archive SET histories = %s WHERE case_number = %s",
                           (Jsonb(histories), number))

    report = await archive_service.replay_archived(await archiving.archived(number), [ContinuingCase],
                                                   KEYS)

    assert [(run.ok, run.nondeterminism) for run in report.runs] == [(False, True), (True, False)]


# --- the command line ------------------------------------------------------------------------


@pytest.fixture
def cli(archiving, monkeypatch):
    """Runs the CLI on the test's database, with the test's workflows as the worker's."""
    from worker import registry

    monkeypatch.setenv("GRANTFLOW_DATABASE_URL", archiving.database_url)
    monkeypatch.setattr(registry, "workflows", lambda: [ContinuingCase, WaitingCase, ArchiveWorkflow])

    async def run(*argv: str) -> int:
        # In a thread of its own: the command runs its own event loop, as it does from a shell.
        return await asyncio.to_thread(main, list(argv))

    return run


async def test_the_cli_shows_and_replays_an_archived_case(archiving, cli, capsys):
    paid = await paid_closed_case(archiving)
    number = paid.number
    await archiving.archive(number)
    capsys.readouterr()

    assert await cli("archive", "show", number) == 0
    shown = capsys.readouterr().out
    assert f"Ärende {number}" in shown and "2 körningar" in shown and "fortsatte som ny körning" in shown
    assert "1 händelser, 0 handlingar, 0 brev" in shown
    lines = shown.splitlines()
    granted = f"Beviljat ur utlysningens budget: 400\u00a0000\u00a0kr ({CALL_ID}), "
    assert any(line.startswith(granted) for line in lines), shown
    assert "Utbetalningar: 2, sammanlagt 300\u00a0000,50\u00a0kr" in lines
    advance, final = (line for line in lines if line.startswith("  nr "))
    assert advance.startswith("  nr 0 förskott  100\u00a0000\u00a0kr  beordrad ") and advance.endswith(
        f"  utbetald med bankfil {paid.bank_file_id}"), advance
    assert final.startswith("  nr 1 slutbetalning  200\u00a0000,50\u00a0kr  beordrad ") and final.endswith(
        "  väntar på bankfil"), final

    assert await cli("archive", "show", number, "--json") == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["runs"][0]["workflow_type"] == "ArchiveTestCase"
    register = summary["register_summary"]
    assert [(g["call_id"], g["amount"]) for g in register["budget_grants"]] == [(CALL_ID, "400000.00")]
    assert [(p["request_number"], p["kind"], p["amount"], p["bank_file_id"]) for p in register["payouts"]] == [
        (0, "advance", "100000.00", paid.bank_file_id), (1, "final", "200000.50", None)]

    assert await cli("archive", "replay", number) == 0
    out = capsys.readouterr().out
    assert [line.endswith(": ok") for line in out.splitlines()] == [True, True, False]
    assert out.splitlines()[-1] == f"{number}: ok, 2 runs replayed"


async def test_the_bank_file_that_pays_an_archived_case_is_named_in_its_archive(archiving, cli, capsys, monkeypatch,
                                                                                tmp_path):
    """A case closes and is archived before its last payout goes out: the export tells the archive."""
    monkeypatch.setenv("GRANTFLOW_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GRANTFLOW_AGENCY_NAME", "Tillväxtverket")
    monkeypatch.setenv("GRANTFLOW_AGENCY_BANKGIRO", "5050-1055")
    paid = await paid_closed_case(archiving)
    await archiving.archive(paid.number)
    before = await archiving.archived(paid.number)

    assert await cli("bank-file", "export") == 0
    exported = capsys.readouterr().out.splitlines()[-1]
    assert exported.startswith("bankfil ") and "1 utbetalning," in exported, exported
    later = max(p.bank_file_id or 0 for p in await list_payouts(archiving.pool, paid.number))
    assert later > paid.bank_file_id

    assert await cli("archive", "show", paid.number) == 0
    lines = capsys.readouterr().out.splitlines()
    final = next(line for line in lines if line.startswith("  nr 1 "))
    assert final.endswith(f"  utbetald med bankfil {later}"), final
    assert "väntar på bankfil" not in "\n".join(lines)
    # Only the payouts changed: the histories are as they were archived.
    after = await archiving.archived(paid.number)
    assert [p["bank_file_id"] for p in after.register_rows["payouts"]] == [paid.bank_file_id, later]
    assert (after.run_ids, after.histories) == (before.run_ids, before.histories)
    assert {k: v for k, v in after.register_rows.items() if k != "payouts"} == {
        k: v for k, v in before.register_rows.items() if k != "payouts"}


async def test_the_cli_replay_exits_1_on_nondeterminism(archiving, cli, capsys, monkeypatch):
    from worker import registry

    number = await archiving.closed_case()
    await archiving.archive(number)
    monkeypatch.setattr(registry, "workflows", lambda: [ChangedCase])
    capsys.readouterr()

    assert await cli("archive", "replay", number) == 1
    captured = capsys.readouterr()
    assert "nondeterminism" in captured.out and "2 of 2 runs did not replay" in captured.err
    assert "Traceback" not in captured.out + captured.err


async def test_the_cli_refuses_unknown_and_malformed_numbers(cli, capsys):
    assert await cli("archive", "show", "2025-99999") == 2
    assert "error: NUMBER: case 2025-99999 is not in the archive" in capsys.readouterr().err
    assert await cli("archive", "replay", "nonsense") == 2
    assert "is not a case number" in capsys.readouterr().err


async def test_a_real_case_archived_when_it_closes_replays_with_the_workers_workflows(harness, monkeypatch, capsys):
    call, days = harness.call("export-samverkan-2021")
    number = await harness.submit(harness.application(application_2021(), call, days))
    await harness.settled(number)
    await harness.act(number, "withdraw", "applicant:region-exempel", reason="Projektet genomförs inte.")
    await harness.handle(number).result()
    archive = harness.client.get_workflow_handle_for(ArchiveWorkflow.run, archive_workflow_id(number))
    assert (await archive.result()).case_number == number
    monkeypatch.setenv("GRANTFLOW_DATABASE_URL", harness.database_url)
    capsys.readouterr()

    # worker.registry.workflows() as it is: what a deployment would replay the archive with.
    assert await asyncio.to_thread(main, ["archive", "replay", number]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"{number}: ok, 1 run replayed"
