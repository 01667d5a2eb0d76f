"""The rules for every action after a grant is decided: payments, the final report, reclaim, closing.

Pure, like everything in domain/. `domain.actions` checks role and stage and then asks here
what else stands in an action's way; accepted actions are carried out here. Money leaves only
through `Pay` effects in the outbox, each with its payment request's number, which is the
payment ledger's idempotency key: a payout can be ordered once and paid once.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated

from pydantic import Field

from domain.case import (
    Action,
    AdjustGrant,
    CaseState,
    Pay,
    ReplyToCommunication,
    Text,
    Withdraw,
    close_case,
    next_effect_id,
    note_event,
    queue_letter,
    save_document,
)
from domain.clock import end_of_day, format_deadline_sv, format_instant_sv, stockholm_date
from domain.company_aid import FINAL_REPORT, filing_refusal, grant_state_aid, payment_request_key, review_refusal
from domain.interest import ReferenceRates, Repayment
from domain.letters import appeal_text
from domain.lifecycle import Outcome, Stage, transition, withdrawal_target
from domain.money import Kronor, apply_share, format_kronor, format_share
from domain.payment import (
    PAYOUT_KIND_SV,
    CostClaim,
    CostReview,
    FiledFinalReport,
    FiledRequest,
    FinalReport,
    PaymentRequest,
    Payments,
    Payout,
    PayoutKind,
    Positive,
    allowed_cost_types,
    approved_net,
    claimed_net,
    final_grant,
    payable,
    review_problem,
)
from domain.reclaim import BASIS_SV, Claim, Hearing, PreparedReclaim, Reclaim, ReclaimBasis, Revocation
from domain.state_aid import StateAidResolution

# --- the actions ---------------------------------------------------------------------------


class FilePaymentRequest(Action):
    request: PaymentRequest


class ReviewPaymentRequest(Action):
    request_number: Annotated[int, Field(ge=1, le=1000)]
    costs: Annotated[list[CostReview], Field(max_length=200)]
    # How a reported company over its de minimis ceiling is resolved (domain/state_aid.py).
    state_aid: Annotated[list[StateAidResolution], Field(max_length=500)] = Field(default_factory=list)


class SubmitFinalReport(Action):
    report: FinalReport


class ReviewFinalReport(Action):
    costs: Annotated[list[CostReview], Field(max_length=200)] = Field(default_factory=list)
    assessment: Text
    state_aid: Annotated[list[StateAidResolution], Field(max_length=500)] = Field(default_factory=list)


class PrepareRevocation(Action):
    """An officer proposes to revoke the decision, in part or whole (e.g. false information), and
    sends the applicant the proposal to reply to (FL 25 §) before a decision maker takes it."""

    revoked_amount: Positive
    reasons: Text
    material: Text | None = None  # what else the revocation would rest on, sent with the hearing
    reply_days: Annotated[int, Field(ge=14, le=120)] | None = None


class Revoke(Action):
    """A decision maker takes the prepared revocation once the applicant has been heard.

    Cases recorded before revocations were prepared sent the amount and reasons here, and a
    replay of them still does; a new revocation takes them from its preparation, so they are
    left out (or say the same)."""

    revoked_amount: Positive | None = None
    reasons: Text | None = None


class PrepareReclaim(Action):
    amount: Kronor
    reasons: Text
    interest_from: date | None = None  # the day interest starts; the day it is prepared when left out
    due_days: Annotated[int, Field(ge=10, le=366)] | None = None


class DecideReclaim(Action):
    pass


class RegisterRepayment(Action):
    amount: Positive
    paid_on: date


class WriteOff(Action):
    reasons: Text


AfterDecision = (
    FilePaymentRequest
    | ReviewPaymentRequest
    | SubmitFinalReport
    | ReviewFinalReport
    | PrepareRevocation
    | Revoke
    | PrepareReclaim
    | DecideReclaim
    | RegisterRepayment
    | WriteOff
)


# --- entering payments --------------------------------------------------------------------


def begin_payments(state: CaseState, now: datetime) -> None:
    """An approved grant goes on to payments; an advance the decision allows is ordered at once."""
    decision = state.decision
    assert decision is not None and decision.amount is not None and decision.final_report_due is not None
    assert decision.period_start is not None and decision.period_end is not None
    prepared = state.prepared
    payments = Payments(
        granted=decision.amount, support_rate=state.call.support_rate,
        withheld_share=state.call.payments.withheld_share, period_start=decision.period_start,
        period_end=decision.period_end, report_due=decision.final_report_due,
        payee_bankgiro=prepared.payee_bankgiro if prepared else None,
    )
    # A reminder whose day had passed before the grant existed is not sent late.
    payments.reminders_sent = [r.key for r in payments.reminders(state.call) if r.at <= now]
    state.payments = payments
    state.stage = transition(state.stage, Stage.PAYMENTS)
    if decision.advance is not None:
        _order(state, 0, PayoutKind.ADVANCE, decision.advance, now)


def _order(state: CaseState, number: int, kind: PayoutKind, amount: Decimal, now: datetime) -> None:
    payments = state.payments
    assert payments is not None and payments.payee_bankgiro is not None
    payments.payouts.append(Payout(number=number, kind=kind, amount=amount, bankgiro=payments.payee_bankgiro,
                                   ordered_at=now))
    state.outbox.append(Pay(number=number, payout=kind, amount=amount, bankgiro=payments.payee_bankgiro))


def payout_done(state: CaseState, number: int, paid_at: datetime, now: datetime) -> None:
    """The payment ledger has paid payout `number` at `paid_at` (its clock): record it at `now` (the
    case's clock); a paid final payment closes the case."""
    payments = state.payments
    assert payments is not None
    payout = next(p for p in payments.payouts if p.number == number)
    if payout.paid_at is not None:
        return
    payout.paid_at = paid_at
    what = PAYOUT_KIND_SV[payout.kind] + (f" enligt ansökan om utbetalning {number}" if payout.kind is
                                           PayoutKind.PAYMENT else "")
    # In the ledger, not yet at the bank: it goes out with the next bank file.
    note_event(state, now, "finance", "system", "paid",
               f"Utbetalning beordrad: {format_kronor(payout.amount)} ({what}), betalas ut med nästa bankfil.")
    queue_letter(state, "payout_made", now, amount=format_kronor(payout.amount), bankgiro=payout.bankgiro,
                 what=what)
    report = payments.final_report
    if (state.stage is Stage.FINAL_REPORT and report is not None and report.final_grant is not None
            and all(p.paid_at is not None for p in payments.payouts)):
        close_case(state, now, f"Slutligt stöd {format_kronor(report.final_grant)} är godkänt för utbetalning.")


# --- why an action cannot be taken -----------------------------------------------------------


def refusal_after_decision(state: CaseState, command: AfterDecision | Withdraw | ReplyToCommunication,
                           now: datetime) -> str | None:
    """Why an action after the decision cannot be taken now (role and stage already checked)."""
    today = stockholm_date(now)
    payments = state.payments
    reclaim = state.reclaim
    match command:
        case FilePaymentRequest(request=request):
            assert payments is not None
            return _request_refusal(state, payments, request, today)
        case ReviewPaymentRequest(request_number=number, costs=reviews):
            assert payments is not None
            filed = payments.request(number)
            if filed is None:
                return f"Det finns ingen ansökan om utbetalning nummer {number}."
            if filed.reviews is not None:
                return f"Ansökan om utbetalning {number} är redan prövad."
            return review_problem(filed.request.costs, reviews) or review_refusal(
                state, payment_request_key(number), filed.request.companies, command.state_aid)
        case SubmitFinalReport(report=report):
            assert payments is not None
            if problem := _costs_refusal(state, payments, report.costs):
                return problem
            companies = state.application.participating_companies
            asked = companies is not None and companies.share_women_percent is not None
            if asked and (report.companies_women is None or report.companies_men is None):
                return "Ange hur många av de deltagande företagen som företräds av kvinnor respektive män."
            if report.costs and not (report.payee_bankgiro or payments.payee_bankgiro):
                return "Ange bankgiro för slutbetalningen."
            return filing_refusal(state, report.companies, payments.period_start, payments.period_end,
                                  "projektperioden")
        case ReviewFinalReport(costs=reviews):
            assert payments is not None and payments.final_report is not None
            if payments.final_report.reviews is not None:
                # The final payout may still be on its way: a second review would order or reclaim again.
                return "Slutrapporten är redan granskad."
            if payments.unreviewed:
                return f"Pröva först ansökan om utbetalning {payments.unreviewed[0].number}."
            return review_problem(payments.final_report.report.costs, reviews) or review_refusal(
                state, FINAL_REPORT, payments.final_report.report.companies, command.state_aid)
        case PrepareRevocation(revoked_amount=amount):
            assert state.granted is not None
            if state.revocation is not None and state.revocation.pending:
                return (f"Ett upphävande är redan förberett av {state.revocation.prepared_by} och väntar på"
                        " beslut.")
            if amount > state.granted:
                return f"Det går inte att upphäva mer än beviljade {format_kronor(state.granted)}."
        case Revoke(revoked_amount=amount, reasons=reasons):
            assert state.granted is not None
            revocation = state.revocation
            if revocation is None or not revocation.pending:
                return ("Det finns inget förberett upphävande. En handläggare förbereder det (prepare-revocation)"
                        " och sökanden får yttra sig innan beslutet fattas (FL 25 §).")
            if (amount is not None and amount != revocation.amount) or (reasons is not None
                                                                        and reasons != revocation.reasons):
                return ("Upphävandet beslutas så som det är förberett och kommunicerat; ett annat belopp eller"
                        " andra skäl ska förberedas och kommuniceras på nytt.")
            if command.actor.id in {*state.handled_by, revocation.prepared_by}:
                return ("Den som har bedömt ärendet eller förberett upphävandet får inte besluta om det"
                        " (fyraögonsprincipen).")
            if not revocation.hearing.settled and now < revocation.hearing.deadline:
                return f"Sökanden har svarstid till och med {format_deadline_sv(revocation.hearing.deadline)}."
            if revocation.amount > state.granted:
                return f"Det går inte att upphäva mer än beviljade {format_kronor(state.granted)}."
        case Withdraw():
            pass
        case ReplyToCommunication():
            if state.stage is Stage.RECLAIM:
                if reclaim is None or reclaim.hearing is None or reclaim.hearing.settled or reclaim.claim:
                    return "Det finns inget kommunicerat underlag att svara på."
            elif not _revocation_heard(state):
                return "Det finns inget kommunicerat underlag att svara på."
        case PrepareReclaim(amount=amount, interest_from=interest_from):
            assert reclaim is not None
            if reclaim.prepared is not None:
                return "Återkravet är redan förberett och kommunicerat."
            if amount > state.paid_out:
                return f"Det går inte att kräva tillbaka mer än utbetalda {format_kronor(state.paid_out)}."
            if interest_from is not None and interest_from > today:
                return "Räntan kan inte börja löpa en dag som ännu inte har kommit."
        case DecideReclaim():
            assert reclaim is not None
            prepared = reclaim.prepared
            if prepared is None:
                return "Det finns inget förberett återkrav."
            if reclaim.claim is not None:
                return "Återkravet är redan beslutat."
            if command.actor.id in {prepared.prepared_by, *state.handled_by}:
                return "Den som har förberett eller bedömt ärendet får inte fatta beslutet (fyraögonsprincipen)."
            hearing = reclaim.hearing
            if hearing is not None and not hearing.settled and now < hearing.deadline:
                return f"Sökanden har svarstid till och med {format_deadline_sv(hearing.deadline)}."
        case RegisterRepayment(amount=amount, paid_on=paid_on):
            assert reclaim is not None
            claim = reclaim.claim
            if claim is None or reclaim.settled_at is not None:
                return "Det finns ingen obetald skuld i ärendet."
            if paid_on > today:
                return "En inbetalning kan inte registreras före den dag den kom in."
            if paid_on < stockholm_date(claim.decided_at):
                return "Inbetalningen är daterad före beslutet om återkrav."
            if claim.repayments and paid_on < claim.repayments[-1].paid_on:
                return f"Registrera inbetalningar i datumordning; den senaste är från {claim.repayments[-1].paid_on}."
            # Without rates read yet, the handler reads them and asks again before it registers.
            if reclaim.rates is not None:
                due = claim.provisional_balance(paid_on, reclaim.rates)[0].total_due
                if amount > due:
                    return f"Beloppet är större än skulden, {format_kronor(due)} per {paid_on}."
        case WriteOff():
            assert reclaim is not None
            if reclaim.claim is None or reclaim.settled_at is not None:
                return "Det finns ingen obetald skuld att avskriva."
            prepared = reclaim.prepared
            if command.actor.id in {prepared.prepared_by if prepared else None, *state.handled_by}:
                return ("Den som har förberett återkravet eller bedömt ärendet får inte besluta om avskrivning"
                        " (fyraögonsprincipen).")
    return None


def _request_refusal(state: CaseState, payments: Payments, request: PaymentRequest, today: date) -> str | None:
    if request.period_start < payments.period_start or request.period_end > payments.period_end:
        return (f"Perioden {request.period_start} – {request.period_end} ligger utanför projektperioden "
                f"{payments.period_start} – {payments.period_end}.")
    if request.period_end > today:
        return "En ansökan om utbetalning kan bara avse en period som har passerat."
    last_day = request.period_end + timedelta(days=state.call.payments.request_within_days)
    if today > last_day:
        return (f"Ansökan om utbetalning för perioden skulle ha kommit in senast {last_day} "
                f"({state.call.payments.request_within_days} dagar efter periodens slut).")
    for earlier in payments.requests:
        r = earlier.request
        if request.period_start <= r.period_end and r.period_start <= request.period_end:
            return f"Perioden överlappar ansökan om utbetalning {earlier.number} ({r.period_start} – {r.period_end})."
    if problem := _costs_refusal(state, payments, request.costs):
        return problem
    if problem := filing_refusal(state, request.companies, request.period_start, request.period_end, "perioden"):
        return problem
    left = payments.granted - payments.ordered
    if request.requested > left:
        return (f"Begärt belopp {format_kronor(request.requested)} är mer än det som återstår av stödet, "
                f"{format_kronor(left)}.")
    supported = apply_share(payments.support_rate, claimed_net(request.costs))
    if request.requested > supported:
        return (f"Begärt belopp är större än stödandelen ({format_share(payments.support_rate)}) av de "
                f"redovisade kostnaderna, {format_kronor(supported)}.")
    return None


def _costs_refusal(state: CaseState, payments: Payments, costs: list[CostClaim]) -> str | None:
    allowed = allowed_cost_types(state.call)
    for i, cost in enumerate(costs, start=1):
        if cost.cost_type not in allowed:
            return f"Kostnad {i} ({cost.description}): kostnadsslaget får inte användas i utlysningen."
    claimed = payments.vouchers
    seen: set[str] = set()
    for i, cost in enumerate(costs, start=1):
        for voucher in cost.vouchers:
            if voucher in claimed or voucher in seen:
                return f"Kostnad {i}: verifikation {voucher} är redan redovisad."
            seen.add(voucher)
    return None


# --- carrying out an accepted action ------------------------------------------------------------


def apply_after_decision(state: CaseState, command: AfterDecision | Withdraw | ReplyToCommunication,
                         now: datetime) -> str:
    """Carry out an accepted action after the decision; returns the receipt's message."""
    payments = state.payments
    reclaim = state.reclaim
    who = command.actor.id
    match command:
        case FilePaymentRequest(request=request):
            assert payments is not None
            number = len(payments.requests) + 1
            payments.requests.append(FiledRequest(number=number, filed_at=now, filed_by=who, request=request))
            payments.payee_bankgiro = request.payee_bankgiro
            save_document(state, f"payment-request-{number}", "payment_request",
                          f"Ansökan om utbetalning {number}", now, request.model_dump(mode="json"))
            return f"Ansökan om utbetalning {number} är mottagen ({format_kronor(request.requested)})."
        case ReviewPaymentRequest(request_number=number, costs=reviews):
            assert payments is not None
            filed = payments.request(number)
            assert filed is not None
            filed.reviews, filed.reviewed_by, filed.reviewed_at = list(reviews), who, now
            filed.approved_costs = approved_net(filed.request.costs, reviews)
            amount = payable(
                granted=payments.granted, support_rate=payments.support_rate,
                approved_costs=payments.approved_costs, ordered=payments.ordered,
                withheld_share=payments.withheld_share, requested=filed.request.requested,
            )
            filed.payable = amount
            if amount > 0:
                _order(state, number, PayoutKind.PAYMENT, amount, now)
            queue_letter(
                state, "payment_decision", now, request_number=str(number),
                period=f"{filed.request.period_start} – {filed.request.period_end}",
                claimed=format_kronor(claimed_net(filed.request.costs)),
                approved=format_kronor(filed.approved_costs), payable=format_kronor(amount),
                not_approved=_not_approved(filed.request.costs, reviews),
                paid_total=format_kronor(payments.ordered), granted=format_kronor(payments.granted),
                decided_by=f"handläggare {who}", decision_date=format_instant_sv(now),
            )
            aid = grant_state_aid(state, payment_request_key(number), now)
            return f"Ansökan om utbetalning {number} är prövad: {format_kronor(amount)} betalas ut.{aid}"
        case SubmitFinalReport(report=report):
            assert payments is not None
            payments.final_report = FiledFinalReport(filed_at=now, filed_by=who, report=report)
            if report.payee_bankgiro:
                payments.payee_bankgiro = report.payee_bankgiro
            save_document(state, "final-report", "final_report", "Slutrapport", now, report.model_dump(mode="json"))
            state.stage = transition(state.stage, Stage.FINAL_REPORT)
            return "Slutrapporten är mottagen och granskas."
        case ReviewFinalReport(costs=reviews, assessment=assessment):
            assert payments is not None and payments.final_report is not None
            aid = grant_state_aid(state, FINAL_REPORT, now)
            return _review_final_report(state, payments, payments.final_report, list(reviews), assessment, who,
                                        now) + aid
        case PrepareRevocation(revoked_amount=amount, reasons=reasons, material=material, reply_days=days):
            assert state.granted is not None
            days = days or state.call.deadlines.communication_reply_days
            deadline = end_of_day(stockholm_date(now) + timedelta(days=days))
            state.revocation = Revocation(prepared_by=who, prepared_at=now, amount=amount, reasons=reasons,
                                          material=material, hearing=Hearing(sent_at=now, deadline=deadline))
            after = state.granted - amount
            what = (f"helt: stödet om {format_kronor(state.granted)} skulle inte längre beviljas" if after == 0 else
                    f"delvis: beviljat belopp skulle sänkas från {format_kronor(state.granted)} till"
                    f" {format_kronor(after)}")
            owed = state.paid_out - after
            consequence = (
                f"Hittills har {format_kronor(state.paid_out)} betalats ut. Om beslutet fattas kan vi komma att"
                f" kräva tillbaka {format_kronor(owed)}, det som har betalats ut utöver det nya beloppet."
                if owed > 0 else
                f"Hittills har {format_kronor(state.paid_out)} betalats ut, vilket inte är mer än det nya beloppet;"
                " inget skulle behöva betalas tillbaka."
            )
            queue_letter(state, "revocation_communication", now, what=what, reasons=reasons,
                         material=material or "Inget ytterligare underlag.", consequence=consequence,
                         deadline=format_deadline_sv(deadline))
            save_document(state, next_effect_id(state, "revocation-proposal"), "revocation_proposal",
                          "Förslag till upphävande av beslut (kommunicerat)", now,
                          {"revoked_amount": str(amount), "reasons": reasons, "material": material})
            return (f"Upphävande om {format_kronor(amount)} är förberett och kommunicerat; "
                    f"svar senast {format_deadline_sv(deadline)}.")
        case Revoke():
            assert state.granted is not None and payments is not None
            revocation = state.revocation
            if revocation is not None and revocation.pending:
                amount, reasons = revocation.amount, revocation.reasons
                revocation.decided_by, revocation.decided_at = who, now
                by = f"beslutsfattare {who} efter föredragning av handläggare {revocation.prepared_by}"
            else:
                # Recorded before revocations were prepared and heard: the decision maker gave them here.
                assert command.revoked_amount is not None and command.reasons is not None
                amount, reasons, by = command.revoked_amount, command.reasons, f"beslutsfattare {who}"
            return _revoke(state, payments, amount, reasons, by, now)
        case Withdraw(reason=reason):
            state.withdrawal_reason = reason
            target = withdrawal_target(state.stage, paid_out=state.paid_out > 0)
            if target is Stage.RECLAIM:
                _open_reclaim(state, ReclaimBasis.WITHDRAWAL, state.paid_out, now,
                              "Sökanden har återkallat ansökan efter utbetalning.")
                return "Ansökan är återkallad; det utbetalda stödet ska betalas tillbaka."
            state.stage = transition(state.stage, target)
            state.outcome = Outcome.WITHDRAWN
            state.outbox.append(AdjustGrant(amount=Decimal(0)))
            queue_letter(state, "withdrawal_confirmed", now, withdrawn_at=format_instant_sv(now))
            close_case(state, now, "Ansökan återkallades innan något betalades ut.")
            return "Ansökan är återkallad."
        case ReplyToCommunication(text=text) if state.stage is not Stage.RECLAIM:
            assert state.revocation is not None
            state.revocation.hearing.reply, state.revocation.hearing.replied_at = text, now
            save_document(state, next_effect_id(state, "revocation-reply"), "reply",
                          "Yttrande över kommunicerat upphävande", now, {"text": text})
            return "Sökandens yttrande över det föreslagna upphävandet är mottaget."
        case ReplyToCommunication(text=text):
            assert reclaim is not None and reclaim.hearing is not None
            reclaim.hearing.reply, reclaim.hearing.replied_at = text, now
            save_document(state, "reclaim-reply", "reply", "Yttrande över kommunicerat återkrav", now, {"text": text})
            return "Sökandens yttrande över återkravet är mottaget."
        case PrepareReclaim(amount=amount, reasons=reasons, interest_from=interest_from, due_days=due_days):
            assert reclaim is not None
            days = due_days or state.call.follow_up.reclaim_due_days
            start = interest_from or stockholm_date(now)
            reclaim.prepared = PreparedReclaim(prepared_by=who, prepared_at=now, amount=amount, reasons=reasons,
                                               interest_from=start, due_days=days)
            deadline = end_of_day(stockholm_date(now) + timedelta(days=state.call.deadlines.communication_reply_days))
            reclaim.hearing = Hearing(sent_at=now, deadline=deadline)
            queue_letter(state, "reclaim_communication", now, amount=format_kronor(amount), reasons=reasons,
                         due_days=str(days), interest_from=str(start), deadline=format_deadline_sv(deadline))
            return (f"Återkrav om {format_kronor(amount)} är förberett och kommuniceras med sökanden; "
                    f"svar senast {format_deadline_sv(deadline)}.")
        case DecideReclaim():
            assert reclaim is not None and reclaim.prepared is not None
            return _decide_reclaim(state, reclaim, reclaim.prepared, who, now)
        case RegisterRepayment(amount=amount, paid_on=paid_on):
            assert reclaim is not None and reclaim.claim is not None
            claim = reclaim.claim
            claim.repayments.append(Repayment(paid_on=paid_on, amount=amount))
            balance, provisional = claim.provisional_balance(paid_on, _rates(reclaim))
            if balance.total_due == 0:
                reclaim.settled_at = now
                close_case(state, now, "Återkravet är återbetalt i sin helhet.")
            note = f" {provisional}" if provisional else ""
            return (f"Inbetalning {format_kronor(amount)} den {paid_on} registrerad; "
                    f"kvar {format_kronor(balance.total_due)}.{note}")
        case WriteOff(reasons=reasons):
            assert reclaim is not None and reclaim.claim is not None
            reclaim.claim.written_off_at, reclaim.claim.written_off_by = now, who
            reclaim.settled_at = now
            save_document(state, "write-off", "write_off", "Beslut om avskrivning av fordran", now,
                          {"reasons": reasons})
            close_case(state, now, f"Återstående fordran avskriven: {reasons}")
            return "Fordran är avskriven och ärendet avslutat."
    raise AssertionError(f"unhandled command {type(command).__name__}")  # every command is matched above


def _revocation_heard(state: CaseState) -> bool:
    """A revocation waits for the applicant's reply, which may still come."""
    revocation = state.revocation
    return revocation is not None and revocation.pending and not revocation.hearing.settled


def _revoke(state: CaseState, payments: Payments, amount: Decimal, reasons: str, by: str, now: datetime) -> str:
    assert state.granted is not None
    state.granted -= amount
    payments.granted = state.granted
    owed = max(Decimal(0), state.paid_out - state.granted)
    state.outbox.append(AdjustGrant(amount=state.granted))
    # A grant may be reduced more than once: each revocation is a document of its own.
    save_document(state, next_effect_id(state, "revocation"), "revocation", "Underlag för upphävande av beslut",
                  now, {"revoked_amount": str(amount), "reasons": reasons})
    if owed == 0 and state.granted > 0:
        # Nothing paid above the new grant: the project goes on with less, and no claim arises.
        queue_letter(state, "grant_reduced", now, revoked=format_kronor(amount),
                     granted=format_kronor(state.granted), paid=format_kronor(state.paid_out),
                     reasons=reasons, appeal=appeal_text(state.call.appeal.reclaim_decision_appealable),
                     decided_by=by, decision_date=format_instant_sv(now))
        return (f"Beslutet upphävs delvis; beviljat belopp sänks med {format_kronor(amount)} till "
                f"{format_kronor(state.granted)}, och inget ska betalas tillbaka.")
    # "Upphävs till 630 000 kr" read as a reduced grant when nothing was left of it.
    what = ("Beslutet upphävs helt" if state.granted == 0 else
            f"Beslutet upphävs delvis; beviljat belopp sänks till {format_kronor(state.granted)}")
    _open_reclaim(state, ReclaimBasis.REVOCATION, owed, now, f"{what}: {reasons}", revoked=amount)
    return f"{what}. Återkrav om {format_kronor(owed)} föreslås."


def _not_approved(costs: list[CostClaim], reviews: list[CostReview] | tuple[CostReview, ...]) -> str:
    lines = [
        f"- {c.description}: {format_kronor(c.amount - r.approved)} – {r.reason}"
        for c, r in zip(costs, reviews, strict=True) if r.approved < c.amount
    ]
    return "\n".join(lines) or "Alla redovisade kostnader har godkänts."


def _review_final_report(state: CaseState, payments: Payments, filed: FiledFinalReport, reviews: list[CostReview],
                         assessment: str, who: str, now: datetime) -> str:
    filed.reviews, filed.reviewed_by, filed.reviewed_at, filed.assessment = reviews, who, now, assessment
    granted = state.granted if state.granted is not None else payments.granted
    final = final_grant(granted, payments.support_rate, payments.approved_costs)
    filed.final_grant = final
    if final < granted:
        state.outbox.append(AdjustGrant(amount=final))
    remainder = final - payments.ordered
    if remainder > 0:
        outcome = f"Återstående {format_kronor(remainder)} betalas ut."
    elif remainder < 0:
        outcome = (f"Mer än det slutliga stödet har betalats ut; {format_kronor(-remainder)} kan komma att"
                   " krävas tillbaka.")
    else:
        outcome = "Hela det slutliga stödet är redan godkänt för utbetalning."
    queue_letter(
        state, "final_report_reviewed", now, assessment=assessment,
        approved=format_kronor(payments.approved_costs), support_rate=format_share(payments.support_rate),
        final_grant=format_kronor(final), granted=format_kronor(granted), paid=format_kronor(payments.ordered),
        outcome=outcome, decided_by=f"handläggare {who}", decision_date=format_instant_sv(now),
    )
    if remainder > 0:
        _order(state, len(payments.requests) + 1, PayoutKind.FINAL, remainder, now)
    elif remainder < 0:
        _open_reclaim(state, ReclaimBasis.OVERPAYMENT, -remainder, now,
                      f"Slutligt stöd {format_kronor(final)}, godkänt för utbetalning"
                      f" {format_kronor(payments.ordered)}.")
    else:
        close_case(state, now, f"Slutligt stöd {format_kronor(final)} är godkänt för utbetalning.")
    return f"Slutrapporten är granskad: slutligt stöd {format_kronor(final)}. {outcome}"


def _open_reclaim(state: CaseState, basis: ReclaimBasis, owed: Decimal, now: datetime, note: str,
                  revoked: Decimal | None = None) -> None:
    state.reclaim = Reclaim(basis=basis, opened_at=now, suggested=owed, note=note, revoked=revoked)
    state.stage = transition(state.stage, Stage.RECLAIM)
    note_event(state, now, "system", "system", "reclaim_opened",
               f"Återkrav inleds: {BASIS_SV[basis]}. Föreslaget belopp {format_kronor(owed)}.")


def _decide_reclaim(state: CaseState, reclaim: Reclaim, prepared: PreparedReclaim, who: str, now: datetime) -> str:
    terms = state.call.follow_up
    due_date = stockholm_date(now) + timedelta(days=prepared.due_days)
    reclaim.claim = Claim(
        principal=prepared.amount, decided_by=who, decided_at=now, interest_from=min(prepared.interest_from, due_date),
        due_date=due_date, margin_before_due=terms.interest_margin_before_due,
        margin_after_due=terms.interest_margin_after_due,
    )
    queue_letter(state, "reclaim_decision", now, amount=format_kronor(prepared.amount), reasons=prepared.reasons,
                 due_date=str(due_date), interest_from=str(prepared.interest_from),
                 appeal=appeal_text(state.call.appeal.reclaim_decision_appealable),
                 decided_by=f"beslutsfattare {who} efter föredragning av handläggare {prepared.prepared_by}",
                 decision_date=format_instant_sv(now))
    save_document(state, "reclaim-decision", "reclaim_decision", "Beslut om återkrav", now,
                  reclaim.claim.model_dump(mode="json") | {"reasons": prepared.reasons})
    # What the applicant keeps is what remains of the call's budget for this case.
    state.outbox.append(AdjustGrant(amount=max(Decimal(0), state.paid_out - prepared.amount)))
    if prepared.amount == 0:
        reclaim.settled_at = now
        close_case(state, now, "Beslutet är upphävt; inget ska betalas tillbaka.")
        return "Beslut fattat: inget återkrav. Ärendet avslutas."
    return f"Beslut om återkrav fattat: {format_kronor(prepared.amount)} ska betalas senast {due_date}."


def _rates(reclaim: Reclaim) -> ReferenceRates:
    # The case workflow reads the published rates into the reclaim (a recorded local activity)
    # before any action or timer that computes interest, so a replay computes the same figures.
    if reclaim.rates is None:
        raise ValueError("the reference rates have not been read into the reclaim")
    return reclaim.rates


# --- time passing ---------------------------------------------------------------------------


def deadline_passed_after_decision(state: CaseState, now: datetime) -> None:
    """Reminders of the final report, a report that never came, a hearing or a claim past due."""
    payments = state.payments
    if state.stage is Stage.PAYMENTS and payments is not None and payments.final_report is None:
        for reminder in payments.reminders(state.call):
            if reminder.at <= now and reminder.key not in payments.reminders_sent:
                payments.reminders_sent.append(reminder.key)
                before = reminder.key.startswith("before")
                consequence = (
                    "Om slutrapporten inte kommer in kan stödet komma att krävas tillbaka." if before else
                    "Slutrapporten har inte kommit in. Om den inte kommer in inom kort kan vi besluta att det"
                    " utbetalda stödet ska betalas tillbaka."
                )
                queue_letter(state, "final_report_reminder", now, due=str(payments.report_due),
                             consequence=consequence)
                note_event(state, now, "system", "system", "final_report_reminder",
                           f"Påminnelse om slutrapport skickad ({reminder.key}).")
        if now >= payments.missing_report_at(state.call):
            _open_reclaim(state, ReclaimBasis.MISSING_REPORT, payments.ordered, now,
                          f"Slutrapporten skulle ha kommit in senast {payments.report_due}.")
    revocation = state.revocation
    if (state.stage in (Stage.PAYMENTS, Stage.FINAL_REPORT) and revocation is not None and revocation.pending
            and not revocation.hearing.settled and now >= revocation.hearing.deadline):
        revocation.hearing.expired = True
        note_event(state, now, "system", "system", "communication_expired",
                   "Svarstiden för kommunicerat upphävande har gått ut utan yttrande. Beslutsfattaren kan pröva"
                   " upphävandet.")
    reclaim = state.reclaim
    if state.stage is Stage.RECLAIM and reclaim is not None:
        hearing = reclaim.hearing
        if hearing is not None and not hearing.settled and now >= hearing.deadline:
            hearing.expired = True
            note_event(state, now, "system", "system", "communication_expired",
                       "Svarstiden för kommunicerat återkrav har gått ut utan yttrande.")
        claim = reclaim.claim
        if claim is not None and reclaim.settled_at is None and claim.escalated_at is None and now >= claim.due:
            claim.escalated_at = now
            overdue, provisional = claim.provisional_balance(stockholm_date(now), _rates(reclaim))
            balance = format_kronor(overdue.total_due) + (f" ({provisional})" if provisional else "")
            queue_letter(state, "claim_overdue", now, due_date=str(claim.due_date), balance=balance)
            note_event(state, now, "system", "system", "claim_overdue",
                       f"Återkravet är förfallet och obetalt ({balance}); ärendet eskaleras.")


__all__ = ["AfterDecision", "apply_after_decision", "begin_payments", "deadline_passed_after_decision",
           "payout_done", "refusal_after_decision"]
