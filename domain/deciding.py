"""The rules for every action up to the decision: completeness, secrecy review, assessment, decision.

Pure, like everything in domain/: `domain.actions` checks role and stage and then asks here
what else stands in an action's way, and carries it out here once accepted.
"""

from __future__ import annotations

import calendar
from datetime import datetime, timedelta

from domain.after_decision import begin_payments
from domain.case import (
    AcceptForReview,
    Assessment,
    CaseState,
    Communicate,
    CompletionRequest,
    Decide,
    Decision,
    DecisionKind,
    DecisionRequest,
    Declaration,
    DeclareNoConflict,
    PreparedDecision,
    PrepareDecision,
    RecordSecrecyReview,
    ReplyToCommunication,
    RequestCompletion,
    RequestDecision,
    Role,
    RunChecks,
    ScoreApplication,
    SecrecyReview,
    SubmitCompletion,
    TellCall,
    Withdraw,
    close_case,
    note_event,
    public_version,
    queue_letter,
    save_document,
)
from domain.clock import STOCKHOLM, end_of_day, format_deadline_sv, format_instant_sv, stockholm_date
from domain.identity import identity_key
from domain.letters import appeal_text
from domain.lifecycle import Outcome, Stage, transition, withdrawal_target
from domain.money import format_kronor
from domain.payment import advance_cap
from domain.reclaim import Hearing

