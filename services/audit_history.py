"""The story of a case, for auditors: every step in time order, from the recorded history and the register together.

The history is read from Temporal while the case's workflow is there (every run, following
continue-as-new back from the latest) and from the archive (activities/archive.py) once retention
has removed it; the story says which. The register is read as PostgreSQL holds it now: its events
(with their chain, migration 0010), letters, the payment ledger and the log of secret readings.
Where the two disagree (domain/audit.py) the step is marked, and so is every break in the chain.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel
from temporalio.api.common.v1 import Payloads
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHistory
from temporalio.converter import DataConverter
from temporalio.service import RPCError, RPCStatusCode

from activities.archive import archived_case
from activities.audit import chain_rows
from activities.budget import AdjustRequest, GrantRequest, GrantResult, HeldGrant, ReleaseRequest, held_grants
from activities.letters import StoredLetter, list_letters
from activities.payments import Payout, PayoutOrder, list_payouts
from activities.readings import SecretReading, secret_readings
from activities.register import RegisterApplication, RegisterRow, find_case
from domain.actions import ROLE_LABELS_SV
from domain.audit import (
    BUDGET_ADJUST,
    BUDGET_GRANT,
    BUDGET_RELEASE,
    ChainRow,
    Finding,
    Head,
    HistoryAction,
    HistoryPayout,
    LedgerGrant,
    LedgerPayout,
    LedgerStep,
    Notice,
    Outcome,
    Registration,
    chain_findings,
    cross_check,
    is_action_event,
    unchecked,
)
from domain.audit import held_grants as held_after
from domain.case import CaseState, Role
from domain.clock import format_instant_sv
from domain.lifecycle import OUTCOME_LABELS_SV, STAGE_LABELS_SV, Stage
from domain.lifecycle import Outcome as CaseOutcome
from domain.money import format_kronor
from domain.payment import PAYOUT_KIND_SV, PayoutKind
from infra.settings import Settings
from infra.temporal import connect
from services.archive import check_case_number
from services.cases import CaseNotFound, case_state
from services.register import read_pool
from workflows.messages import CaseInput, CaseStart

Source = Literal["temporal", "archive"]
SOURCE_SV = {"temporal": "Temporal (ärendets arbetsflöde finns kvar där)",
             "archive": "arkivet (Temporal har inte längre ärendets arbetsflöde)"}
# Where a step of the story comes from.
ORIGIN_SV = {"both": "historik och diarium", "history": "historiken", "history_only": "endast historiken",
             "register": "diariet",
             "ledger": "betalregistret", "readings": "läsloggen", "letters": "utkorgen"}
# The payment ledger's activity (activities.payments.PaymentLedger.pay): its input is the order, its result when paid.
_PAY = "payment_pay"
# The budget ledger's (activities.budget.BudgetLedger): what the case holds of its call's budget.
_BUDGET = {BUDGET_GRANT, BUDGET_RELEASE, BUDGET_ADJUST}
# How an activity ends without an answer.
_UNANSWERED = {"activity_task_failed_event_attributes", "activity_task_timed_out_event_attributes",
               "activity_task_canceled_event_attributes"}
# Timers shorter than this are the workflow's own (answering first, retries), not deadlines.
_SHORTEST_DEADLINE = timedelta(minutes=1)
# Timers started again for the same deadline (the case waits anew after every action) end within this.
_SAME_DEADLINE = timedelta(minutes=1)

# What an action said, as the story shows it: the fields with a Swedish name, in this order.
_DETAILS_SV = {
    "kind": "slag", "amount": "belopp", "advance": "förskott", "period_start": "period från",
    "period_end": "period till", "final_report_due": "slutrapport senast", "conditions": "villkor",
    "reasons": "skäl", "reason": "skäl", "advance_reasons": "skäl för förskott", "unseen_material": "underlag",
    "note": "anteckning", "text": "text", "missing": "saknas", "assessment": "bedömning", "officer": "handläggare",
    "paid_on": "betalt den", "legal_ground": "rättslig grund", "replaces_proposal": "ersätter förslag",
    "reply_days": "svarstid (dagar)", "request_number": "ansökan om utbetalning nr",
}


_DECISION_KINDS_SV = {"approve": "bifall", "reject": "avslag", "dismiss": "avvisning"}


class Run(BaseModel):
    run_id: str
    started_at: datetime | None
    ended_with: str | None  # the last event's type, e.g. "workflow_execution_completed"; None while running


class Step(BaseModel):
    at: datetime
    at_sv: str  # the time in Stockholm, as the auditor reads it
    origin: Literal["both", "history", "history_only", "register", "ledger", "readings", "letters"]
    actor_id: str
    actor_role: str
    actor_role_sv: str
    kind: str
    text: str  # Swedish
    details: list[str] = []
    row: str | None = None  # the register's row it is, as findings name it
    disagreements: list[str] = []


class Story(BaseModel):
    case_number: str
    source: Source
    source_sv: str
    complete: bool  # False: the oldest runs had left Temporal before the case was archived
    runs: list[Run]
    subject: str | None
    sender_name: str | None
    call_id: str | None
    stage: str | None
    stage_sv: str | None
    outcome: str | None
    outcome_sv: str | None
    granted: Decimal | None
    steps: list[Step]
    findings: list[Finding]  # every disagreement and break, also those marked on a step
    notices: list[Notice] = []  # what could not be checked against the history, and why


@dataclass
class Recorded:
    """A case's recorded history: each run, oldest first, and where it was read."""

    case_number: str
    source: Source
    runs: list[WorkflowHistory]
    complete: bool
    running: bool


