"""After the decision: payments, the final report, reclaim, closing and the archive, with virtual time.

The 2021 call pays 3/4 of eligible costs and holds back 10 % of the grant until the final
report is approved. Every case here is granted 400 000 kr for a 60-day period with the final
report due 30 days after it, so the arithmetic in each test can be checked by hand.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from temporalio.worker import Replayer

import activities.rates as rates_module
from activities.archive import archived_case
from activities.budget import HeldGrant
from activities.letters import list_letters
from activities.payments import list_payouts
from activities.rates import load_reference_rates
from activities.register import case_events
from domain.actions import refusal
from domain.after_decision import ReviewFinalReport
from domain.clock import stockholm_date
from domain.lifecycle import Stage
from domain.reclaim import ReclaimBasis
from services.audit_history import findings, notices, read_history, read_register, recorded
from services.cases import ActionRefused
from tests.keys import CONVERTER
from tests.workflows.test_case_workflow import APPLICANT, DECIDER, OFFICER, OTHER_OFFICER, assessed_case, refused
from worker import registry
from workflows import search_attributes as sa
from workflows.archive import ArchiveWorkflow, archive_workflow_id

FINANCE = "finance:fia"
BANKGIRO = "5402-9681"
D = Decimal


def today() -> date:
    return stockholm_date(datetime.now(UTC))


async def granted_case(harness, *, advance: str | None = None):
    """A case granted 400 000 kr for today .. today+60, final report due today+90."""
    _call, number = await assessed_case(harness)
    start = today()
    extra = {"advance": advance, "advance_reasons": "Sökanden saknar likviditet att ligga ute med kostnaderna.",
             "payee_bankgiro": BANKGIRO} if advance else {}
    await harness.act(number, "prepare-decision", OFFICER, kind="approve", amount="400000.00",
                      period_start=start.isoformat(), period_end=(start + timedelta(days=60)).isoformat(),
                      final_report_due=(start + timedelta(days=90)).isoformat(), **extra)
    receipt = await harness.act(number, "decide", DECIDER)
    assert receipt.stage is Stage.PAYMENTS
    return number, start


async def verified(harness, number):
    """`audit verify` of the case finds nothing and checks everything, the budget ledger included: the
    same check finds the case's grant in the ledger shrunk by one öre, or held where it holds nothing."""
    history = await recorded(harness.client, harness.pool, number)
    facts = await read_history(harness.client, history)
    register = await read_register(harness.pool, number)
    assert findings(number, history, facts, register) == []
    assert notices(number, history, facts, register) == []
    changed = [g.model_copy(update={"amount": g.amount - D("0.01")}) for g in register.grants] or [
        HeldGrant(call_id=facts.state.call.id, case_number=number, amount=D("0.01"))]
    [found] = findings(number, history, facts, replace(register, grants=changed))
    assert found.row.startswith("budgetreservationen i utlysningen") and "i budgetregistret men" in found.problem


def cost(cost_type: str, amount: str, *vouchers: str) -> dict:
    return {"cost_type": cost_type, "description": f"{cost_type} {amount}", "amount": amount,
            "vouchers": list(vouchers)}


def payment_request(start: date, first: int, last: int, requested: str, *costs: dict) -> dict:
    return {"request": {
        "period_start": (start + timedelta(days=first)).isoformat(),
        "period_end": (start + timedelta(days=last)).isoformat(),
        "costs": list(costs), "requested": requested, "cofinancing_received": "50000.00",
        "progress_report": "Tolv företag har fått rådgivning om exportmarknader.", "payee_bankgiro": BANKGIRO,
    }}


def final_report(*costs: dict) -> dict:
    return {"report": {
        "results": "Projektet nådde sina mål.", "goals": [{"goal": "Fler exporterande företag",
                                                          "result": "Åtta företag exporterar nu."}],
        "companies_reached": 14, "costs": list(costs), "cofinancing_received_total": "140000.00",
    }}


def approve_all(*amounts: str) -> list[dict]:
    return [{"approved": a} for a in amounts]


async def payouts(harness, number):
    return {(p.request_number, p.kind.value): p.amount for p in await list_payouts(harness.pool, case_number=number)}


async def held_of_budget(harness, number):
    """What the case holds of its call's budget in the ledger; None when it holds nothing."""
    async with harness.pool.connection() as conn:
        row = await (await conn.execute("SELECT amount FROM budget_grants WHERE case_number = %s",
                                        (number,))).fetchone()
    return row[0] if row else None