BeforeDecision = (
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


def _months_later(instant: datetime, months: int) -> datetime:
    """The same Stockholm day `months` later (the last day of a shorter month)."""
    local = instant.astimezone(STOCKHOLM)
    year, month_index = divmod(local.month - 1 + months, 12)
    year += local.year
    day = min(local.day, calendar.monthrange(year, month_index + 1)[1])
    return local.replace(year=year, month=month_index + 1, day=day).astimezone(instant.tzinfo)


def refusal_before_decision(state: CaseState, command: BeforeDecision, now: datetime) -> str | None:
    """Why an action up to the decision cannot be taken now (role and stage already checked)."""
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
            # The register's sender, the letters and the payee follow the applicant: a completion
            # adds what was missing, it does not hand the case to someone else.
            if identity_key(application.applicant.org_number) != identity_key(state.application.applicant.org_number):
                return "En komplettering kan inte byta sökande organisation; den nya får lämna en egen ansökan."
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
            if state.has_declared(command.actor.id):
                return f"{command.actor.id} har redan förklarat att jäv inte föreligger i ärendet."
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
            return _decision_refusal(state, command, now)
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
            if command.actor.id in {*state.handled_by, prepared.prepared_by}:
                return "Den som har bedömt eller förberett ärendet får inte fatta beslutet (fyraögonsprincipen)."
            if prepared.unseen_material is not None:
                comm = state.communication
                if comm is None:
                    return "Underlaget ska kommuniceras med sökanden innan beslutet fattas."
                if not comm.settled and now < comm.deadline:
                    return f"Sökanden har svarstid till och med {format_deadline_sv(comm.deadline)}."
            if prepared.amount is not None and prepared.amount > state.call.funding.budget:
                return "Beloppet överstiger utlysningens budget."
            if (prepared.kind is DecisionKind.APPROVE and prepared.amount is not None
                    and state.budget_remaining is not None and prepared.amount > state.budget_remaining):
                return f"Utlysningens budget räcker inte: {format_kronor(state.budget_remaining)} återstår."
        case Withdraw():
            pass
        case RequestDecision():
            if state.decision_request is not None:
                return "Sökanden har redan begärt ett beslut."
            earliest = _months_later(state.received_at, state.call.deadlines.decision_request_after_months)
            if now < earliest:
                return f"Ett beslut kan begäras tidigast {format_instant_sv(earliest)}."
    return None


def _decision_refusal(state: CaseState, command: PrepareDecision, now: datetime) -> str | None:
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
        if command.period_start is None or command.period_end is None:
            return "Ange en projektperiod."
        if command.period_end < command.period_start:
            return f"Projektperioden slutar ({command.period_end}) före den börjar ({command.period_start})."
        if command.period_start < stockholm_date(state.received_at):
            return "Projektperioden kan inte börja före den dag ansökan kom in."
        report_due = command.final_report_due or state.call.timeline.final_report_due
        if report_due < command.period_end:
            return "Slutrapporten kan inte vara förfallen före projektperiodens slut."
        if report_due < stockholm_date(now):
            return (f"Utlysningens dag för slutrapport ({report_due}) har passerat; ange i beslutet när"
                    " slutrapporten ska lämnas (final_report_due).")
        if command.advance is not None:
            cap = advance_cap(command.amount, state.call.payments.advance_max_share,
                              state.call.payments.advance_max_amount, state.call.payments.withheld_share)
            if command.advance > cap:
                return f"Förskottet får vara högst {format_kronor(cap)} (SFS 2003:596)."
            if not command.advance_reasons:
                return "Förskott kräver särskilda skäl; ange dem."
            if command.payee_bankgiro is None:
                return "Ange bankgiro för utbetalning av förskottet."
    elif not command.reasons:
        return "Ett avslag eller en avvisning ska motiveras (FL 32 §)."
    if command.kind is not DecisionKind.APPROVE and command.advance is not None:
        return "Förskott kan bara ges i ett beslut om bifall."
    if state.communication is not None and state.prepared is not None:
        return "Underlaget är redan kommunicerat; fatta eller avbryt det förberedda beslutet."
    standing = state.prepared
    if standing is not None and not command.replaces_proposal:
        return (f"Det finns redan ett beslutsförslag ({_KIND_SV[standing.kind]}) av {standing.prepared_by}."
                " Ett nytt förslag ersätter det bara om det sägs uttryckligen (replaces_proposal: true).")
    if standing is None and command.replaces_proposal:
        return "Det finns inget beslutsförslag att ersätta."
    return None


def apply_before_decision(state: CaseState, command: BeforeDecision, now: datetime) -> str:
    """Carry out an accepted action up to the decision; returns the receipt's message."""
    match command:
        case RequestCompletion(missing=missing, reply_days=days):
            days = days or state.call.deadlines.completion_reply_days
            deadline = end_of_day(stockholm_date(now) + timedelta(days=days))
            state.completion = CompletionRequest(
                requested_by=command.actor.id, requested_at=now, missing=list(missing), deadline=deadline
            )
            queue_letter(state, "completion_request", now, missing="\n".join(f"- {m}" for m in missing),
                    deadline=format_deadline_sv(deadline))
            return f"Komplettering begärd med svar senast {format_deadline_sv(deadline)}."
        case SubmitCompletion(application=application):
            assert state.completion is not None
            state.completion.answered_at = now
            state.application = application
            state.application_versions += 1
            save_document(state, f"application-v{state.application_versions}", "completion",
                      "Komplettering av ansökan", now, application.model_dump(mode="json"))
            state.verdict = None
            state.outbox.append(RunChecks())
            return "Kompletteringen är mottagen och ansökan kontrolleras på nytt."
        case AcceptForReview():
            state.stage = transition(state.stage, Stage.SECRECY_REVIEW)
            return "Ansökan är komplett och går vidare till sekretessprövning."
        case RecordSecrecyReview(rulings=rulings):
            state.secrecy = SecrecyReview(reviewed_by=command.actor.id, reviewed_at=now, rulings=list(rulings))
            save_document(state, "public-version", "public_version", "Allmän handling (maskerad version)", now,
                      public_version(state))
            state.stage = transition(state.stage, Stage.ASSESSMENT)
            secret = sum(r.secret for r in rulings)
            return f"Sekretessprövning klar: {secret} av {len(rulings)} markerade avsnitt sekretessbelagda."
        case DeclareNoConflict():
            who = command.actor.id
            state.declarations.append(Declaration(person=who, role=command.actor.role.value, declared_at=now))
            if state.stage is Stage.ASSESSMENT and state.assessment is None and command.actor.role is Role.OFFICER:
                # The first officer to declare in the assessment is the one who assesses the case.
                state.assessment = Assessment(assessor=who, conflict_declared_at=now)
                return f"{who} har förklarat att jäv inte föreligger och bedömer ärendet."
            role = "beslutsfattare" if command.actor.role is Role.DECISION_MAKER else "handläggare"
            return f"{role.capitalize()} {who} har förklarat att jäv inte föreligger i ärendet."
        case ScoreApplication(scores=scores):
            assert state.assessment is not None
            state.assessment.scores = list(scores)
            state.assessment.total = sum(s.score for s in scores)
            state.assessment.scored_at = now
            state.outbox.append(TellCall(news="assessed", score=state.assessment.total))
            return f"Ansökan är bedömd med totalt {state.assessment.total} poäng."
        case PrepareDecision():
            replaced = state.prepared
            state.prepared = PreparedDecision(
                kind=command.kind, prepared_by=command.actor.id, prepared_at=now, amount=command.amount,
                period_start=command.period_start, period_end=command.period_end,
                conditions=list(command.conditions), reasons=command.reasons,
                unseen_material=command.unseen_material, advance=command.advance,
                advance_reasons=command.advance_reasons, payee_bankgiro=command.payee_bankgiro,
                final_report_due=command.final_report_due,
            )
            if state.stage is not Stage.DECISION:
                state.stage = transition(state.stage, Stage.DECISION)
            if replaced is not None:
                # The receipt's message is the action's entry in the register: the history shows
                # that one proposal took the place of another, and whose.
                return (f"Beslut förberett: {_KIND_SV[command.kind]}. Det ersätter beslutsförslaget av"
                        f" {replaced.prepared_by} ({_KIND_SV[replaced.kind]}).")
            return f"Beslut förberett: {_KIND_SV[command.kind]}."
        case Communicate(reply_days=days):
            assert state.prepared is not None and state.prepared.unseen_material is not None
            days = days or state.call.deadlines.communication_reply_days
            deadline = end_of_day(stockholm_date(now) + timedelta(days=days))
            state.communication = Hearing(sent_at=now, deadline=deadline)
            queue_letter(state, "communication", now, material=state.prepared.unseen_material,
                    deadline=format_deadline_sv(deadline))
            return f"Underlaget kommuniceras med sökanden, med svar senast {format_deadline_sv(deadline)}."
        case ReplyToCommunication(text=text):
            assert state.communication is not None
            state.communication.reply = text
            state.communication.replied_at = now
            save_document(state, "communication-reply", "reply", "Yttrande över kommunicerat underlag", now,
                      {"text": text})
            return "Sökandens yttrande är mottaget."
        case Decide():
            return decide(state, command.actor.id, now)
        case Withdraw(reason=reason):
            state.stage = transition(state.stage, withdrawal_target(state.stage, paid_out=False))
            state.outcome = Outcome.WITHDRAWN
            state.withdrawal_reason = reason
            state.outbox.append(TellCall(news="left"))
            queue_letter(state, "withdrawal_confirmed", now, withdrawn_at=format_instant_sv(now))
            close_case(state, now, "Ansökan återkallades innan beslut.")
            return "Ansökan är återkallad."
        case RequestDecision():
            weeks = state.call.deadlines.decision_request_answer_weeks
            deadline = end_of_day(stockholm_date(now) + timedelta(weeks=weeks))
            state.decision_request = DecisionRequest(requested_at=now, deadline=deadline)
            save_document(state, "decision-request", "decision_request", "Begäran om avgörande (FL 12 §)", now,
                      {"text": command.text})
            queue_letter(state, "decision_request_received", now, deadline=format_deadline_sv(deadline),
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
    approved = outcome is Outcome.APPROVED
    report_due = (prepared.final_report_due or state.call.timeline.final_report_due) if approved else None
    state.decision = Decision(
        outcome=outcome, decided_by=decided_by, prepared_by=prepared.prepared_by, decided_at=now,
        amount=prepared.amount if approved else None,
        period_start=prepared.period_start, period_end=prepared.period_end,
        conditions=prepared.conditions, reasons=prepared.reasons,
        advance=prepared.advance if approved else None, final_report_due=report_due,
    )
    state.outcome = outcome
    state.granted = state.decision.amount
    state.stage = transition(state.stage, Stage.DECIDED)
    state.outbox.append(TellCall(news="left"))
    appeal = appeal_text(state.call.appeal.grant_decision_appealable)
    letter = {Outcome.APPROVED: "decision_approved", Outcome.REJECTED: "decision_rejected",
              Outcome.DISMISSED: "decision_dismissed"}[outcome]
    conditions = [f"- {c}" for c in prepared.conditions]
    if report_due is not None:
        conditions.append(f"- Slutrapport med slutlig kostnadsredovisning ska ha kommit in senast {report_due}.")
    if approved and prepared.advance is not None:
        conditions.append(f"- Förskott om {format_kronor(prepared.advance)} betalas ut efter beslutet.")
    queue_letter(
        state, letter, now, appeal=appeal, reasons=prepared.reasons or "",
        amount=format_kronor(prepared.amount) if prepared.amount is not None else "",
        project_period=f"{prepared.period_start} – {prepared.period_end}" if prepared.period_start else "",
        conditions="\n".join(conditions) or "Inga särskilda villkor.",
        decided_by=f"beslutsfattare {decided_by} efter föredragning av handläggare {prepared.prepared_by}",
        decision_date=format_instant_sv(now),
    )
    save_document(state, "decision", "decision", f"Beslut: {_KIND_SV[prepared.kind]}", now,
                  state.decision.model_dump(mode="json"))
    amount = f" om {format_kronor(prepared.amount)}" if approved and prepared.amount else ""
    if approved:
        begin_payments(state, now)
    else:
        close_case(state, now, f"Ansökan har {'avslagits' if outcome is Outcome.REJECTED else 'avvisats'}.")
    return f"Beslut fattat: {_KIND_SV[prepared.kind]}{amount}."


def deadline_passed_before_decision(state: CaseState, now: datetime) -> None:
    """A deadline has run out: record it; what follows is the officer's decision."""
    completion = state.completion
    if completion and not completion.answered_at and not completion.expired and now >= completion.deadline:
        completion.expired = True
        note_event(state, now, "system", "system", "completion_expired",
               "Svarstiden för komplettering har gått ut utan svar. Handläggaren kan avvisa ansökan.")
    request = state.decision_request
    if request and state.decision is None and not request.overdue and now >= request.deadline:
        request.overdue = True
        note_event(state, now, "system", "system", "decision_overdue",
               "Fyraveckorsfristen efter begäran om avgörande (FL 12 §) har gått ut.")
    comm = state.communication
    if comm and not comm.settled and now >= comm.deadline:
        comm.expired = True
        note_event(state, now, "system", "system", "communication_expired",
               "Svarstiden för kommunicerat underlag har gått ut utan yttrande.")