@dataclass
class Timer:
    """A timer the case started to wait for a deadline: when, until when, and how it ended."""

    started_at: datetime
    due: datetime
    ended_at: datetime | None = None  # None while it runs
    fired: bool = False


@dataclass
class HistoryFacts:
    actions: list[HistoryAction] = field(default_factory=list)
    payouts: list[HistoryPayout] = field(default_factory=list)
    timers: list[Timer] = field(default_factory=list)
    runs: list[Run] = field(default_factory=list)
    state: CaseState | None = None
    registration: Registration | None = None  # from the first run's start; None when that run is not recorded
    # The budget ledger's answered steps, in the order answered, over every run (domain.audit.held_grants);
    # and its steps the history cannot tell the effect of: still running, or ended without an answer or one
    # this code cannot read.
    ledger: list[LedgerStep] = field(default_factory=list)
    ledger_running: int = 0
    ledger_unknown: int = 0


async def recorded(client: Client, pool: AsyncConnectionPool, case_number: str) -> Recorded:
    """Every run of the case's workflow: from Temporal while it has the case, else from the archive."""
    number = check_case_number(case_number)
    try:
        latest = await client.get_workflow_handle(number).describe()
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
        archive = await archived_case(pool, number)
        if archive is None:
            raise CaseNotFound.one("NUMBER", f"case {number} is neither in Temporal nor in the archive") from None
        return Recorded(case_number=number, source="archive", complete=archive.complete, running=False,
                        runs=[WorkflowHistory.from_json(archive.workflow_id, raw) for raw in archive.histories])
    runs: list[WorkflowHistory] = []
    complete = True
    run_id: str | None = latest.run_id
    seen: set[str] = set()
    while run_id and run_id not in seen:
        seen.add(run_id)
        try:
            history = await client.get_workflow_handle(number, run_id=run_id).fetch_history()
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND or not runs:
                raise
            # An earlier run that retention removed: the archive keeps the runs that ended (ArchiveEndedRuns).
            archive = await archived_case(pool, number)
            if archive is not None and run_id in archive.run_ids:
                upto = archive.run_ids.index(run_id) + 1
                runs += [WorkflowHistory.from_json(archive.workflow_id, raw)
                         for raw in reversed(archive.histories[:upto])]
                complete = archive.complete
            else:
                complete = False
            break
        runs.append(history)
        run_id = history.events[0].workflow_execution_started_event_attributes.continued_execution_run_id
    runs.reverse()
    running = latest.status == WorkflowExecutionStatus.RUNNING
    return Recorded(case_number=number, source="temporal", runs=runs, complete=complete, running=running)


