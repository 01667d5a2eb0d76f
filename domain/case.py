"""One case from receipt to decision: its state, the actions people take, and the rules for each.

Everything here is pure: the case workflow asks `refusal(...)` in an update's validator (a
refused action writes nothing to history) and calls `apply(...)` in its handler. What an
action causes outside the case (a register entry, a letter, a budget grant) is queued in
`CaseState.outbox` as `Effect`s that the workflow carries out through activities, so that
an officer's action is answered as soon as the case has recorded it.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from domain.application import Application
from domain.call import Call
from domain.clock import STOCKHOLM, end_of_day, format_deadline_sv, format_instant_sv, stockholm_date
from domain.findings import Verdict
from domain.letters import appeal_text
from domain.lifecycle import STAGE_LABELS_SV, Outcome, Stage, TransitionError, transition, withdrawal_target
from domain.money import Kronor, format_kronor
from domain.paths import resolve

CaseNumber = Annotated[str, StringConstraints(pattern=r"^\d{4}-\d{5}$")]
ActionId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:@-]{1,100}$")]
PersonId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._@-]{1,100}$")]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000)]

# How many receipts a case keeps for re-sent actions: more than any case collects.
MAX_RECEIPTS = 500


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Role(StrEnum):
    APPLICANT = "applicant"
    OFFICER = "officer"
    DECISION_MAKER = "decision_maker"
    FINANCE = "finance"
    OPERATIONS = "operations"
    AUDITOR = "auditor"


class Actor(Model):
    """Who acts. The id is the agency's user id (or the applicant's e-service account), never a personnummer."""

    id: PersonId
    role: Role


class Action(Model):
    """What every human action carries: who, and an id that makes re-sending it harmless."""

    action_id: ActionId
    actor: Actor


class RequestCompletion(Action):
    missing: Annotated[list[Text], Field(min_length=1, max_length=50)]
    reply_days: Annotated[int, Field(ge=1, le=120)] | None = None


class SubmitCompletion(Action):
    application: Application


class AcceptForReview(Action):
    """The officer finds the application complete (e.g. accepts a late one) and moves it on."""

    note: Text | None = None


class SectionRuling(Model):
    section: Annotated[str, StringConstraints(max_length=200)]
    secret: bool
    legal_ground: Text | None = None  # e.g. "OSL 30 kap. 23 §"
    reason: Text


class RecordSecrecyReview(Action):
    rulings: Annotated[list[SectionRuling], Field(max_length=200)] = []


class DeclareNoConflict(Action):
    pass


class CriterionScore(Model):
    criterion: Annotated[str, StringConstraints(max_length=40)]
    score: int
    motivation: Text


class ScoreApplication(Action):
    scores: Annotated[list[CriterionScore], Field(min_length=1, max_length=50)]


class DecisionKind(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    DISMISS = "dismiss"


class PrepareDecision(Action):
    kind: DecisionKind
    amount: Kronor | None = None
    period_start: date | None = None
    period_end: date | None = None
    conditions: Annotated[list[Text], Field(max_length=50)] = []
    reasons: Text | None = None
    # FL 25 §: material the applicant has not seen that the decision rests on.
    unseen_material: Text | None = None


class Communicate(Action):
    reply_days: Annotated[int, Field(ge=14, le=120)] | None = None


class ReplyToCommunication(Action):
    text: Text


class Decide(Action):
    pass


class Withdraw(Action):
    reason: Text | None = None


class RequestDecision(Action):
    """FL 12 §: after six months without a decision, the applicant asks for one in writing."""

    text: Text


class Receipt(Model):
    action_id: str
    action: str
    case_number: str
    accepted_at: datetime
    stage: Stage
    message: str  # Swedish


# --- what an action causes outside the case ------------------------------------------


class RecordEvent(Model):
    kind: Literal["event"] = "event"
    event_id: str
    at: datetime
    actor_id: str
    actor_role: str
    event: str
    summary: str


class SendLetter(Model):
    kind: Literal["letter"] = "letter"
    letter_id: str
    letter: str  # a domain.letters.LetterKind value
    context: dict[str, str]


class SaveDocument(Model):
    kind: Literal["document"] = "document"
    document_id: str
    document: str
    title: str
    at: datetime
    content: dict[str, object]


class RunChecks(Model):
    kind: Literal["checks"] = "checks"


class TellCall(Model):
    """Keep the call's workflow informed for ranking: registered, assessed, or out of the running."""

    kind: Literal["call"] = "call"
    news: Literal["registered", "assessed", "left"]
    score: int | None = None