async def archived(harness, number):
    """The case's workflow has completed and the archive holds all of it."""
    await harness.handle(number).result()
    result = await harness.client.get_workflow_handle_for(ArchiveWorkflow.run, archive_workflow_id(number)).result()
    archive = await archived_case(harness.pool, number)
    assert archive is not None and result.case_number == number and archive.complete
    return archive


async def test_payment_requests_partly_approved_an_advance_and_the_withheld_share(harness):
    number, start = await granted_case(harness, advance="100000.00")
    state = await harness.settled(number)
    assert [(p.number, p.amount, p.paid_at is not None) for p in state.payments.payouts] == [(0, D("100000"), True)]

    await harness.fast_forward(number, timedelta(days=21))
    await harness.act(number, "file-payment-request", APPLICANT, **payment_request(
        start, 0, 20, "225000.00", cost("personnel", "200000.00", "V1", "V2"),
        cost("external_services", "100000.00", "V3")))
    # Every cost needs a ruling, and one not approved in full needs a reason.
    assert "skälet" in await refused(harness, number, "review-payment-request", OFFICER, request_number=1,
                                     costs=approve_all("200000.00", "60000.00"))
    receipt = await harness.act(number, "review-payment-request", OFFICER, request_number=1, costs=[
        {"approved": "200000.00"}, {"approved": "60000.00", "reason": "Fakturan avser tid före projektperioden."}])
    # 3/4 of 260 000 is 195 000, of which the advance already paid 100 000.
    assert "95\u00a0000\u00a0kr betalas ut" in receipt.message

    await harness.fast_forward(number, timedelta(days=20))
    request_2 = payment_request(start, 21, 40, "187500.00", cost("personnel", "250000.00", "V4"))
    await harness.act(number, "file-payment-request", APPLICANT, **request_2)
    await harness.act(number, "review-payment-request", OFFICER, request_number=2, costs=approve_all("250000.00"))
    state = await harness.settled(number)
    # 3/4 of 510 000 is 382 500, but 10 % of the grant waits for the final report: at most 360 000.
    assert state.payments.requests[1].payable == D("165000.00")
    assert await payouts(harness, number) == {(0, "advance"): D("100000"), (1, "payment"): D("95000"),
                                              (2, "payment"): D("165000")}

    # What a careless or dishonest request sends is refused with the reason, and nothing is written.
    later = payment_request(start, 41, 41, "1000.00", cost("personnel", "2000.00", "V1"))
    assert "V1 är redan redovisad" in await refused(harness, number, "file-payment-request", APPLICANT, **later)
    equipment = payment_request(start, 41, 41, "1000.00", cost("equipment", "2000.00", "V9"))
    assert "kostnadsslaget" in await refused(harness, number, "file-payment-request", APPLICANT, **equipment)
    outside = payment_request(start, 50, 70, "1000.00", cost("personnel", "2000.00", "V9"))
    assert "utanför projektperioden" in await refused(harness, number, "file-payment-request", APPLICANT, **outside)
    overlapping = payment_request(start, 40, 41, "1000.00", cost("personnel", "2000.00", "V9"))
    assert "överlappar" in await refused(harness, number, "file-payment-request", APPLICANT, **overlapping)
    greedy = payment_request(start, 41, 41, "50000.00", cost("personnel", "90000.00", "V9"))
    assert "återstår av stödet" in await refused(harness, number, "file-payment-request", APPLICANT, **greedy)
    assert "ekonomi" not in await refused(harness, number, "review-payment-request", APPLICANT, request_number=2,
                                          costs=approve_all("250000.00"))

    # The final report releases the withheld share: 3/4 of 550 000 exceeds the grant, so 400 000 in all.
    await harness.fast_forward(number, timedelta(days=25))
    await harness.act(number, "submit-final-report", APPLICANT, **final_report(cost("personnel", "40000.00", "V5")))
    receipt = await harness.act(number, "review-final-report", OFFICER, costs=approve_all("40000.00"),
                                assessment="Målen är uppnådda och kostnaderna styrkta.")
    assert "slutligt stöd 400\u00a0000\u00a0kr" in receipt.message
    archive = await archived(harness, number)
    assert await payouts(harness, number) == {(0, "advance"): D("100000"), (1, "payment"): D("95000"),
                                              (2, "payment"): D("165000"), (3, "final"): D("40000")}
    state = await harness.state(number)
    assert state.stage is Stage.CLOSED and state.payments.paid == D("400000")
    kinds = [x.kind for x in await list_letters(harness.pool, number)]
    assert kinds.count("payout_made") == 4 and kinds.count("payment_decision") == 2
    assert kinds[-1] == "case_closed" and "final_report_reviewed" in kinds
    assert archive.register_rows["case"]["stage"] == "closed"
    # The register's events are all in the archive, the closing one last.
    assert [e["kind"] for e in archive.register_rows["events"]][-1] == "closed"


