"""One application, from receipt to a closed and archived case, as one durable workflow whose id is the case number.

People act on the case through updates. Each update's validator asks the domain whether the
action is allowed (a refused action writes nothing to history); its handler applies it and
answers with a receipt at once. What the action causes outside the case (register entries,
letters, documents, news for the call's ranking) waits in the case's outbox, which the main
loop below carries out through activities, each idempotent: the register entries together in
one write, the rest in order.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeKey
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.archive import Archive, ArchiveRequest
    from activities.budget import AdjustRequest, BudgetLedger, GrantRequest, ReleaseRequest
    from activities.checks import CheckRequest, check_application
    from activities.letters import LetterRequest, Letters
    from activities.payments import PaymentLedger, PayoutOrder
    from activities.rates import read_reference_rates
    from activities.register import CaseSnapshot, Register, RegisterWrite
    from activities.state_aid import ExchangeRateReader, RatesRequest, RecordRequest, StateAidRecord, TotalsRequest
    from domain.actions import Command, apply, deadline_passed, refusal
    from domain.after_decision import (
        DecideReclaim,
        FilePaymentRequest,
        PrepareReclaim,
        PrepareRevocation,
        RegisterRepayment,
        ReviewFinalReport,
        ReviewPaymentRequest,
        Revoke,
        SubmitFinalReport,
        WriteOff,
        payout_done,
    )
    from domain.case import (
        STEP_LABELS_SV,
        AcceptForReview,
        AdjustGrant,
        ArchiveEndedRuns,
        Assign,
        CaseState,
        Communicate,
        Decide,
        DecisionKind,
        DeclareNoConflict,
        Effect,
        FundingProposal,
        Pay,
        PrepareDecision,
        Receipt,
        RecordEvent,
        RecordSecrecyReview,
        RecordStateAid,
        ReplyToCommunication,
        RequestCompletion,
        RequestDecision,
        Resume,
        RunChecks,
        SaveDocument,
        ScoreApplication,
        SendLetter,
        Stall,
        SubmitCompletion,
        TellCall,
        Withdraw,
        checks_done,
        note_event,
    )
    from domain.company_aid import reported_companies
    from domain.lifecycle import STAGE_LABELS_SV, Stage
    from domain.money import format_kronor
    from domain.records import RefusePublicDocument, ReleasePublicDocument, RequestPublicDocument
    from domain.state_aid import check_companies, queries
    from workflows import search_attributes as sa
    from workflows.archive import ARCHIVE_TIMEOUT, ArchiveWorkflow, archive_workflow_id
    from workflows.call import CallWorkflow, call_workflow_id
    from workflows.messages import BudgetRemaining, CaseInput, CaseNews
    from workflows.policies import ACTIVITY_TIMEOUT, LOCAL_TIMEOUT, RETRY, failure_type

ANSWER_FIRST = timedelta(milliseconds=1)
# Decision makers declare no conflict of interest before they decide (decision 21).
DECISION_MAKERS_DECLARE = "decision-makers-declare"
# A reviewed report's companies are checked against their de minimis ceilings (decision 33).
STATE_AID_CHECK = "state-aid-check"
# What makes a letter fail for good (activities.letters): the officer gets it to the applicant another way.
_LETTER_FAILURES = frozenset({"LetterTemplateError", "LetterUndeliverable"})
# Each kind of effect as the step it is (domain.case.STEP_LABELS_SV), when one is stopped.
_STEPS: dict[type, str] = {SendLetter: "letter", RunChecks: "checks", TellCall: "call", Pay: "pay",
                           AdjustGrant: "adjust_grant", ArchiveEndedRuns: "archive", RecordStateAid: "state_aid"}


@workflow.defn
class CaseWorkflow:
    @workflow.init
    def __init__(self, case: CaseInput) -> None:
        if case.resume is not None:
            self.state = case.resume
            self.state.outbox.append(ArchiveEndedRuns())
        else:
            assert case.start is not None
            self.state = case.start.new_case()
        # Decisions that grant money await the budget ledger; one at a time.
        self.decision_lock = asyncio.Lock()
        # The search attributes last sent: a new case that the intake started with them has them already.
        self.published: dict[str, object] | None = None
        started_with = workflow.info().typed_search_attributes
        if case.start is not None and started_with.get(sa.CASE_STAGE) is not None:
            self.published = {key.name: started_with.get(key) for key in sa.ALL}
        self.registered: CaseSnapshot | None = None  # where the register last heard the case stands
        if case.start is not None and case.start.opened is not None:
            # The intake has written this opening to the register (docs/decisions/0016-the-intake-opens-the-case.md):
            # what is left of it is e-mailing the receipt, where letters go by e-mail.
            by_email = set(case.start.opened.by_email)
            self.state.outbox = [e for e in self.state.outbox if isinstance(e, SendLetter) and e.letter_id in by_email]
            self.registered = CaseSnapshot.of(self.state)
        self.answer_first = False
        # The first task's work, taken here from the input alone: an update can run before `run`
        # does (see there), and the first task's commands must not depend on whether one did.
        self.publish_first = self.published is None or bool(self.state.outbox)
        self.opening_attributes = sa.of_case(self.state)
        self.opened = False  # until the first task has carried out what the case opened with
        self.held: list[Effect] = []  # what updates queued before then: it waits for the opening

    @workflow.run
    async def run(self, case: CaseInput) -> CaseState:
        # An update that comes with the first task runs before this method on the live worker, and
        # may run after it on replay (temporalio/sdk-python#1591); a first task that ends with no
        # command (its local activities outlived the task's heartbeat) has the same effect. So the
        # first task does what the input says, whatever an early update changed or queued: that
        # follows in the loop, after the update's answer, on the live worker and on replay alike
        # (docs/decisions/0010-first-task-command.md, 0017).
        # Its first command comes before any local activity. A case that the intake started with
        # its attributes, and that has nothing left to do, has no command to give and nothing to wait on.
        # What an update queued before the case had opened is held (`_act`) until this is done.
        if self.publish_first:
            self._publish(self.opening_attributes, at_least_the_stage=True)
        workflow.set_current_details(self._details())
        await self._carry_out_outbox(holding=True)
        self.opened, self.held = True, []
        while True:
            if self.answer_first:
                # An update's answer leaves with the workflow task, and the local activities of
                # the outbox would hold that task open: end it with a short timer so that the
                # officer has the receipt before the register is written.
                self.answer_first = False
                await workflow.sleep(ANSWER_FIRST, summary="svara handläggaren innan diariet skrivs")
            await self._carry_out_outbox()
            reclaim = self.state.reclaim
            if reclaim is not None and reclaim.claim is not None and reclaim.rates is None:
                await self._read_rates()  # so that the claim's balance can be shown at once
            self._publish()
            if self.state.stage is Stage.CLOSED:
                # Every update has had its answer and its effects are done: the case is over.
                await workflow.wait_condition(lambda: workflow.all_handlers_finished() and not self.state.outbox)
                if not self.state.outbox:
                    await self._archive_when_closed()
                    return self.state
            if self._history_is_long(case):
                # Receipts, deadlines and the outbox are all in the state, so nothing is lost.
                await workflow.wait_condition(workflow.all_handlers_finished)
                if not self.state.outbox:
                    workflow.continue_as_new(CaseInput(resume=self.state,
                                                       continue_after_events=case.continue_after_events))
            deadline = self.state.next_deadline
            timeout = max(deadline - workflow.now(), timedelta(0)) if deadline else None
            try:
                await workflow.wait_condition(
                    lambda: bool(self.state.outbox), timeout=timeout, timeout_summary="nästa frist i ärendet"
                )
            except TimeoutError:
                if self.state.stage is Stage.RECLAIM:
                    await self._read_rates()  # a claim falling due is escalated with its balance today
                deadline_passed(self.state, workflow.now())

    def _history_is_long(self, case: CaseInput) -> bool:
        info = workflow.info()
        return info.is_continue_as_new_suggested() or info.get_current_history_length() >= case.continue_after_events

    async def _archive_when_closed(self) -> None:
        # The archive copies this workflow's complete history, so it must outlive it: it waits,
        # as a child that is not closed with its parent, until this run has completed.
        await workflow.start_child_workflow(
            ArchiveWorkflow.run, ArchiveRequest(case_number=self.state.case_number),
            id=archive_workflow_id(self.state.case_number),
            parent_close_policy=ParentClosePolicy.ABANDON,
            static_summary=f"Arkivering av ärende {self.state.case_number}",
        )

    # --- what people do ----------------------------------------------------------------

    @workflow.query
    def current_state(self) -> CaseState:
        return self.state

    @workflow.update
    def request_completion(self, command: RequestCompletion) -> Receipt:
        return self._act(command)

    @request_completion.validator
    def _check_request_completion(self, command: RequestCompletion) -> None:
        self._refuse_if_not_allowed(command)

    @workflow.update
    def submit_completion(self, command: SubmitCompletion) -> Receipt:
        return self._act(command)

    @submit_completion.validator
    def _check_submit_completion(self, command: SubmitCompletion) -> None:
        self._refuse_if_not_allowed(command)

    @workflow.update
    def accept_for_review(self, command: AcceptForReview) -> Receipt:
        return self._act(command)

    @accept_for_review.validator
    def _check_accept_for_review(self, command: AcceptForReview) -> None:
        self._refuse_if_not_allowed(command)

    @workflow.update
    def record_secrecy_review(self, command: RecordSecrecyReview) -> Receipt:
        return self._act(command)

    @record_secrecy_review.validator
    def _check_record_secrecy_review(self, command: RecordSecrecyReview) -> None:
        self._refuse_if_not_allowed(command)

    @workflow.update
    def declare_no_conflict(self, command: DeclareNoConflict) -> Receipt:
        return self._act(command)

    @declare_no_conflict.validator
    def _check_declare_no_conflict(self, command: DeclareNoConflict) -> None:
        self._refuse_if_not_allowed(command)

    @workflow.update
    def score(self, command: ScoreApplication) -> Receipt:
        return self._act(command)

    @score.validator
    def _check_score(self, command: ScoreApplication) -> None:
        self._refuse_if_not_allowed(command)

    @workflow.update
    def prepare_decision(self, command: PrepareDecision) -> Receipt:
        return self._act(command)

    @prepare_decision.validator
    def _check_prepare_decision(self, command: PrepareDecision) -> None:
        if self.decision_lock.locked() and command.action_id not in self.state.receipts:
            # The decision being taken rests on the current proposal and its budget grant.
            raise ApplicationError("Ett beslut håller på att fattas i ärendet; försök igen om en stund.",
                                   type="Refused")
        self._refuse_if_not_allowed(command)

    @workflow.update
    def communicate(self, command: Communicate) -> Receipt:
        return self._act(command)

    @communicate.validator
    def _check_communicate(self, command: Communicate) -> None:
        self._refuse_if_not_allowed(command)

    @workflow.update
    def reply_to_communication(self, command: ReplyToCommunication) -> Receipt:
        return self._act(command)

    @reply_to_communication.validator
    def _check_reply_to_communication(self, command: ReplyToCommunication) -> None:
        self._refuse_if_not_allowed(command)

    @workflow.update
    def withdraw(self, command: Withdraw) -> Receipt:
        return self._act(command)

    @withdraw.validator
    def _check_withdraw(self, command: Withdraw) -> None:
        self._refuse_if_not_allowed(command)

    @workflow.update
    def request_decision(self, command: RequestDecision) -> Receipt:
        return self._act(command)

    @request_decision.validator
    def _check_request_decision(self, command: RequestDecision) -> None:
        self._refuse_if_not_allowed(command)

    @workflow.update
    async def decide(self, command: Decide) -> Receipt:
        if (earlier := self.state.receipts.get(command.action_id)) is not None:
            return earlier
        prepared = self.state.prepared
        if prepared is None or prepared.kind is not DecisionKind.APPROVE or prepared.amount is None:
            return self._act(command)
        # The grant awaits the ledger; while it does, another decision or a withdrawal may
        # arrive. The lock keeps decisions in turn, and the case is checked again after the
        # await because a withdrawal does not take the lock.
        # The case is asked again below, in the handler, which also runs on replay: a decision that a
        # history recorded before decision makers declared (decision 21) must pass there as it did.
        declarations = workflow.patched(DECISION_MAKERS_DECLARE)
        async with self.decision_lock:
            self._refuse_if_not_allowed(command, declarations=declarations)
            grant = GrantRequest(
                call_id=self.state.call.id, call_budget=self.state.call.funding.budget,
                case_number=self.state.case_number, amount=prepared.amount,
            )
            result = await workflow.execute_activity_method(
                BudgetLedger.grant, grant, start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=RETRY,
                summary="reservera beviljat belopp i utlysningens budget",
            )
            if not result.granted:
                self.state.budget_remaining = result.remaining
                raise ApplicationError(
                    f"Utlysningens budget räcker inte: {format_kronor(result.remaining)} återstår.", type="OverBudget"
                )
            reason = refusal(self.state, command, workflow.now(), declarations=declarations)
            if reason is None and self.state.prepared != prepared:
                reason = "Beslutsförslaget ändrades medan beslutet fattades; pröva det nya förslaget."
            if reason is not None:
                await workflow.execute_activity_method(
                    BudgetLedger.release,
                    ReleaseRequest(call_id=self.state.call.id, case_number=self.state.case_number),
                    start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=RETRY,
                    summary="släpp reserverat belopp i utlysningens budget",
                )
                raise ApplicationError(reason, type="Refused")
            return self._act(command)

    @decide.validator
    def _check_decide(self, command: Decide) -> None:
        self._refuse_if_not_allowed(command)

    @workflow.update
    def file_payment_request(self, command: FilePaymentRequest) -> Receipt:
        return self._act(command)

    @file_payment_request.validator
    def _check_file_payment_request(self, command: FilePaymentRequest) -> None:
        self._refuse_if_not_allowed(command)

    @workflow.update
    async def review_payment_request(self, command: ReviewPaymentRequest) -> Receipt:
        await self._check_state_aid(command, command.request_number)
        return self._act(command)

    @review_payment_request.validator
    def _check_review_payment_request(self, command: ReviewPaymentRequest) -> None:
        self._refuse_if_not_allowed(command)

    @workflow.update
    def submit_final_report(self, command: SubmitFinalReport) -> Receipt:
        return self._act(command)

    @submit_final_report.validator
    def _check_submit_final_report(self, command: SubmitFinalReport) -> None:
        self._refuse_if_not_allowed(command)

    @workflow.update
    async def review_final_report(self, command: ReviewFinalReport) -> Receipt:
        await self._check_state_aid(command, None)
        return self._act(command)

    @review_final_report.validator
    def _check_review_final_report(self, command: ReviewFinalReport) -> None:
        self._refuse_if_not_allowed(command)

    @workflow.update
    def prepare_revocation(self, command: PrepareRevocation) -> Receipt:
        return self._act(command)

    @prepare_revocation.validator
    def _check_prepare_revocation(self, command: PrepareRevocation) -> None:
        self._refuse_if_not_allowed(command)

    # The decision on a prepared revocation; the name is the one cases recorded before it was
    # prepared used, so that their histories replay.
    @workflow.update
    def revoke(self, command: Revoke) -> Receipt:
        return self._act(command)

    @revoke.validator
    def _check_revoke(self, command: Revoke) -> None:
        self._refuse_if_not_allowed(command)

    @workflow.update
    def prepare_reclaim(self, command: PrepareReclaim) -> Receipt:
        return self._act(command)

    @prepare_reclaim.validator
    def _check_prepare_reclaim(self, command: PrepareReclaim) -> None:
        self._refuse_if_not_allowed(command)

    @workflow.update
    def decide_reclaim(self, command: DecideReclaim) -> Receipt:
        return self._act(command)

    @decide_reclaim.validator
    def _check_decide_reclaim(self, command: DecideReclaim) -> None:
        self._refuse_if_not_allowed(command)

    @workflow.update
    async def register_repayment(self, command: RegisterRepayment) -> Receipt:
        if (earlier := self.state.receipts.get(command.action_id)) is not None:
            return earlier
        # The balance is computed with the rates published by now. Reading them is this handler's
        # one await; another action may arrive during it, so the case is asked again after it.
        await self._read_rates()
        self._refuse_if_not_allowed(command)
        return self._act(command)

    @register_repayment.validator
    def _check_register_repayment(self, command: RegisterRepayment) -> None:
        self._refuse_if_not_allowed(command)

    @workflow.update
    def write_off(self, command: WriteOff) -> Receipt:
        return self._act(command)

    @write_off.validator
    def _check_write_off(self, command: WriteOff) -> None:
        self._refuse_if_not_allowed(command)

    @workflow.update
    def resume(self, command: Resume) -> Receipt:
        return self._act(command)

    @resume.validator
    def _check_resume(self, command: Resume) -> None:
        self._refuse_if_not_allowed(command)

    @workflow.update
    def assign(self, command: Assign) -> Receipt:
        return self._act(command)

    @assign.validator
    def _check_assign(self, command: Assign) -> None:
        self._refuse_if_not_allowed(command)

    # Requests for public documents (domain.records): anyone may ask, in any stage the case is open.
    @workflow.update
    def request_public_document(self, command: RequestPublicDocument) -> Receipt:
        return self._act(command)

    @request_public_document.validator
    def _check_request_public_document(self, command: RequestPublicDocument) -> None:
        self._refuse_if_not_allowed(command)

    @workflow.update
    def release_public_document(self, command: ReleasePublicDocument) -> Receipt:
        return self._act(command)

    @release_public_document.validator
    def _check_release_public_document(self, command: ReleasePublicDocument) -> None:
        self._refuse_if_not_allowed(command)

    @workflow.update
    def refuse_public_document(self, command: RefusePublicDocument) -> Receipt:
        return self._act(command)

    @refuse_public_document.validator
    def _check_refuse_public_document(self, command: RefusePublicDocument) -> None:
        self._refuse_if_not_allowed(command)

    @workflow.signal
    def funding_proposed(self, proposal: FundingProposal) -> None:
        self.state.funding = proposal

    @workflow.signal
    def budget_remaining(self, news: BudgetRemaining) -> None:
        self.state.budget_remaining = news.remaining

    async def _check_state_aid(self, command: ReviewPaymentRequest | ReviewFinalReport, number: int | None) -> None:
        """The reviewed report's companies against their de minimis ceilings, before the review is acted on.

        A company over its ceiling is a finding the officer resolves in the review (`state_aid`): until
        then the review is refused with the figures, and the case keeps the check. The rates and the
        record's totals are read by activities, so a replay checks with the figures the case had, whatever
        rates are installed by then. A report that names no companies (every report recorded before this
        check) does nothing here (docs/decisions/0033-state-aid-to-participating-companies.md).
        """
        report, companies = reported_companies(self.state, number)
        if command.action_id in self.state.receipts or not companies or not workflow.patched(STATE_AID_CHECK):
            return
        ceilings = self.state.call.state_aid.ceilings
        rates = await workflow.execute_local_activity_method(  # "read_exchange_rates", as before
            ExchangeRateReader.read, RatesRequest(days=[c.granted_on for c in companies]),
            start_to_close_timeout=LOCAL_TIMEOUT, retry_policy=RETRY, summary="läs in eurokurser för stödets dagar",
        )
        totals = await workflow.execute_local_activity_method(
            StateAidRecord.totals, TotalsRequest(queries=queries(ceilings, companies)),
            start_to_close_timeout=LOCAL_TIMEOUT, retry_policy=RETRY,
            summary="hämta företagens stöd av mindre betydelse i alla ärenden",
        )
        checked = check_companies(report, ceilings, companies, rates.rates, totals.totals, command.state_aid,
                                  workflow.now())
        if isinstance(checked, str):
            raise ApplicationError(checked, type="Refused")
        self.state.state_aid.checks[report] = checked
        self._refuse_if_not_allowed(command)  # a company over its ceiling, unresolved: refused with the finding

    def _refuse_if_not_allowed(self, command: Command, *, declarations: bool = True) -> None:
        if (reason := refusal(self.state, command, workflow.now(), declarations=declarations)) is not None:
            # Raised in a validator: the update is refused and nothing reaches the history.
            raise ApplicationError(reason, type="Refused")

    def _act(self, command: Command) -> Receipt:
        before = None if self.opened else list(self.state.outbox)
        receipt = apply(self.state, command, workflow.now())
        if before is not None:
            self.held += [e for e in self.state.outbox if not any(e is b for b in before)]
        self.answer_first = bool(self.state.outbox)
        return receipt

    # --- carrying out the outbox ----------------------------------------------------------

    async def _carry_out_outbox(self, *, holding: bool = False) -> None:
        """The outbox; `holding`, all of it but what updates queued before the case had opened."""
        def mine(e: Effect) -> bool:
            return not holding or not any(e is h for h in self.held)

        while True:
            effect = next((e for e in self.state.outbox
                           if mine(e) and not isinstance(e, RecordEvent | SaveDocument)), None)
            await self._stopping_for_good("register", lambda: self._write_register(mine if holding else None))
            if effect is None:
                if not any(mine(e) for e in self.state.outbox):
                    return
                continue  # queued by an action while the register was written: the next write takes it
            await self._stopping_for_good(_STEPS[type(effect)], functools.partial(self._carry_out, effect))
            # By identity: two effects may be equal (two check runs), and only this one is done.
            del self.state.outbox[next(i for i, e in enumerate(self.state.outbox) if e is effect)]

    async def _stopping_for_good(self, step: str, carry_out: Callable[[], Awaitable[None]]) -> None:
        """Carry out one step of the outbox; if it fails for good, stop it until operations resume it.

        Activities retry whatever a retry can mend, so an error that reaches the case is one no retry
        can (the database refusing a write): failing the case or dropping the effect would lose it,
        and retrying it for ever would hide it. So the step stops where operations look (the case's
        state, its details and the CaseStalled search attribute), its effect stays in the outbox,
        and the `resume` action carries it out again once the cause is fixed.
        """
        while True:
            try:
                return await carry_out()
            except (ActivityError, ApplicationError) as error:
                kind = failure_type(error)
                self.state.stalled = Stall(step=step, error=kind, at=workflow.now())
                workflow.logger.error("case step stopped for good", extra={
                    "step": step, "cause": kind, "stage": self.state.stage.value})
                self._publish()
                await workflow.wait_condition(lambda: self.state.stalled is None)
                self._publish()

    async def _carry_out(self, effect: Effect) -> None:
        match effect:
            case SendLetter():
                await self._send_letter(effect)
            case RunChecks():
                verdict = await workflow.execute_local_activity(
                    check_application,
                    CheckRequest(call=self.state.call, application=self.state.application,
                                 received_at=self.state.received_at),
                    start_to_close_timeout=LOCAL_TIMEOUT, retry_policy=RETRY,
                    summary="kontrollera ansökan mot utlysningens regler",
                )
                checks_done(self.state, verdict, workflow.now())
            case TellCall():
                await self._tell_call(effect)
            case Pay():
                await self._pay(effect)
            case AdjustGrant():
                await self._adjust_grant(effect)
            case RecordStateAid():
                await workflow.execute_local_activity_method(
                    StateAidRecord.record,
                    RecordRequest(case_number=self.state.case_number, call_id=self.state.call.id, aid=effect.aid),
                    start_to_close_timeout=LOCAL_TIMEOUT, retry_policy=RETRY,
                    summary="registrera stöd av mindre betydelse",
                )
            case ArchiveEndedRuns():
                await workflow.execute_activity_method(
                    Archive.archive_case, ArchiveRequest(case_number=self.state.case_number, so_far=True),
                    start_to_close_timeout=ARCHIVE_TIMEOUT, retry_policy=RETRY,
                    summary="arkivera avslutade körningar av ärendet",
                )

    async def _write_register(self, mine: Callable[[Effect], bool] | None = None) -> None:
        """Every register entry waiting in the outbox, and where the case stands, in one write.

        Entries go ahead of the letters and payments queued before them: each is keyed by its own
        id and says what happened in the case, which has happened already; only the effects that
        act on the world keep their order. Given `mine`, only those entries, and where the case
        stands only with them or if this run has not written it yet.
        """
        s = self.state
        entries = [e for e in s.outbox if isinstance(e, RecordEvent | SaveDocument) and (mine is None or mine(e))]
        snapshot = CaseSnapshot.of(s)
        if not entries and (snapshot == self.registered or (mine is not None and self.registered is not None)):
            return
        batch = RegisterWrite.of(s, entries, snapshot if snapshot != self.registered else None)
        kinds = ", ".join(e.event if isinstance(e, RecordEvent) else e.document for e in entries)
        summary = f"diarieför: {kinds}" if kinds else "uppdatera diariet"
        # A register write is one short statement: run it in the worker, inside the workflow
        # task, instead of a round trip through the server's task queue.
        await workflow.execute_local_activity_method(
            Register.write, batch, start_to_close_timeout=LOCAL_TIMEOUT, retry_policy=RETRY, summary=summary,
        )
        # Handlers may have queued more while the write was awaited: take out only what was written.
        written = {id(e) for e in entries}
        s.outbox = [e for e in s.outbox if id(e) not in written]
        self.registered = snapshot

    async def _read_rates(self) -> None:
        assert self.state.reclaim is not None
        self.state.reclaim.rates = await workflow.execute_local_activity(
            read_reference_rates, start_to_close_timeout=LOCAL_TIMEOUT, retry_policy=RETRY,
            summary="läs in Riksbankens referensräntor",
        )

    async def _send_letter(self, effect: SendLetter) -> None:
        try:
            # Local: writing the letter and handing it to the mail server takes moments.
            # The timeout is above the SMTP client's own, so that a slow server is retried, not
            # abandoned mid-send.
            await workflow.execute_local_activity_method(
                Letters.send_letter, LetterRequest.of(self.state, effect),
                start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=RETRY, summary=f"brev: {effect.letter}",
            )
        except (ActivityError, ApplicationError) as error:
            # A refused address (or a letter that cannot be written) is the officer's to put
            # right; the case must go on. Anything retryable never gets here: it is retried.
            # (A local activity's failure arrives as the activity's own error, not wrapped.)
            cause = failure_type(error)
            if cause not in _LETTER_FAILURES:
                raise  # not the letter's own fault (the database refused it): the step stops, the letter is kept
            workflow.logger.warning("letter not delivered", extra={
                "letter_id": effect.letter_id, "cause": cause, "stage": self.state.stage.value})
            note_event(self.state, workflow.now(), "system", "system", "letter_undelivered",
                       f"Brevet {effect.letter_id} ({effect.letter}) kunde inte skickas med e-post ({cause}); "
                       "handläggaren behöver se till att det når sökanden på annat sätt.")

    async def _pay(self, effect: Pay) -> None:
        # The ledger's key is the case and request number: a retry after a crash, or this
        # effect carried out again after a replay, finds the first payout and pays nothing more.
        applicant = self.state.application.applicant
        receipt = await workflow.execute_activity_method(
            PaymentLedger.pay,
            PayoutOrder(case_number=self.state.case_number, request_number=effect.number, kind=effect.payout.value,
                        amount=effect.amount, payee_name=applicant.name, payee_bankgiro=effect.bankgiro,
                        reference=self.state.case_number),
            start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=RETRY,
            summary=f"betala ut {effect.amount} kr ({effect.payout.value} {effect.number})",
        )
        payout_done(self.state, effect.number, receipt.paid_at, workflow.now())

    async def _adjust_grant(self, effect: AdjustGrant) -> None:
        await workflow.execute_activity_method(
            BudgetLedger.adjust,
            AdjustRequest(call_id=self.state.call.id, case_number=self.state.case_number, amount=effect.amount),
            start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=RETRY,
            summary=f"ge tillbaka till utlysningens budget: ärendet behåller {effect.amount} kr",
        )
        await self._signal_call("left", granted=effect.amount)

    async def _tell_call(self, effect: TellCall) -> None:
        await self._signal_call(effect.news, score=effect.score,
                                granted=self.state.granted if effect.news == "left" else None)

    async def _signal_call(self, news: str, *, score: int | None = None, granted: Decimal | None = None) -> None:
        handle = workflow.get_external_workflow_handle(call_workflow_id(self.state.call.id))
        signal = {"assessed": CallWorkflow.case_assessed, "left": CallWorkflow.case_left}[news]
        try:
            await handle.signal(signal, CaseNews(
                case_number=self.state.case_number, requested=self.state.application.requested_amount,
                received_at=self.state.received_at, score=score, granted=granted,
            ))
        except ApplicationError:
            # Ranking is advice to the officer; a call without its workflow must not stop a case.
            workflow.logger.warning("call workflow not reachable",
                                    extra={"call_id": self.state.call.id, "stage": self.state.stage.value})

    def _publish(self, values: list[tuple[SearchAttributeKey[Any], object]] | None = None, *,
                 at_least_the_stage: bool = False) -> None:
        """Tell Temporal UI where the case stands: every attribute that has a value the first time,
        then what changed.

        Only these, because each attribute sent is encoded again on every replay of the case. A run
        starts with no attributes but those it started or continued with: the intake's, or the
        ones last sent. `values` are the case's as it stands, unless given.
        """
        values = values or sa.of_case(self.state)
        last = self.published
        changed = [(key, value) for key, value in values
                   if (value is not None if last is None else last[key.name] != value)]
        if not changed and at_least_the_stage:
            changed = values[:1]
        if changed:
            self.published = {key.name: value for key, value in values}
            workflow.upsert_search_attributes([
                key.value_unset() if value is None else key.value_set(value) for key, value in changed
            ])
            workflow.set_current_details(self._details())

    def _details(self) -> str:
        s = self.state
        waiting = {
            "completeness": "handläggarens kontroll av fullständighet"
            + (" (komplettering begärd)" if s.completion and not s.completion.answered_at else ""),
            "secrecy_review": "handläggarens sekretessprövning",
            "assessment": "jävsprövning och bedömning",
            "decision": "beslutsfattarens beslut"
            + (" (kommunicering pågår)" if s.communication and not s.communication.settled else ""),
            "decided": "nästa steg efter beslut",
            "payments": "ansökningar om utbetalning och slutrapport",
            "final_report": "handläggarens granskning av slutrapporten",
            "reclaim": "beslut om återkrav eller återbetalning",
        }.get(s.stage.value, "")
        lines = [f"**{STAGE_LABELS_SV[s.stage]}**", f"Väntar på: {waiting}" if waiting else ""]
        claim = s.reclaim.claim if s.reclaim else None
        if claim is not None and claim.escalated_at is not None and s.reclaim and s.reclaim.settled_at is None:
            lines.append(f"Återkravet är förfallet sedan {claim.due_date} och obetalt: eskalerat.")
        if s.next_deadline:
            lines.append(f"Nästa frist: {s.next_deadline.isoformat()}")
        if s.records_pending_since is not None:
            lines.append(f"Begäran om allmän handling väntar sedan {s.records_pending_since.isoformat()}.")
        if s.stalled is not None:
            lines.insert(0, f"**Stoppat:** {STEP_LABELS_SV.get(s.stalled.step, s.stalled.step)} misslyckades "
                            f"({s.stalled.error}) {s.stalled.at.isoformat()}; drift behöver åtgärda orsaken "
                            "och återuppta ärendet (åtgärden resume).")
        return "\n\n".join(line for line in lines if line)