Effect = Annotated[RecordEvent | SendLetter | SaveDocument | RunChecks | TellCall, Field(discriminator="kind")]


# --- the state of a case -------------------------------------------------------------


class CompletionRequest(Model):
    requested_by: str
    requested_at: datetime
    missing: list[str]
    deadline: datetime
    answered_at: datetime | None = None
    expired: bool = False


class SecrecyReview(Model):
    reviewed_by: str
    reviewed_at: datetime
    rulings: list[SectionRuling]


class Assessment(Model):
    assessor: str
    conflict_declared_at: datetime
    scores: list[CriterionScore] = []
    total: int | None = None
    scored_at: datetime | None = None


class FundingProposal(Model):
    rank: int
    amount: Decimal  # zero when the budget ran out above this case


class PreparedDecision(Model):
    kind: DecisionKind
    prepared_by: str
    prepared_at: datetime
    amount: Decimal | None
    period_start: date | None
    period_end: date | None
    conditions: list[str]
    reasons: str | None
    unseen_material: str | None


class Communication(Model):
    sent_at: datetime
    deadline: datetime
    reply: str | None = None
    replied_at: datetime | None = None
    expired: bool = False

    @property
    def settled(self) -> bool:
        """The applicant has replied, or the reply period is over."""
        return self.reply is not None or self.expired


class Decision(Model):
    outcome: Outcome
    decided_by: str
    prepared_by: str
    decided_at: datetime
    amount: Decimal | None
    period_start: date | None
    period_end: date | None
    conditions: list[str]
    reasons: str | None


class DecisionRequest(Model):
    requested_at: datetime
    deadline: datetime
    overdue: bool = False


class CaseState(Model):
    """All of a case, in one model that continue-as-new passes whole."""

    case_number: CaseNumber
    submission_id: str
    call: Call
    application: Application
    received_at: datetime
    imported: bool
    late: bool
    stage: Stage = Stage.RECEIVED
    outcome: Outcome | None = None
    verdict: Verdict | None = None
    application_versions: int = 1
    completion: CompletionRequest | None = None
    secrecy: SecrecyReview | None = None
    assessment: Assessment | None = None
    funding: FundingProposal | None = None
    prepared: PreparedDecision | None = None
    communication: Communication | None = None
    decision: Decision | None = None
    decision_request: DecisionRequest | None = None
    withdrawal_reason: str | None = None
    granted: Decimal | None = None
    receipts: dict[str, Receipt] = {}
    outbox: list[Effect] = []
    effects_done: int = 0  # a counter for effect ids that stays unique across continue-as-new

    @property
    def officer(self) -> str | None:
        return self.assessment.assessor if self.assessment else None

    @property
    def next_deadline(self) -> datetime | None:
        """The earliest deadline still running: what operations watch and the workflow waits for."""
        running = []
        if self.completion and not self.completion.answered_at and not self.completion.expired:
            running.append(self.completion.deadline)
        if self.communication and not self.communication.settled and self.stage is Stage.DECISION:
            running.append(self.communication.deadline)
        if self.decision_request and self.decision is None and not self.decision_request.overdue:
            running.append(self.decision_request.deadline)
        return min(running, default=None)

    def applicable_criteria(self) -> list[str]:
        return [
            c.id
            for c in self.call.assessment.criteria
            if c.when is None or resolve(self.application, c.when) is True
        ]


# --- starting a case ---------------------------------------------------------------------