async def test_a_final_review_that_pays_less_than_the_advance_ends_in_a_reclaim_repaid_to_zero(harness):
    number, _start = await granted_case(harness, advance="100000.00")
    await harness.fast_forward(number, timedelta(days=62))
    await harness.act(number, "submit-final-report", APPLICANT, **final_report(cost("personnel", "80000.00", "V1")))
    await harness.act(number, "review-final-report", OFFICER, costs=approve_all("80000.00"),
                      assessment="Projektet genomfördes i liten skala.")
    state = await harness.settled(number)
    # Final grant 3/4 of 80 000 = 60 000; 100 000 was paid.
    assert state.stage is Stage.RECLAIM and state.reclaim.basis is ReclaimBasis.OVERPAYMENT
    assert state.reclaim.suggested == D("40000.00")

    await harness.act(number, "prepare-reclaim", OFFICER, amount="40000.00",
                      reasons="Det slutliga stödet är lägre än utbetalt förskott.")
    # The hearing runs 14 days; the preparer may never decide; the decision maker may once it is over.
    assert "fyraögonsprincipen" in await refused(harness, number, "decide-reclaim", "decision_maker:anna")
    assert "svarstid" in await refused(harness, number, "decide-reclaim", DECIDER)
    await harness.act(number, "reply-to-communication", APPLICANT, text="Vi har inga invändningar.")
    await harness.act(number, "decide-reclaim", DECIDER)
    state = await harness.settled(number)
    claim = state.reclaim.claim
    assert claim.principal == D("40000.00") and claim.due_date == today() + timedelta(days=62 + 30)

    # The due date passes unpaid: escalated, told to operations and the applicant.
    await harness.fast_forward(number, timedelta(days=40))
    state = await harness.settled(number)
    assert state.reclaim.claim.escalated_at is not None
    assert (await harness.handle(number).describe()).typed_search_attributes.get(sa.CLAIM_STATUS) == "overdue"
    assert "claim_overdue" in [x.kind for x in await list_letters(harness.pool, number)]
    assert "claim_overdue" in [e.kind for e in await case_events(harness.pool, number)]

    paid_on = stockholm_date(state.reclaim.claim.escalated_at)
    balance, _ = state.reclaim.claim.provisional_balance(paid_on, load_reference_rates())
    # Interest ran at reference + 2 points to the due date and + 8 after it.
    reference = load_reference_rates().carried_forward(paid_on)[0].rate_for(paid_on)
    margins = {p.annual_percent - reference for p in balance.periods if p.first_day.month == paid_on.month}
    assert D(8) in margins and balance.interest_due > 0
    await harness.act(number, "register-repayment", FINANCE, amount="15000.00", paid_on=paid_on.isoformat())
    assert "större än skulden" in await refused(harness, number, "register-repayment", FINANCE,
                                                amount="99000.00", paid_on=paid_on.isoformat())
    assert "ekonomi" in await refused(harness, number, "register-repayment", OFFICER, amount="1.00",
                                      paid_on=paid_on.isoformat())
    state = await harness.state(number)
    rest, _ = state.reclaim.claim.provisional_balance(paid_on, load_reference_rates())
    assert D(0) < rest.total_due < D("40000.00") + balance.interest_due
    receipt = await harness.act(number, "register-repayment", FINANCE, amount=str(rest.total_due),
                                paid_on=paid_on.isoformat())
    assert receipt.stage is Stage.CLOSED and "kvar 0\u00a0kr" in receipt.message
    # The final grant of 60 000 is what the case keeps of the call's budget; the rest is free again.
    assert await held_of_budget(harness, number) == D("60000.00")
    archive = await archived(harness, number)
    await verified(harness, number)
    assert "reclaim_decision" in [x["kind"] for x in archive.register_rows["letters"]]