def _run_id(history: WorkflowHistory) -> str:
    return history.events[0].workflow_execution_started_event_attributes.original_execution_run_id


def _time(event: HistoryEvent) -> datetime:
    return event.event_time.ToDatetime(tzinfo=UTC)


async def _decode(converter: DataConverter, payloads: Payloads, hint: type | None = None) -> Any:
    if not payloads.payloads:
        return None
    values = await converter.decode(list(payloads.payloads), [hint] if hint else None)
    return values[0] if values else None


async def read_history(client: Client, history: Recorded) -> HistoryFacts:
    """What the recorded history says: the actions taken, the payouts ordered, the deadlines, the last state."""
    facts = HistoryFacts()
    for history_run in history.runs:
        await _read_run(history_run, facts, client.data_converter)
    if history.source == "temporal" and history.running:
        facts.state = await case_state(client, history.case_number)
    elif history.runs and (last := history.runs[-1].events) and last[-1].HasField(
            "workflow_execution_completed_event_attributes"):
        state = await _decode(client.data_converter, last[-1].workflow_execution_completed_event_attributes.result,
                              CaseState)
        facts.state = state if isinstance(state, CaseState) else None
    return facts


async def _read_run(history: WorkflowHistory, facts: HistoryFacts, converter: DataConverter) -> None:
    events = history.events
    started = events[0] if events else None
    last = events[-1] if events else None
    ended = last.WhichOneof("attributes") if last is not None else None
    closing = {"workflow_execution_completed_event_attributes", "workflow_execution_continued_as_new_event_attributes",
               "workflow_execution_failed_event_attributes", "workflow_execution_terminated_event_attributes",
               "workflow_execution_timed_out_event_attributes", "workflow_execution_canceled_event_attributes"}
    facts.runs.append(Run(
        run_id=_run_id(history) if started is not None else "",
        started_at=_time(started) if started is not None else None,
        ended_with=ended.removesuffix("_event_attributes") if ended in closing else None,
    ))
    updates: dict[str, dict[str, Any]] = {}
    pays: dict[int, dict[str, Any]] = {}
    budget: dict[int, tuple[str, Any]] = {}  # the ledger's steps scheduled and not yet answered: activity, input
    timers: dict[str, Timer] = {}
    for event in events:
        kind = event.WhichOneof("attributes")
        if kind == "workflow_execution_started_event_attributes":
            facts.registration = facts.registration or await _registration(
                converter, event.workflow_execution_started_event_attributes.input)
        elif kind == "workflow_execution_update_accepted_event_attributes":
            accepted = event.workflow_execution_update_accepted_event_attributes.accepted_request
            command = await _decode(converter, accepted.input.args)
            if isinstance(command, dict):
                updates[accepted.meta.update_id] = {"name": accepted.input.name, "command": command}
        elif kind == "workflow_execution_update_completed_event_attributes":
            done = event.workflow_execution_update_completed_event_attributes
            update = updates.get(done.meta.update_id)
            if update is not None and done.outcome.HasField("success"):
                update["receipt"] = await _decode(converter, done.outcome.success)
        elif kind == "activity_task_scheduled_event_attributes":
            scheduled = event.activity_task_scheduled_event_attributes
            if scheduled.activity_type.name == _PAY:
                pays[event.event_id] = {"order": await _decode(converter, scheduled.input)}
            elif scheduled.activity_type.name in _BUDGET:
                budget[event.event_id] = (scheduled.activity_type.name, await _decode(converter, scheduled.input))
        elif kind == "activity_task_completed_event_attributes":
            completed = event.activity_task_completed_event_attributes
            if completed.scheduled_event_id in pays:
                pays[completed.scheduled_event_id]["receipt"] = await _decode(converter, completed.result)
            elif (step := budget.pop(completed.scheduled_event_id, None)) is not None:
                answered = _ledger_step(*step, await _decode(converter, completed.result))
                if answered is None:
                    facts.ledger_unknown += 1
                else:
                    facts.ledger.append(answered)
        elif kind in _UNANSWERED and getattr(event, kind).scheduled_event_id in budget:
            # Failed for good, timed out or cancelled: it may have written before it ended, or not.
            budget.pop(getattr(event, kind).scheduled_event_id)
            facts.ledger_unknown += 1
        elif kind == "timer_started_event_attributes":
            timer = event.timer_started_event_attributes
            wait = timer.start_to_fire_timeout.ToTimedelta()
            if wait >= _SHORTEST_DEADLINE:
                timers[timer.timer_id] = Timer(started_at=_time(event), due=_time(event) + wait)
        elif kind in ("timer_fired_event_attributes", "timer_canceled_event_attributes") and (
                stopped := timers.pop(getattr(event, kind).timer_id, None)) is not None:
            stopped.ended_at, stopped.fired = _time(event), kind == "timer_fired_event_attributes"
            facts.timers.append(stopped)
    facts.timers += timers.values()  # still running
    facts.ledger_running += len(budget)
    for update in updates.values():
        facts.actions.append(_action(update))
    for pay in pays.values():
        receipt = pay.get("receipt") or {}
        try:
            # Read as the activity read it, so that the payee is compared as the ledger stored it.
            order = PayoutOrder.model_validate(pay.get("order"))
            facts.payouts.append(HistoryPayout(
                request_number=order.request_number, kind=order.kind.value, amount=order.amount,
                payee_name=order.payee_name, payee_bankgiro=order.payee_bankgiro, reference=order.reference,
                paid_at=datetime.fromisoformat(receipt["paid_at"]) if receipt.get("paid_at") else None,
            ))
        except (KeyError, TypeError, ValueError, ArithmeticError):
            continue  # not an order this code reads: the ledger's row stands alone, and is named


