"""Reading the archive of closed cases, and replaying their workflows from it.

Both need only the database: replay runs the worker's workflow code against the archived
histories in this process (temporalio's Replayer), with no Temporal server, so a case can be
replayed long after Temporal's retention has removed it, e.g. to check that a change to the
workflow code still replays every archived case.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel
from temporalio.client import WorkflowHistory
from temporalio.converter import DataConverter

from activities.archive import ArchivedCase, archived_case
from domain.case import CaseState
from domain.money import total
from infra.codec import Key
from infra.converter import codec_keys
from infra.errors import InputError
from infra.settings import Settings
from services.register import read_pool

# As the register writes them (the cases table checks the same): YYYY-NNNNN.
CASE_NUMBER = re.compile(r"^[0-9]{4}-[0-9]{5,}$")

T = TypeVar("T")


class RunSummary(BaseModel):
    run_id: str
    workflow_type: str | None
    events: int
    started_at: datetime | None
    ended_with: str | None  # the last event's type, e.g. "workflow_execution_continued_as_new"


class ArchivedPayout(BaseModel):
    """A payout of the case as the ledger held it when the case was archived."""

    request_number: int | None
    kind: str | None  # advance, payment, final
    amount: Decimal | None
    paid_at: datetime | None
    bank_file_id: int | None  # None: it had not gone out in a bank file yet


class ArchivedGrant(BaseModel):
    """The case's grant in the call's budget ledger when the case was archived."""

    call_id: str | None
    amount: Decimal | None
    granted_at: datetime | None


class ArchivedAid(BaseModel):
    """De minimis aid the case gave a company, as the state-aid record held it when the case was archived."""

    org_number: str | None
    company_name: str | None
    granted_on: str | None
    value_sek: Decimal | None
    value_eur: Decimal | None
    regulation: str | None


class RegisterSummary(BaseModel):
    call_id: str | None
    subject: str | None
    stage: str | None
    outcome: str | None
    events: int
    documents: int
    letters: int
    # None: the archive was written before payouts and grants were archived (not: there were none).
    payouts: list[ArchivedPayout] | None = None
    budget_grants: list[ArchivedGrant] | None = None
    state_aid: list[ArchivedAid] | None = None  # None: archived before the state-aid record existed

    @property
    def paid(self) -> Decimal:
        return total(p.amount for p in self.payouts or [] if p.amount is not None)

    @property
    def granted(self) -> Decimal:
        return total(g.amount for g in self.budget_grants or [] if g.amount is not None)


class ArchiveSummary(BaseModel):
    case_number: str
    workflow_id: str
    archived_at: datetime
    complete: bool
    runs: list[RunSummary]
    register_summary: RegisterSummary

    @property
    def events(self) -> int:
        return sum(run.events for run in self.runs)


class RunReplay(BaseModel):
    run_id: str
    ok: bool
    nondeterminism: bool = False
    problem: str | None = None  # what went wrong, when not ok
    # The recorded event the code did not reproduce (services.replay.locate), when not ok.
    event_id: int | None = None
    events: int = 0


class ReplayReport(BaseModel):
    case_number: str
    complete: bool
    runs: list[RunReplay]
    source: str = "archive"  # where the histories came from: "archive" or "temporal"

    @property
    def ok(self) -> bool:
        return all(run.ok for run in self.runs)


def check_case_number(text: str) -> str:
    if not CASE_NUMBER.fullmatch(text):
        raise InputError.one("NUMBER", f"{text!r} is not a case number (YYYY-NNNNN, e.g. 2025-00042)")
    return text


async def archived(settings: Settings, case_number: str) -> ArchivedCase:
    """The archived case; InputError if the number is malformed or the case is not archived."""
    number = check_case_number(case_number)
    async with read_pool(settings) as pool:
        found = await archived_case(pool, number)
    if found is None:
        raise InputError.one("NUMBER", f"case {number} is not in the archive")
    return found


async def show(settings: Settings, case_number: str) -> ArchiveSummary:
    return summarize(await archived(settings, case_number))


async def replay(settings: Settings, case_number: str, *, workflows: Sequence[type] | None = None) -> ReplayReport:
    """Replay every archived run of a case with the worker's workflow classes (or `workflows`)."""
    if workflows is None:
        # On use: this imports every workflow module, which other commands need not pay for.
        from worker import registry

        workflows = registry.workflows()
    return await replay_archived(await archived(settings, case_number), workflows, codec_keys(settings))


async def replay_archived(archive: ArchivedCase, workflows: Sequence[type],
                          keys: tuple[Key, ...] | None) -> ReplayReport:
    """Replay each run's history, its payloads decrypted with `keys`; a run that does not replay is
    reported, never raised."""
    from services.replay import RecordedCase, new_replayer, replay_case  # services.replay builds on this module

    recorded = RecordedCase(case_number=archive.case_number, workflow_id=archive.workflow_id, source="archive",
                            run_ids=archive.run_ids, histories=archive.histories, complete=archive.complete)
    return await replay_case(recorded, new_replayer(keys, workflows))