async def test_a_missing_final_report_goes_through_reminders_into_reclaim(harness):
    number, start = await granted_case(harness, advance="100000.00")
    await harness.settled(number)
    due = start + timedelta(days=90)
    await harness.fast_forward(number, timedelta(days=61))  # 30 days before the due date
    state = await harness.settled(number)
    assert state.payments.reminders_sent == ["before-30"] and state.stage is Stage.PAYMENTS
    await harness.fast_forward(number, timedelta(days=40))  # 7 days before, then 7 days after
    state = await harness.settled(number)
    assert state.payments.reminders_sent == ["before-30", "before-7", "after-7"]
    desc = await harness.handle(number).describe()
    assert desc.typed_search_attributes.get(sa.NEXT_DEADLINE).date() == due + timedelta(days=30)

    await harness.fast_forward(number, timedelta(days=25))
    state = await harness.settled(number)
    assert state.stage is Stage.RECLAIM and state.reclaim.basis is ReclaimBasis.MISSING_REPORT
    assert state.reclaim.suggested == D("100000.00")
    letters = [x.kind for x in await list_letters(harness.pool, number)]
    assert letters.count("final_report_reminder") == 3
    # The applicant can no longer report; the officer prepares the reclaim of the advance.
    assert "Återkrav" in await refused(harness, number, "submit-final-report", APPLICANT, **final_report())
    assert (await harness.handle(number).describe()).typed_search_attributes.get(sa.CASE_STAGE) == "reclaim"


async def test_a_partial_revocation_reclaims_what_was_paid_above_the_new_grant(harness):
    number, start = await granted_case(harness)
    await harness.fast_forward(number, timedelta(days=11))
    await harness.act(number, "file-payment-request", APPLICANT, **payment_request(
        start, 0, 10, "150000.00", cost("personnel", "200000.00", "V1")))
    await harness.act(number, "review-payment-request", OFFICER, request_number=1, costs=approve_all("200000.00"))
    # Lowering the grant is an officer's to prepare and a decision maker's to take, once the applicant
    # has been heard; never the assessor's, even as decision maker.
    assert "inget förberett upphävande" in await refused(harness, number, "revoke", DECIDER,
                                                         revoked_amount="300000.00", reasons="Genomförs inte.")
    assert "handläggare" in await refused(harness, number, "prepare-revocation", DECIDER,
                                          revoked_amount="300000.00", reasons="Projektet genomförs inte.")
    reasons = "Projektet genomförs inte som beslutat: hälften av aktiviteterna är strukna."
    await harness.act(number, "prepare-revocation", OFFICER, revoked_amount="300000.00", reasons=reasons)
    assert "fyraögonsprincipen" in await refused(harness, number, "revoke", "decision_maker:anna")
    assert "svarstid" in await refused(harness, number, "revoke", DECIDER)
    await harness.act(number, "reply-to-communication", APPLICANT, text="Vi har strukit aktiviteterna av goda skäl.")
    receipt = await harness.act(number, "revoke", DECIDER)
    assert receipt.stage is Stage.RECLAIM
    state = await harness.settled(number)
    assert state.granted == D("100000.00") and state.reclaim.suggested == D("50000.00")
    assert state.reclaim.basis is ReclaimBasis.REVOCATION

    await harness.act(number, "prepare-reclaim", OFFICER, amount="50000.00", reasons="Beslutet upphävs delvis.")
    await harness.fast_forward(number, timedelta(days=15))  # no reply within the 14 days
    state = await harness.settled(number)
    assert state.reclaim.hearing.expired
    await harness.act(number, "decide-reclaim", DECIDER)
    state = await harness.settled(number)
    on = stockholm_date(state.reclaim.claim.decided_at)
    owed, _ = state.reclaim.claim.provisional_balance(on, load_reference_rates())
    # Interest runs from the day the reclaim was prepared: 15 days at reference + 2 points.
    assert owed.principal_left == D("50000.00") and owed.interest_due > 0
    receipt = await harness.act(number, "register-repayment", FINANCE, amount=str(owed.total_due),
                                paid_on=on.isoformat())
    assert receipt.stage is Stage.CLOSED
    await archived(harness, number)
    await verified(harness, number)