def _ledger_step(activity: str, sent: Any, answer: Any) -> LedgerStep | None:
    """A step of the budget ledger, read as its activity read it; None if this code cannot read it."""
    try:
        if activity == BUDGET_GRANT:
            request, result = GrantRequest.model_validate(sent), GrantResult.model_validate(answer)
            return LedgerStep(activity=activity, call_id=request.call_id,
                              amount=result.amount if result.granted else None)
        if activity == BUDGET_ADJUST:
            adjust = AdjustRequest.model_validate(sent)
            return LedgerStep(activity=activity, call_id=adjust.call_id, amount=adjust.amount)
        return LedgerStep(activity=activity, call_id=ReleaseRequest.model_validate(sent).call_id)
    except ValueError:
        return None


async def _registration(converter: DataConverter, payloads: Payloads) -> Registration | None:
    """What the intake registered, as the case's first run was started with it: the intake builds the
    register's row and the case's start from the same application and received instant
    (workflows/intake.py), and the case's history, unlike the intake's, is archived with it."""
    try:
        started = await _decode(converter, payloads, CaseInput)
    except (TypeError, ValueError):
        return None
    if not isinstance(started, CaseInput) or started.start is None:
        return None  # a run continued as new: its state may hold a completed application, not the one received
    start: CaseStart = started.start
    try:
        registered = RegisterApplication.received(start.submission_id, start.call.id, start.application,
                                                  start.received_at, start.imported)
    except ValueError:
        return None
    return Registration(**registered.model_dump())


