"""The arithmetic of paying a grant: exact, capped, never paying the withheld share early."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from domain.application import CostType
from domain.call import Call
from domain.clock import end_of_day
from domain.payment import (
    CostClaim,
    CostReview,
    PaymentRequest,
    Payments,
    advance_cap,
    allowed_cost_types,
    approved_net,
    final_grant,
    payable,
    review_problem,
)
from infra.calls import default_catalog

D = Decimal
RATE = Fraction(3, 4)
TENTH = Fraction(1, 10)
money = st.decimals(min_value=0, max_value=10_000_000, places=2, allow_nan=False, allow_infinity=False)


def claim(cost_type: CostType, amount: str) -> CostClaim:
    return CostClaim(cost_type=cost_type, description="kostnad", amount=D(amount), vouchers=["V1"])


def test_the_advance_is_capped_by_share_and_by_amount():
    assert advance_cap(D("400000"), Fraction(1, 2), D("400000")) == D("200000.00")
    assert advance_cap(D("1000000"), Fraction(1, 2), D("400000")) == D("400000")
    # A call that withholds 60 % until the final report cannot pay any of it in advance.
    assert advance_cap(D("400000"), Fraction(1, 2), D("400000"), Fraction(3, 5)) == D("160000.00")
    assert advance_cap(D("400000"), Fraction(1, 2), D("400000"), Fraction(1, 10)) == D("200000.00")


def test_project_revenue_reduces_the_approved_costs():
    costs = [claim(CostType.PERSONNEL, "100000"), claim(CostType.PROJECT_REVENUE, "10000")]
    reviews = [CostReview(approved=D("90000"), reason="Del av lönen avser ordinarie verksamhet."),
               CostReview(approved=D("10000"))]
    assert approved_net(costs, reviews) == D("80000")


def test_a_review_rules_on_every_cost_and_gives_reasons_for_what_it_cuts():
    costs = [claim(CostType.PERSONNEL, "100000"), claim(CostType.OVERHEAD, "5000")]
    assert "2 kostnader, 1 beslut" in review_problem(costs, [CostReview(approved=D("100000"))])
    assert "skälet" in review_problem(costs, [CostReview(approved=D("100000")), CostReview(approved=D("0"))])
    assert "större än det redovisade" in review_problem(costs, [CostReview(approved=D("100001")),
                                                                CostReview(approved=D("5000"))])
    assert review_problem(costs, [CostReview(approved=D("100000")),
                                  CostReview(approved=D("0"), reason="Inte stödberättigande.")]) is None


def test_the_withheld_share_waits_for_the_final_report():
    # 3/4 of 600 000 is 450 000, above the grant; before the final report at most 90 % of 400 000.
    assert payable(granted=D("400000"), support_rate=RATE, approved_costs=D("600000"), ordered=D("0"),
                   withheld_share=TENTH, requested=D("450000")) == D("360000.00")
    assert final_grant(D("400000"), RATE, D("600000")) == D("400000")


def test_an_advance_already_paid_is_counted_and_nothing_is_paid_twice():
    assert payable(granted=D("400000"), support_rate=RATE, approved_costs=D("100000"), ordered=D("100000"),
                   withheld_share=TENTH, requested=D("75000")) == D("0")
    assert payable(granted=D("400000"), support_rate=RATE, approved_costs=D("200000"), ordered=D("100000"),
                   withheld_share=TENTH, requested=D("75000")) == D("50000.00")


@given(granted=money, approved=money, ordered=money, requested=money)
def test_payable_never_exceeds_the_grant_less_the_withheld_share_nor_the_request(granted, approved, ordered,
                                                                                 requested):
    amount = payable(granted=granted, support_rate=RATE, approved_costs=approved, ordered=ordered,
                     withheld_share=TENTH, requested=requested)
    assert D(0) <= amount <= requested
    assert ordered + amount <= max(ordered, granted - granted * D("0.1") + D("0.01"))
    assert amount == amount.quantize(D("0.01"))


@given(granted=money, approved=money)
def test_the_final_grant_is_the_lesser_of_grant_and_supported_costs(granted, approved):
    final = final_grant(granted, RATE, approved)
    assert final <= granted and final <= approved * D("0.75") + D("0.005")


def test_a_payment_request_names_a_valid_bankgiro_and_a_period_in_order():
    base = {"period_start": "2026-01-01", "period_end": "2026-01-31", "costs": [
        {"cost_type": "personnel", "description": "Lön", "amount": "1000.00", "vouchers": ["V1"]}],
        "requested": "750.00", "cofinancing_received": "0", "progress_report": "Igång."}
    PaymentRequest.model_validate(base | {"payee_bankgiro": "5402-9681"})
    with pytest.raises(ValidationError, match="check digit"):
        PaymentRequest.model_validate(base | {"payee_bankgiro": "5402-9682"})
    with pytest.raises(ValidationError, match="period_end"):
        PaymentRequest.model_validate(base | {"payee_bankgiro": "5402-9681", "period_end": "2025-12-31"})
    with pytest.raises(ValidationError, match="vouchers"):
        PaymentRequest.model_validate(base | {"payee_bankgiro": "5402-9681", "costs": [
            {"cost_type": "personnel", "description": "Lön", "amount": "1000.00", "vouchers": []}]})


def test_allowed_cost_types_come_from_the_call_file():
    call: Call = default_catalog().get("export-samverkan-2021")
    assert CostType.EQUIPMENT not in allowed_cost_types(call)
    assert CostType.PERSONNEL in allowed_cost_types(call)


def test_final_report_reminders_fall_before_and_after_the_due_date_each_once():
    call = default_catalog().get("export-samverkan-2021")
    payments = Payments(granted=D("1"), support_rate=RATE, withheld_share=TENTH, period_start=date(2021, 4, 1),
                        period_end=date(2021, 10, 31), report_due=date(2021, 11, 30))
    reminders = payments.reminders(call)
    assert [(r.key, r.at) for r in reminders] == [
        ("before-30", end_of_day(date(2021, 10, 30))), ("before-7", end_of_day(date(2021, 11, 22))),
        ("after-7", end_of_day(date(2021, 12, 6)))]
    assert payments.next_deadline(call) == reminders[0].at
    payments.reminders_sent = [r.key for r in reminders]
    assert payments.next_deadline(call) == end_of_day(date(2021, 12, 30))  # 30 days' grace, then reclaim