async def test_a_withdrawal_after_a_payment_becomes_a_reclaim(harness):
    number, _start = await granted_case(harness, advance="100000.00")
    await harness.settled(number)
    receipt = await harness.act(number, "withdraw", APPLICANT, reason="Projektledaren har slutat.")
    assert receipt.stage is Stage.RECLAIM
    state = await harness.settled(number)
    assert state.reclaim.basis is ReclaimBasis.WITHDRAWAL and state.reclaim.suggested == D("100000.00")


async def test_a_withdrawal_before_any_payment_closes_the_case(harness):
    number, _start = await granted_case(harness)
    assert await held_of_budget(harness, number) == D("400000.00")
    receipt = await harness.act(number, "withdraw", APPLICANT)
    assert receipt.stage is Stage.CLOSED
    await archived(harness, number)
    assert await payouts(harness, number) == {}
    assert await held_of_budget(harness, number) is None  # the whole grant is back in the call's budget
    await verified(harness, number)


async def test_continue_as_new_mid_case_keeps_state_receipts_and_the_pending_deadline(short_history_harness):
    harness = short_history_harness
    number, start = await granted_case(harness)
    await harness.fast_forward(number, timedelta(days=20))
    state = await harness.settled(number)
    # The final report's first reminder is due 30 days before the report, 40 days from now.
    assert state.payments.reminders_sent == [] and state.stage is Stage.PAYMENTS
    run_before = (await harness.handle(number).describe()).run_id
    # Small payment requests, one a day of the period, until the history grows past the server's
    # suggestion and the case goes on in a new run; the last one's receipt was made in the old run.
    for day in range(15):
        request = payment_request(start, day, day, "750.00", cost("personnel", "1000.00", f"V{day}"))
        receipt = await harness.act(number, "file-payment-request", APPLICANT, action_id=f"begaran-{day}", **request)
        await harness.settled(number)
        run_now = (await harness.handle(number).describe()).run_id
        if run_now != run_before:
            break
    assert run_now != run_before, "the case never continued as new"
    # The new run sends only the attributes that have a value; operations still see them all.
    attrs = (await harness.handle(number).describe()).typed_search_attributes
    assert attrs.get(sa.CASE_STAGE) == "payments" and attrs.get(sa.OFFICER) == "anna"
    assert attrs.get(sa.GRANTED_AMOUNT_ORE) == 40_000_000 and attrs.get(sa.CALL_ID) is not None
    state = await harness.settled(number)
    assert len(state.payments.requests) == day + 1  # every request filed in the old run is in the new one
    again = await harness.act(number, "file-payment-request", APPLICANT, action_id=f"begaran-{day}", **request)
    assert again == receipt  # the receipt survived continue-as-new: nothing filed twice
    # The same id with other content is another action, refused in the new run too.
    assert "har redan använts" in await refused(
        harness, number, "file-payment-request", APPLICANT, action_id=f"begaran-{day}",
        **payment_request(start, 59, 59, "1.00", cost("personnel", "2.00", "V99")))
    assert len((await harness.state(number)).payments.requests) == day + 1
    # The reminder's deadline, set before the new run, still fires in it.
    await harness.fast_forward(number, timedelta(days=41))
    state = await harness.settled(number)
    assert state.payments.reminders_sent == ["before-30"]
    assert "final_report_reminder" in [x.kind for x in await list_letters(harness.pool, number)]
    # The runs that ended are in the archive already: retention counts from each run's end.
    partial = await archived_case(harness.pool, number)
    assert partial is not None and run_before in partial.run_ids and partial.complete