def _action(update: dict[str, Any]) -> HistoryAction:
    command: dict[str, Any] = update["command"]
    actor = command.get("actor") or {}
    receipt = update.get("receipt") if isinstance(update.get("receipt"), dict) else None
    accepted_at = None
    if receipt and isinstance(receipt.get("accepted_at"), str):
        accepted_at = datetime.fromisoformat(receipt["accepted_at"])
    return HistoryAction(
        action_id=str(command.get("action_id", "")), update=str(update["name"]),
        actor_id=str(actor.get("id", "")), actor_role=str(actor.get("role", "")),
        accepted_at=accepted_at,
        action=str(receipt["action"]) if receipt and "action" in receipt else None,
        message=str(receipt["message"]) if receipt and "message" in receipt else None,
        details={k: v for k, v in command.items() if k in _DETAILS_SV and v not in (None, [], "", False)},
    )


def _deadline_steps(timers: list[Timer], *, closed: bool) -> list[Step]:
    """One deadline per time waited for (the case waits anew after every action): set when first waited
    for, then passed, or no longer waited for."""
    groups: list[list[Timer]] = []
    for timer in sorted(timers, key=lambda t: t.due):
        if groups and timer.due - groups[-1][0].due <= _SAME_DEADLINE:
            groups[-1].append(timer)
        else:
            groups.append([timer])
    steps: list[Step] = []

    def step(at: datetime, kind: str, text: str) -> Step:
        return Step(at=at, at_sv=format_instant_sv(at), origin="history", actor_id="system", actor_role="system",
                    actor_role_sv=_role_sv("system"), kind=kind, text=text)

    for group in groups:
        first = min(group, key=lambda t: t.started_at)
        due = format_instant_sv(first.due)
        steps.append(step(first.started_at, "deadline_set", f"Frist satt: ärendet väntar till {due}"))
        fired = [t.ended_at for t in group if t.fired and t.ended_at is not None]
        ended = [t.ended_at for t in group if t.ended_at is not None]
        if fired:
            steps.append(step(min(fired), "deadline_passed", f"Fristen {due} gick ut"))
        elif ended and (closed or len(ended) == len(group)):
            steps.append(step(max(ended), "deadline_met", f"Ärendet väntar inte längre på fristen {due} (det som "
                                                          "väntades kom in, eller ärendet gick vidare före den)"))
    return steps


def _role_sv(role: str) -> str:
    try:
        return ROLE_LABELS_SV[Role(role)]
    except ValueError:
        return "systemet" if role == "system" else role


def _detail(key: str, value: object) -> str:
    label = _DETAILS_SV[key]
    if key == "kind" and isinstance(value, str):
        return f"{label}: {_DECISION_KINDS_SV.get(value, value)}"
    if key in ("amount", "advance"):
        try:
            return f"{label}: {format_kronor(Decimal(str(value)))}"
        except ArithmeticError:
            pass
    if isinstance(value, list):
        return f"{label}: " + "; ".join(str(v) for v in value)
    if isinstance(value, bool):
        return f"{label}: {'ja' if value else 'nej'}"
    return f"{label}: {value}"


@dataclass
class Register:
    row: RegisterRow | None
    events: list[ChainRow]
    letters: list[StoredLetter]
    payouts: list[Payout]
    readings: list[SecretReading]
    grants: list[HeldGrant] = field(default_factory=list)


async def read_register(pool: AsyncConnectionPool, case_number: str) -> Register:
    return Register(row=await find_case(pool, case_number), events=await chain_rows(pool, case_number),
                    letters=await list_letters(pool, case_number), payouts=await list_payouts(pool, case_number),
                    readings=await secret_readings(pool, case_number), grants=await held_grants(pool, case_number))