def new_case(
    *,
    case_number: str,
    submission_id: str,
    call: Call,
    application: Application,
    received_at: datetime,
    imported: bool,
    verdict: Verdict | None = None,
) -> CaseState:
    state = CaseState(
        case_number=case_number,
        submission_id=submission_id,
        call=call,
        application=application,
        received_at=received_at,
        imported=imported,
        late=call.window.is_late(received_at),
    )
    how = "importerad från annat diarium" if imported else "mottagen i e-tjänsten"
    _event(state, received_at, "system", "system", "registered", f"Ansökan registrerad ({how}).")
    _letter(state, "receipt", received_at)
    state.outbox.append(TellCall(news="registered"))
    state.stage = transition(state.stage, Stage.COMPLETENESS)
    if verdict is None:
        state.outbox.append(RunChecks())
    else:
        checks_done(state, verdict, received_at)
    return state


# --- the rules for each action -------------------------------------------------------------

Command = (
    RequestCompletion
    | SubmitCompletion
    | AcceptForReview
    | RecordSecrecyReview
    | DeclareNoConflict
    | ScoreApplication
    | PrepareDecision
    | Communicate
    | ReplyToCommunication
    | Decide
    | Withdraw
    | RequestDecision
)

_ROLES: dict[type[Action], Role] = {
    RequestCompletion: Role.OFFICER,
    SubmitCompletion: Role.APPLICANT,
    AcceptForReview: Role.OFFICER,
    RecordSecrecyReview: Role.OFFICER,
    DeclareNoConflict: Role.OFFICER,
    ScoreApplication: Role.OFFICER,
    PrepareDecision: Role.OFFICER,
    Communicate: Role.OFFICER,
    ReplyToCommunication: Role.APPLICANT,
    Decide: Role.DECISION_MAKER,
    Withdraw: Role.APPLICANT,
    RequestDecision: Role.APPLICANT,
}

_STAGES: dict[type[Action], frozenset[Stage]] = {
    RequestCompletion: frozenset({Stage.COMPLETENESS}),
    SubmitCompletion: frozenset({Stage.COMPLETENESS}),
    AcceptForReview: frozenset({Stage.COMPLETENESS}),
    RecordSecrecyReview: frozenset({Stage.SECRECY_REVIEW}),
    DeclareNoConflict: frozenset({Stage.ASSESSMENT}),
    ScoreApplication: frozenset({Stage.ASSESSMENT}),
    PrepareDecision: frozenset({Stage.COMPLETENESS, Stage.ASSESSMENT, Stage.DECISION}),
    Communicate: frozenset({Stage.DECISION}),
    ReplyToCommunication: frozenset({Stage.DECISION}),
    Decide: frozenset({Stage.DECISION}),
    Withdraw: frozenset(
        {Stage.RECEIVED, Stage.COMPLETENESS, Stage.SECRECY_REVIEW, Stage.ASSESSMENT, Stage.DECISION}
    ),
    RequestDecision: frozenset(
        {Stage.COMPLETENESS, Stage.SECRECY_REVIEW, Stage.ASSESSMENT, Stage.DECISION}
    ),
}

ROLE_LABELS_SV = {
    Role.APPLICANT: "sökanden",
    Role.OFFICER: "handläggare",
    Role.DECISION_MAKER: "beslutsfattare",
    Role.FINANCE: "ekonomi",
    Role.OPERATIONS: "drift",
    Role.AUDITOR: "revisor",
}


def _months_later(instant: datetime, months: int) -> datetime:
    """The same Stockholm day `months` later (the last day of a shorter month)."""
    local = instant.astimezone(STOCKHOLM)
    year, month_index = divmod(local.month - 1 + months, 12)
    year += local.year
    day = min(local.day, calendar.monthrange(year, month_index + 1)[1])
    return local.replace(year=year, month=month_index + 1, day=day).astimezone(instant.tzinfo)


def refusal(state: CaseState, command: Command, now: datetime) -> str | None:
    """Why `command` cannot be taken now, in Swedish; None when it can."""
    if command.action_id in state.receipts:
        return None  # re-sent: answered with the first receipt
    role = _ROLES[type(command)]
    if command.actor.role is not role:
        return f"Åtgärden kan bara utföras av {ROLE_LABELS_SV[role]}, inte av {ROLE_LABELS_SV[command.actor.role]}."
    if state.stage not in _STAGES[type(command)]:
        return f"Åtgärden kan inte utföras när ärendet är i steget ”{STAGE_LABELS_SV[state.stage]}”."
    return _specific_refusal(state, command, now)