async def final_state(archive: ArchivedCase, converter: DataConverter) -> CaseState | None:
    """The state the case's last run completed with, as its recorded history holds it; None when the
    archive has no completed run (an archive is written once the case's workflow has completed)."""
    if not archive.histories:
        return None
    history = WorkflowHistory.from_json(archive.workflow_id, archive.histories[-1])
    completed = history.events[-1] if history.events else None
    if completed is None or not completed.HasField("workflow_execution_completed_event_attributes"):
        return None
    payloads = completed.workflow_execution_completed_event_attributes.result.payloads
    [state] = await converter.decode(payloads, [CaseState])
    return state if isinstance(state, CaseState) else None


def summarize(archive: ArchivedCase) -> ArchiveSummary:
    register = archive.register_rows
    row: dict[str, Any] = register.get("case") or {}
    return ArchiveSummary(
        case_number=archive.case_number,
        workflow_id=archive.workflow_id,
        archived_at=archive.archived_at,
        complete=archive.complete,
        runs=[_run_summary(run_id, raw) for run_id, raw in zip(archive.run_ids, archive.histories, strict=True)],
        register_summary=RegisterSummary(
            call_id=row.get("call_id"),
            subject=row.get("subject"),
            stage=row.get("stage"),
            outcome=row.get("outcome"),
            events=len(register.get("events") or []),
            documents=len(register.get("documents") or []),
            letters=len(register.get("letters") or []),
            payouts=_rows(register, "payouts", _payout),
            budget_grants=_rows(register, "budget_grants", _grant),
            state_aid=_rows(register, "state_aid", _aid),
        ),
    )


def _rows(register: dict[str, Any], key: str, read: Callable[[dict[str, Any]], T]) -> list[T] | None:
    rows = register.get(key)
    if not isinstance(rows, list):
        return None
    return [read(row) for row in rows if isinstance(row, dict)]


def _amount(value: Any) -> Decimal | None:
    # jsonb holds numeric(14,2) as a JSON number, which json reads as a float; its shortest
    # repr is the decimal that was stored (at most 14 significant digits round-trip exactly).
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return Decimal(str(value)).quantize(Decimal("0.01"))
    except ArithmeticError:
        return None


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _payout(row: dict[str, Any]) -> ArchivedPayout:
    kind = row.get("kind")
    return ArchivedPayout(
        request_number=_int(row.get("request_number")),
        kind=kind if isinstance(kind, str) else None,
        amount=_amount(row.get("amount")),
        paid_at=_instant(row.get("paid_at")),
        bank_file_id=_int(row.get("bank_file_id")),
    )


def _aid(row: dict[str, Any]) -> ArchivedAid:
    def text(key: str) -> str | None:
        value = row.get(key)
        return value if isinstance(value, str) else None

    return ArchivedAid(org_number=text("org_number"), company_name=text("company_name"),
                       granted_on=text("granted_on"), value_sek=_amount(row.get("value_sek")),
                       value_eur=_amount(row.get("value_eur")), regulation=text("regulation"))


def _grant(row: dict[str, Any]) -> ArchivedGrant:
    call_id = row.get("call_id")
    return ArchivedGrant(
        call_id=call_id if isinstance(call_id, str) else None,
        amount=_amount(row.get("amount")),
        granted_at=_instant(row.get("granted_at")),
    )


def _run_summary(run_id: str, raw: dict[str, Any]) -> RunSummary:
    """Read from the JSON as stored; a malformed history still gets a line (replay reports it)."""
    events = raw.get("events") if isinstance(raw, dict) else None
    if not isinstance(events, list) or not events:
        return RunSummary(run_id=run_id, workflow_type=None, events=0, started_at=None, ended_with=None)
    first, last = events[0], events[-1]
    attributes = first.get("workflowExecutionStartedEventAttributes") or {}
    started_at = None
    if isinstance(first.get("eventTime"), str):
        try:
            started_at = datetime.fromisoformat(first["eventTime"])
        except ValueError:
            started_at = None
    ended_with = last.get("eventType")
    return RunSummary(
        run_id=run_id,
        workflow_type=(attributes.get("workflowType") or {}).get("name"),
        events=len(events),
        started_at=started_at,
        ended_with=ended_with.removeprefix("EVENT_TYPE_").lower() if isinstance(ended_with, str) else None,
    )


__all__ = [
    "ArchiveSummary",
    "ArchivedGrant",
    "ArchivedPayout",
    "ReplayReport",
    "RunReplay",
    "archived",
    "check_case_number",
    "replay",
    "replay_archived",
    "show",
    "summarize",
]