async def test_a_review_sent_twice_pays_once_and_a_final_report_is_reviewed_once(harness):
    number, start = await granted_case(harness)
    await harness.fast_forward(number, timedelta(days=21))
    await harness.act(number, "file-payment-request", APPLICANT, **payment_request(
        start, 0, 20, "150000.00", cost("personnel", "200000.00", "V1")))
    # The same review twice at once (a double click, a client's retry): one receipt, one payout.
    first, second = await asyncio.gather(*(
        harness.act(number, "review-payment-request", OFFICER, action_id="granskning-1", request_number=1,
                    costs=approve_all("200000.00")) for _ in range(2)))
    assert first == second
    # Sent again under a new id, it is a second review of a request already reviewed: refused.
    assert "redan prövad" in await refused(harness, number, "review-payment-request", OFFICER, request_number=1,
                                           costs=approve_all("200000.00"))
    await harness.fast_forward(number, timedelta(days=45))
    await harness.act(number, "submit-final-report", APPLICANT, **final_report(cost("personnel", "100000.00", "V2")))
    await harness.act(number, "review-final-report", OFFICER, costs=approve_all("100000.00"),
                      assessment="Målen är uppnådda.")
    # The final payout may still be on its way; a second review must not order or reclaim anything.
    with pytest.raises(ActionRefused, match=r"redan granskad|avslutat"):
        await harness.act(number, "review-final-report", OFFICER, costs=approve_all("50000.00"),
                          assessment="Granskad igen.")
    await archived(harness, number)
    # However fast the payout was: the case as it stood before its final payout refuses a second review.
    pending = (await harness.state(number)).model_copy(deep=True)
    pending.stage, pending.closed_at = Stage.FINAL_REPORT, None
    pending.payments.payouts[-1].paid_at = None
    again = ReviewFinalReport(action_id="granskning-2", actor={"role": "officer", "id": "anna"},
                              costs=approve_all("50000.00"), assessment="Granskad igen.")
    assert refusal(pending, again, datetime.now(UTC)) == "Slutrapporten är redan granskad."
    # 3/4 of 200 000 then the rest of 3/4 of 300 000: each once.
    assert await payouts(harness, number) == {(1, "payment"): D("150000"), (2, "final"): D("75000")}


async def test_a_partial_revocation_with_nothing_to_pay_back_lets_the_project_go_on(harness):
    number, start = await granted_case(harness)
    await harness.fast_forward(number, timedelta(days=11))
    await harness.act(number, "file-payment-request", APPLICANT, **payment_request(
        start, 0, 10, "75000.00", cost("personnel", "100000.00", "V1")))
    await harness.act(number, "review-payment-request", OFFICER, request_number=1, costs=approve_all("100000.00"))
    # An officer prepares the revocation and the applicant is heard first (FL 25 §), although nothing
    # would be paid back: the grant is lowered all the same.
    assert "erik har inte förklarat att jäv inte föreligger" in await refused(
        harness, number, "prepare-revocation", OTHER_OFFICER, revoked_amount="200000.00", reasons="x")
    await harness.act(number, "declare-no-conflict", OTHER_OFFICER)
    await harness.act(number, "prepare-revocation", OTHER_OFFICER, revoked_amount="200000.00",
                      reasons="Ett av de två delprojekten genomförs inte.",
                      material="Sökandens lägesrapport, där delprojekt 2 har strukits.")
    state = await harness.settled(number)
    deadline = state.revocation.hearing.deadline
    assert state.next_deadline == deadline and deadline.date() >= today() + timedelta(days=14)
    [hearing] = [x for x in await list_letters(harness.pool, number) if x.kind == "revocation_communication"]
    assert "delvis" in hearing.body and "inget skulle behöva betalas tillbaka" in hearing.body
    assert "Sökandens lägesrapport" in hearing.body and "25 § förvaltningslagen" in hearing.body
    assert "svarstid" in await refused(harness, number, "revoke", DECIDER)
    await harness.fast_forward(number, timedelta(days=15))  # no reply within the reply period
    state = await harness.settled(number)
    assert state.revocation.hearing.expired and state.revocation.pending
    assert "communication_expired" in [e.kind for e in await case_events(harness.pool, number)]
    receipt = await harness.act(number, "revoke", DECIDER, action_id="upphav-1")
    # Sent again, the same action gets the same receipt; the same id with other content is refused.
    assert await harness.act(number, "revoke", DECIDER, action_id="upphav-1") == receipt
    assert "upphav-1 har redan använts" in await refused(harness, number, "revoke", DECIDER,
                                                         action_id="upphav-1", revoked_amount="1.00")
    # 75 000 paid, 200 000 left of the grant: nothing is owed, so no reclaim.
    assert receipt.stage is Stage.PAYMENTS and "inget ska betalas tillbaka" in receipt.message
    state = await harness.settled(number)
    assert state.granted == D("200000.00") and state.payments.granted == D("200000.00") and state.reclaim is None
    assert state.revocation.decided_by == "bo" and state.next_deadline != deadline
    assert await held_of_budget(harness, number) == D("200000.00")
    await verified(harness, number)  # a running case, settled: its grant lowered by the revocation
    [reduced] = [x for x in await list_letters(harness.pool, number) if x.kind == "grant_reduced"]
    assert "delvis upphäva" in reduced.body and "efter föredragning av handläggare erik" in reduced.body
    # The new grant caps what is paid: 3/4 of 300 000 is 225 000, but the grant is 200 000 less 10 % held back.
    await harness.fast_forward(number, timedelta(days=10))
    await harness.act(number, "file-payment-request", APPLICANT, **payment_request(
        start, 11, 20, "105000.00", cost("personnel", "200000.00", "V2")))
    receipt = await harness.act(number, "review-payment-request", OFFICER, request_number=2,
                                costs=approve_all("200000.00"))
    assert "105\u00a0000\u00a0kr betalas ut" in receipt.message
    state = await harness.settled(number)
    assert state.payments.paid == D("180000.00")  # 200 000 less the 20 000 held until the final report