def _specific_refusal(state: CaseState, command: Command, now: datetime) -> str | None:
    match command:
        case RequestCompletion():
            if state.completion and not state.completion.answered_at and not state.completion.expired:
                return "En begäran om komplettering väntar redan på svar."
        case SubmitCompletion(application=application):
            completion = state.completion
            if completion is None or completion.answered_at is not None:
                return "Ingen komplettering har begärts."
            if completion.expired:
                return "Svarstiden för kompletteringen har gått ut."
            if application.call_id != state.call.id:
                return "Kompletteringen gäller en annan utlysning."
        case AcceptForReview():
            if state.verdict is None:
                return "Kontrollen av ansökan är inte klar än."
            if not state.verdict.eligible:
                return "Ansökan har fel som måste kompletteras eller leda till avvisning."
        case RecordSecrecyReview(rulings=rulings):
            marked = {m.section for m in state.application.secret_sections}
            ruled = [r.section for r in rulings]
            if missing := sorted(marked - set(ruled)):
                return f"Sekretessprövningen saknar beslut för: {', '.join(missing)}."
            if len(ruled) != len(set(ruled)):
                return "Varje avsnitt prövas en gång."
            if unknown := sorted(set(ruled) - marked):
                return f"Sökanden har inte markerat: {', '.join(unknown)}."
            if any(r.secret and not r.legal_ground for r in rulings):
                return "Ange lagrum för varje avsnitt som sekretessbeläggs."
        case DeclareNoConflict():
            if state.assessment is not None:
                return f"Jävsprövning är redan gjord av {state.assessment.assessor}."
        case ScoreApplication(scores=scores):
            if state.assessment is None:
                return "Handläggaren ska först förklara att jäv inte föreligger."
            if command.actor.id != state.assessment.assessor:
                return "Bara den handläggare som har jävsprövat ärendet kan bedöma det."
            wanted = state.applicable_criteria()
            given = [s.criterion for s in scores]
            if sorted(given) != sorted(wanted):
                return f"Bedöm exakt kriterierna {', '.join(wanted)}."
            low, high = state.call.assessment.scale_min, state.call.assessment.scale_max
            if any(not low <= s.score <= high for s in scores):
                return f"Poängen ska vara mellan {low} och {high}."
        case PrepareDecision():
            return _decision_refusal(state, command)
        case Communicate():
            if state.prepared is None or state.prepared.unseen_material is None:
                return "Det finns inget underlag att kommunicera i det förberedda beslutet."
            if state.communication is not None:
                return "Underlaget är redan kommunicerat."
        case ReplyToCommunication():
            if state.communication is None or state.communication.settled:
                return "Det finns inget kommunicerat underlag att svara på."
        case Decide():
            prepared = state.prepared
            if prepared is None:
                return "Det finns inget förberett beslut."
            if command.actor.id in {state.officer, prepared.prepared_by}:
                return "Den som har bedömt eller förberett ärendet får inte fatta beslutet (fyraögonsprincipen)."
            if prepared.unseen_material is not None:
                comm = state.communication
                if comm is None:
                    return "Underlaget ska kommuniceras med sökanden innan beslutet fattas."
                if not comm.settled and now < comm.deadline:
                    return f"Sökanden har svarstid till och med {format_deadline_sv(comm.deadline)}."
            if prepared.amount is not None and prepared.amount > state.call.funding.budget:
                return "Beloppet överstiger utlysningens budget."
        case Withdraw():
            pass
        case RequestDecision():
            if state.decision_request is not None:
                return "Sökanden har redan begärt ett beslut."
            earliest = _months_later(state.received_at, state.call.deadlines.decision_request_after_months)
            if now < earliest:
                return f"Ett beslut kan begäras tidigast {format_instant_sv(earliest)}."
    return None