def findings(case_number: str, history: Recorded, facts: HistoryFacts, register: Register,
             saved: Head | None = None) -> list[Finding]:
    """The chain's breaks and where the register and the ledger disagree with the history."""
    state = facts.state
    row = register.row
    return chain_findings(case_number, register.events, saved) + cross_check(
        case_number, facts.actions, register.events, history_complete=history.complete,
        history_outcome=Outcome(outcome=state.outcome.value if state.outcome else None, granted=state.granted,
                                **({"stage": state.stage.value, "officer": state.officer} if not state.outbox else {}))
        if state is not None else None,
        register_outcome=Outcome(outcome=row.outcome, granted=row.granted_amount, stage=row.stage, officer=row.officer)
        if row is not None else None,
        history_registration=facts.registration,
        register_registration=Registration(
            submission_id=row.submission_id, call_id=row.call_id, received_at=row.received_at, imported=row.imported,
            sender_name=row.sender_name, sender_org_number=row.sender_org_number, subject=row.subject,
            requested_amount=row.requested_amount) if row is not None else None,
        history_payouts=facts.payouts,
        ledger=[LedgerPayout(request_number=p.request_number, kind=p.kind.value, amount=p.amount,
                             payee_name=p.payee_name, payee_bankgiro=p.payee_bankgiro, reference=p.reference,
                             paid_at=p.paid_at)
                for p in register.payouts],
        history_grants=_history_grants(history, facts),
        budget=[LedgerGrant(call_id=g.call_id, amount=g.amount) for g in register.grants],
    )


def _history_grants(history: Recorded, facts: HistoryFacts) -> dict[str, Decimal] | None:
    """What the history says the case holds of its call's budget; None where it cannot say (the notices say
    why, `notices`) or not yet: a case whose ledger step is running, or whose outbox still holds one (a
    running case adjusts the ledger after it answers), is compared once it has settled, as its stage is."""
    settled = facts.state is not None and not facts.state.outbox
    if not (history.complete and settled) or facts.ledger_running or facts.ledger_unknown:
        return None
    return held_after(facts.ledger)


def notices(case_number: str, history: Recorded, facts: HistoryFacts, register: Register) -> list[Notice]:
    """What of the case `findings` could not check against the history, and why: not findings (nothing is
    known to be wrong), so that an honest case with an incomplete history does not fail verify."""
    ordered = {p.request_number for p in facts.payouts}
    return unchecked(case_number, history_complete=history.complete, row_present=register.row is not None,
                     registration_read=facts.registration is not None, ledger_read=not facts.ledger_unknown,
                     unordered=[p.request_number for p in register.payouts if p.request_number not in ordered])