async def test_interest_is_computed_with_the_rates_the_case_read_so_a_replay_agrees_after_new_rates(
        harness, monkeypatch):
    number, _start = await granted_case(harness, advance="100000.00")
    await harness.fast_forward(number, timedelta(days=62))
    await harness.act(number, "submit-final-report", APPLICANT, **final_report(cost("personnel", "80000.00", "V1")))
    await harness.act(number, "review-final-report", OFFICER, costs=approve_all("80000.00"),
                      assessment="Projektet genomfördes i liten skala.")
    await harness.act(number, "prepare-reclaim", OFFICER, amount="40000.00", reasons="Lägre slutligt stöd.")
    await harness.fast_forward(number, timedelta(days=15))
    await harness.act(number, "decide-reclaim", DECIDER)
    await harness.fast_forward(number, timedelta(days=40))  # past the due date: escalated
    state = await harness.settled(number)
    assert state.reclaim.rates == load_reference_rates()
    paid_on = stockholm_date(state.reclaim.claim.escalated_at)
    owed, _ = state.reclaim.claim.provisional_balance(paid_on, state.reclaim.rates)
    receipt = await harness.act(number, "register-repayment", FINANCE, amount=str(owed.total_due),
                                paid_on=paid_on.isoformat())
    assert receipt.stage is Stage.CLOSED
    history = await harness.handle(number).fetch_history()

    # A later release publishes other rates than those carried forward: the recorded case replays unchanged.
    other = load_reference_rates().model_copy(update={"rates": [
        r.model_copy(update={"percent": r.percent + 3}) for r in load_reference_rates().rates]})
    monkeypatch.setattr(rates_module, "load_reference_rates", lambda: other)
    replayer = Replayer(workflows=registry.workflows(), workflow_runner=registry.workflow_runner(strict=True),
                        data_converter=CONVERTER)
    await replayer.replay_workflow(history)


async def claim_partly_repaid(harness) -> str:
    """A case whose advance of 100 000 kr is reclaimed after a withdrawal, 30 000 kr of it repaid."""
    number, _start = await granted_case(harness, advance="100000.00")
    await harness.settled(number)
    await harness.act(number, "withdraw", APPLICANT, reason="Projektet läggs ned.")
    await harness.act(number, "prepare-reclaim", OFFICER, amount="100000.00", reasons="Ansökan är återkallad.")
    await harness.act(number, "reply-to-communication", APPLICANT, text="Vi betalar det vi kan.")
    await harness.act(number, "decide-reclaim", DECIDER)
    state = await harness.settled(number)
    await harness.act(number, "register-repayment", FINANCE, amount="30000.00",
                      paid_on=stockholm_date(state.reclaim.claim.decided_at).isoformat())
    return number


async def test_the_rest_of_a_claim_is_written_off_by_a_decision_maker_who_did_not_assess_the_case(harness):
    number = await claim_partly_repaid(harness)
    # The officer who assessed the case (here also acting as decision maker) may not write it off.
    assert "fyraögonsprincipen" in await refused(harness, number, "write-off", "decision_maker:anna",
                                                 reasons="Bolaget är upplöst.")
    receipt = await harness.act(number, "write-off", DECIDER, reasons="Föreningen är upplöst; inga tillgångar finns.")
    assert receipt.stage is Stage.CLOSED
    archive = await archived(harness, number)
    assert "write_off" in [d["kind"] for d in archive.register_rows["documents"]]
    # The whole advance was reclaimed: the case keeps nothing of the call's budget, whatever was written off.
    assert await held_of_budget(harness, number) is None