def _decision_refusal(state: CaseState, command: PrepareDecision) -> str | None:
    if state.stage is Stage.COMPLETENESS and command.kind is not DecisionKind.DISMISS:
        return "Före bedömningen kan bara ett beslut om avvisning förberedas."
    if state.stage is Stage.ASSESSMENT and (state.assessment is None or state.assessment.total is None):
        return "Ärendet är inte bedömt än."
    if command.kind is DecisionKind.DISMISS:
        late = state.late
        incomplete = state.verdict is not None and not state.verdict.eligible
        expired = state.completion is not None and state.completion.expired
        if not (late or incomplete or expired):
            return "Avvisning förutsätter att ansökan kom in för sent eller inte är komplett."
    if command.kind is DecisionKind.APPROVE:
        if command.amount is None or command.amount <= 0:
            return "Ange beviljat belopp."
        if command.amount > state.application.requested_amount:
            return (
                f"Beviljat belopp {format_kronor(command.amount)} är större än sökt belopp "
                f"{format_kronor(state.application.requested_amount)}."
            )
        if command.amount > state.call.funding.budget:
            return "Beloppet överstiger utlysningens budget."
        if command.period_start is None or command.period_end is None or command.period_end < command.period_start:
            return "Ange en projektperiod."
        if command.period_start < stockholm_date(state.received_at):
            return "Projektperioden kan inte börja före den dag ansökan kom in."
    elif not command.reasons:
        return "Ett avslag eller en avvisning ska motiveras (FL 32 §)."
    if state.communication is not None and state.prepared is not None:
        return "Underlaget är redan kommunicerat; fatta eller avbryt det förberedda beslutet."
    return None


# --- applying an accepted action ----------------------------------------------------------


def apply(state: CaseState, command: Command, now: datetime) -> Receipt:
    """Carry out an action `refusal` accepted; returns the receipt, queues what must follow."""
    if (earlier := state.receipts.get(command.action_id)) is not None:
        return earlier
    message = _apply(state, command, now)
    receipt = Receipt(
        action_id=command.action_id,
        action=type(command).__name__,
        case_number=state.case_number,
        accepted_at=now,
        stage=state.stage,
        message=message,
    )
    _event(state, now, command.actor.id, command.actor.role.value, receipt.action, message, command.action_id)
    if len(state.receipts) >= MAX_RECEIPTS:
        state.receipts.pop(next(iter(state.receipts)))
    state.receipts[command.action_id] = receipt
    return receipt