def compose(history: Recorded, facts: HistoryFacts, register: Register, found: list[Finding],
            unchecked_rows: list[Notice] | None = None) -> Story:
    """The steps of both sources in time order, each marked with what is found wrong with it."""
    by_row: dict[str, list[str]] = {}
    for f in found:
        by_row.setdefault(f.row, []).append(f.problem)
    actions = {a.action_id: a for a in facts.actions if a.accepted_at is not None}
    steps: list[Step] = []
    for event in register.events:
        action = actions.pop(event.event_id, None) if is_action_event(event.event_id) else None
        label = f"händelse {event.event_id}" + (f" (nr {event.seq})" if event.seq is not None else "")
        steps.append(Step(
            at=event.at, at_sv=format_instant_sv(event.at), origin="both" if action else "register",
            actor_id=event.actor_id, actor_role=event.actor_role, actor_role_sv=_role_sv(event.actor_role),
            kind=event.kind, text=event.summary, row=label,
            details=[_detail(k, v) for k, v in (action.details.items() if action else ())],
        ))
    for action in actions.values():  # in the history, not in the register
        assert action.accepted_at is not None
        steps.append(Step(
            at=action.accepted_at, at_sv=format_instant_sv(action.accepted_at), origin="history_only",
            actor_id=action.actor_id, actor_role=action.actor_role, actor_role_sv=_role_sv(action.actor_role),
            kind=action.action or action.update, text=action.message or "", row=f"händelse {action.action_id}",
            details=[_detail(k, v) for k, v in action.details.items()],
        ))
    ordered = {p.request_number: p for p in facts.payouts}
    for payout in register.payouts:
        what = PAYOUT_KIND_SV.get(PayoutKind(payout.kind), payout.kind.value)
        where = (f"utbetald med bankfil {payout.bank_file_id}" if payout.bank_file_id is not None
                 else "väntar på bankfil")
        steps.append(Step(
            at=payout.paid_at, at_sv=format_instant_sv(payout.paid_at),
            origin="ledger" if payout.request_number not in ordered else "both",
            actor_id="finance", actor_role="system", actor_role_sv=_role_sv("system"), kind="payout",
            text=f"Utbetalning nr {payout.request_number} ({what}): {format_kronor(payout.amount)}, {where}",
            details=[f"betalningsmottagare: {payout.payee_name}, bankgiro {payout.payee_bankgiro}"],
            row=f"utbetalning nr {payout.request_number}",
        ))
    for letter in register.letters:
        sent = (f"skickat med e-post {format_instant_sv(letter.sent_at)}" if letter.sent_at
                else "inte skickat med e-post (finns i utkorgen för post)")
        steps.append(Step(
            at=letter.created_at, at_sv=format_instant_sv(letter.created_at), origin="letters", actor_id="system",
            actor_role="system", actor_role_sv=_role_sv("system"), kind=f"letter:{letter.kind}",
            text=f"Brev till {letter.recipient_name}: {letter.subject}", details=[sent],
        ))
    for reading in register.readings:
        steps.append(Step(
            at=reading.read_at, at_sv=format_instant_sv(reading.read_at), origin="readings",
            actor_id=reading.reader_id, actor_role=reading.reader_role, actor_role_sv=_role_sv(reading.reader_role),
            kind="secret_reading", text="Läste de sekretessmarkerade delarna av ansökan",
            details=[f"delar: {', '.join(reading.sections)}"],
        ))
    for index, run in enumerate(facts.runs[1:], start=2):
        if run.started_at is not None:
            steps.append(Step(
                at=run.started_at, at_sv=format_instant_sv(run.started_at), origin="history", actor_id="system",
                actor_role="system", actor_role_sv=_role_sv("system"), kind="run_continued",
                text=f"Arbetsflödet fortsatte som ny körning ({index} av {len(facts.runs)})", details=[run.run_id],
            ))
    steps += _deadline_steps(facts.timers, closed=not history.running)
    steps = [s.model_copy(update={"disagreements": by_row.get(s.row, [])}) if s.row else s for s in steps]
    steps.sort(key=lambda s: (s.at, s.origin != "both"))
    state, row = facts.state, register.row
    stage = state.stage.value if state is not None else row.stage if row is not None else None
    outcome = state.outcome.value if state is not None and state.outcome else row.outcome if row else None
    return Story(
        case_number=history.case_number, source=history.source, source_sv=SOURCE_SV[history.source],
        complete=history.complete, runs=facts.runs,
        subject=row.subject if row else None, sender_name=row.sender_name if row else None,
        call_id=row.call_id if row else None, stage=stage, stage_sv=_label_of(Stage, STAGE_LABELS_SV, stage),
        outcome=outcome, outcome_sv=_label_of(CaseOutcome, OUTCOME_LABELS_SV, outcome),
        granted=state.granted if state is not None else row.granted_amount if row else None,
        steps=steps, findings=found, notices=unchecked_rows or [],
    )


def _label_of(kind: Any, labels: Any, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return str(labels[kind(value)])
    except (ValueError, KeyError):
        return value


async def story(client: Client, pool: AsyncConnectionPool, case_number: str) -> Story:
    history = await recorded(client, pool, case_number)
    facts = await read_history(client, history)
    register = await read_register(pool, history.case_number)
    return compose(history, facts, register, findings(history.case_number, history, facts, register),
                   notices(history.case_number, history, facts, register))


async def case_story(settings: Settings, case_number: str) -> Story:
    """The story of a case, for a command: its own connection to Temporal and the register."""
    number = check_case_number(case_number)
    client = await connect(settings)
    async with read_pool(settings) as pool:
        return await story(client, pool, number)


__all__ = [
    "Recorded",
    "Register",
    "Step",
    "Story",
    "case_story",
    "compose",
    "findings",
    "notices",
    "read_history",
    "read_register",
    "recorded",
    "story",
]