def _apply(state: CaseState, command: Command, now: datetime) -> str:
    match command:
        case RequestCompletion(missing=missing, reply_days=days):
            days = days or state.call.deadlines.completion_reply_days
            deadline = end_of_day(stockholm_date(now) + timedelta(days=days))
            state.completion = CompletionRequest(
                requested_by=command.actor.id, requested_at=now, missing=list(missing), deadline=deadline
            )
            _letter(state, "completion_request", now, missing="\n".join(f"- {m}" for m in missing),
                    deadline=format_deadline_sv(deadline))
            return f"Komplettering begärd med svar senast {format_deadline_sv(deadline)}."
        case SubmitCompletion(application=application):
            assert state.completion is not None
            state.completion.answered_at = now
            state.application = application
            state.application_versions += 1
            _document(state, f"application-v{state.application_versions}", "completion",
                      "Komplettering av ansökan", now, application.model_dump(mode="json"))
            state.verdict = None
            state.outbox.append(RunChecks())
            return "Kompletteringen är mottagen och ansökan kontrolleras på nytt."
        case AcceptForReview():
            state.stage = transition(state.stage, Stage.SECRECY_REVIEW)
            return "Ansökan är komplett och går vidare till sekretessprövning."
        case RecordSecrecyReview(rulings=rulings):
            state.secrecy = SecrecyReview(reviewed_by=command.actor.id, reviewed_at=now, rulings=list(rulings))
            _document(state, "public-version", "public_version", "Allmän handling (maskerad version)", now,
                      public_version(state))
            state.stage = transition(state.stage, Stage.ASSESSMENT)
            secret = sum(r.secret for r in rulings)
            return f"Sekretessprövning klar: {secret} av {len(rulings)} markerade avsnitt sekretessbelagda."
        case DeclareNoConflict():
            state.assessment = Assessment(assessor=command.actor.id, conflict_declared_at=now)
            return f"{command.actor.id} har förklarat att jäv inte föreligger och bedömer ärendet."
        case ScoreApplication(scores=scores):
            assert state.assessment is not None
            state.assessment.scores = list(scores)
            state.assessment.total = sum(s.score for s in scores)
            state.assessment.scored_at = now
            state.outbox.append(TellCall(news="assessed", score=state.assessment.total))
            return f"Ansökan är bedömd med totalt {state.assessment.total} poäng."
        case PrepareDecision():
            state.prepared = PreparedDecision(
                kind=command.kind, prepared_by=command.actor.id, prepared_at=now, amount=command.amount,
                period_start=command.period_start, period_end=command.period_end,
                conditions=list(command.conditions), reasons=command.reasons,
                unseen_material=command.unseen_material,
            )
            if state.stage is not Stage.DECISION:
                state.stage = transition(state.stage, Stage.DECISION)
            return f"Beslut förberett: {_KIND_SV[command.kind]}."
        case Communicate(reply_days=days):
            assert state.prepared is not None and state.prepared.unseen_material is not None
            days = days or state.call.deadlines.communication_reply_days
            deadline = end_of_day(stockholm_date(now) + timedelta(days=days))
            state.communication = Communication(sent_at=now, deadline=deadline)
            _letter(state, "communication", now, material=state.prepared.unseen_material,
                    deadline=format_deadline_sv(deadline))
            return f"Underlaget är kommunicerat med svar senast {format_deadline_sv(deadline)}."
        case ReplyToCommunication(text=text):
            assert state.communication is not None
            state.communication.reply = text
            state.communication.replied_at = now
            _document(state, "communication-reply", "reply", "Yttrande över kommunicerat underlag", now,
                      {"text": text})
            return "Sökandens yttrande är mottaget."
        case Decide():
            return decide(state, command.actor.id, now)
        case Withdraw(reason=reason):
            state.stage = transition(state.stage, withdrawal_target(state.stage, paid_out=False))
            state.outcome = Outcome.WITHDRAWN
            state.withdrawal_reason = reason
            state.outbox.append(TellCall(news="left"))
            _letter(state, "withdrawal_confirmed", now, withdrawn_at=format_instant_sv(now))
            return "Ansökan är återkallad."
        case RequestDecision():
            weeks = state.call.deadlines.decision_request_answer_weeks
            deadline = end_of_day(stockholm_date(now) + timedelta(weeks=weeks))
            state.decision_request = DecisionRequest(requested_at=now, deadline=deadline)
            _document(state, "decision-request", "decision_request", "Begäran om avgörande (FL 12 §)", now,
                      {"text": command.text})
            _letter(state, "decision_request_received", now, deadline=format_deadline_sv(deadline),
                    requested_at=format_instant_sv(now))
            return f"Begäran om avgörande mottagen; beslut ska fattas senast {format_deadline_sv(deadline)}."
    raise AssertionError(f"unhandled command {type(command).__name__}")  # every Command is matched above


_KIND_SV = {DecisionKind.APPROVE: "bifall", DecisionKind.REJECT: "avslag", DecisionKind.DISMISS: "avvisning"}
_OUTCOME = {DecisionKind.APPROVE: Outcome.APPROVED, DecisionKind.REJECT: Outcome.REJECTED,
            DecisionKind.DISMISS: Outcome.DISMISSED}


def decide(state: CaseState, decided_by: str, now: datetime) -> str:
    """Take the prepared decision. For an approval the budget grant must already be secured."""
    prepared = state.prepared
    assert prepared is not None
    outcome = _OUTCOME[prepared.kind]
    state.decision = Decision(
        outcome=outcome, decided_by=decided_by, prepared_by=prepared.prepared_by, decided_at=now,
        amount=prepared.amount if outcome is Outcome.APPROVED else None,
        period_start=prepared.period_start, period_end=prepared.period_end,
        conditions=prepared.conditions, reasons=prepared.reasons,
    )
    state.outcome = outcome
    state.granted = state.decision.amount
    state.stage = transition(state.stage, Stage.DECIDED)
    state.outbox.append(TellCall(news="left"))
    appeal = appeal_text(state.call.appeal.grant_decision_appealable)
    letter = {Outcome.APPROVED: "decision_approved", Outcome.REJECTED: "decision_rejected",
              Outcome.DISMISSED: "decision_dismissed"}[outcome]
    _letter(
        state, letter, now, appeal=appeal, reasons=prepared.reasons or "",
        amount=format_kronor(prepared.amount) if prepared.amount is not None else "",
        project_period=f"{prepared.period_start} – {prepared.period_end}" if prepared.period_start else "",
        conditions="\n".join(f"- {c}" for c in prepared.conditions) or "Inga särskilda villkor.",
        decided_by=decided_by, decision_date=format_instant_sv(now),
    )
    _document(state, "decision", "decision", f"Beslut: {_KIND_SV[prepared.kind]}", now,
              state.decision.model_dump(mode="json"))
    amount = f" om {format_kronor(prepared.amount)}" if outcome is Outcome.APPROVED and prepared.amount else ""
    return f"Beslut fattat: {_KIND_SV[prepared.kind]}{amount}."


def checks_done(state: CaseState, verdict: Verdict, now: datetime) -> None:
    """The call's checks have run: a clean, timely application goes on by itself."""
    state.verdict = verdict
    errors = len(verdict.errors)
    summary = "Ansökan uppfyller utlysningens krav." if verdict.eligible else f"Kontrollen fann {errors} fel."
    _event(state, now, "system", "system", "checked", f"{summary} {len(verdict.warnings)} varningar.")
    if state.stage is Stage.COMPLETENESS and verdict.eligible and not state.late:
        state.stage = transition(state.stage, Stage.SECRECY_REVIEW)


def deadline_passed(state: CaseState, now: datetime) -> None:
    """A deadline has run out: record it; what follows is the officer's decision."""
    completion = state.completion
    if completion and not completion.answered_at and not completion.expired and now >= completion.deadline:
        completion.expired = True
        _event(state, now, "system", "system", "completion_expired",
               "Svarstiden för komplettering har gått ut utan svar. Handläggaren kan avvisa ansökan.")
    request = state.decision_request
    if request and state.decision is None and not request.overdue and now >= request.deadline:
        request.overdue = True
        _event(state, now, "system", "system", "decision_overdue",
               "Fyraveckorsfristen efter begäran om avgörande (FL 12 §) har gått ut.")
    comm = state.communication
    if comm and not comm.settled and now >= comm.deadline:
        comm.expired = True
        _event(state, now, "system", "system", "communication_expired",
               "Svarstiden för kommunicerat underlag har gått ut utan yttrande.")


def public_version(state: CaseState) -> dict[str, object]:
    """The application as a public document: the parts ruled secret replaced by a note."""
    public: dict[str, object] = state.application.model_dump(mode="json")
    for ruling in state.secrecy.rulings if state.secrecy else []:
        if not ruling.secret:
            continue
        node: object = public
        *parents, leaf = ruling.section.removeprefix("$.").split(".")
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and leaf in node:
            node[leaf] = f"[Sekretess enligt {ruling.legal_ground}]"
    return public


# --- bookkeeping ----------------------------------------------------------------------------


def _next_id(state: CaseState, prefix: str) -> str:
    state.effects_done += 1
    return f"{prefix}-{state.effects_done:05d}"


def _event(
    state: CaseState, at: datetime, actor_id: str, actor_role: str, event: str, summary: str,
    event_id: str | None = None,
) -> None:
    state.outbox.append(RecordEvent(
        event_id=event_id or _next_id(state, "event"), at=at, actor_id=actor_id, actor_role=actor_role,
        event=event, summary=summary,
    ))


def _letter(state: CaseState, letter: str, at: datetime, **context: str) -> None:
    contact = state.application.applicant.contact
    base = {
        "case_number": state.case_number,
        "project_title": state.application.project.title,
        "call_title": state.call.title,
        "agency": state.call.agency,
        "recipient_name": contact.name if contact else state.application.applicant.name,
        "received_at": format_instant_sv(state.received_at),
    }
    state.outbox.append(SendLetter(letter_id=_next_id(state, letter), letter=letter, context=base | context))


def _document(state: CaseState, document_id: str, document: str, title: str, at: datetime,
              content: dict[str, object]) -> None:
    state.outbox.append(SaveDocument(document_id=document_id, document=document, title=title, at=at,
                                     content=content))


__all__ = ["CaseState", "Command", "TransitionError", "apply", "new_case", "refusal"]
