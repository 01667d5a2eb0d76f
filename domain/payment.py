"""Paying a grant: payment requests, the officer's review of each cost, and what may be paid.

Never automatic and always in arrears: the applicant reports costs it has paid, the officer
approves the eligible part of each cost with a reason for what is not approved, and the amount
to pay follows from the call's support rate and caps. A share of the grant is held back until
the final report is approved. Everything here is arithmetic on the case's own record; the
payment ledger (activities/payments.py) is what makes each payout happen exactly once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from domain.application import CostType
from domain.bank import is_bankgiro
from domain.call import Call
from domain.clock import end_of_day
from domain.money import Kronor, Share, apply_share, total
from domain.rules.funding import CostTypesAllowed
from domain.state_aid import CompanyAid
from domain.text import Clean


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _bankgiro(text: str) -> str:
    if not is_bankgiro(text):
        raise ValueError("not a bankgiro number (NNN-NNNN or NNNN-NNNN with a correct check digit)")
    return text


Bankgiro = Annotated[str, StringConstraints(strip_whitespace=True, max_length=9), AfterValidator(_bankgiro)]
Voucher = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), Clean]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300), Clean]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000), Clean]
Positive = Annotated[Decimal, Field(gt=0, max_digits=14, decimal_places=2, allow_inf_nan=False)]


# --- what the applicant reports ---------------------------------------------------------


class CostClaim(Model):
    """One reported cost: paid, of a type the call allows, with the vouchers that show it."""

    cost_type: CostType
    description: ShortText
    amount: Positive  # project revenue is reported as a positive amount and reduces the costs
    vouchers: Annotated[list[Voucher], Field(min_length=1, max_length=500)]


class PaymentRequest(Model):
    period_start: date
    period_end: date
    costs: Annotated[list[CostClaim], Field(min_length=1, max_length=200)]
    requested: Positive
    cofinancing_received: Kronor
    progress_report: LongText
    payee_bankgiro: Bankgiro
    # The companies the project reached in the period and the aid each received (domain/state_aid.py).
    companies: Annotated[list[CompanyAid], Field(max_length=500)] = []

    @model_validator(mode="after")
    def _period(self) -> PaymentRequest:
        if self.period_end < self.period_start:
            raise ValueError("period_end must not be before period_start")
        return self


class GoalResult(Model):
    goal: ShortText
    result: LongText


class Indicator(Model):
    name: ShortText
    value: Annotated[Decimal, Field(ge=0, max_digits=14, allow_inf_nan=False)]
    women: Annotated[int, Field(ge=0)] | None = None
    men: Annotated[int, Field(ge=0)] | None = None


class FinalReport(Model):
    """Results against the project's goals, indicators, and the costs since the last payment request."""

    results: LongText
    goals: Annotated[list[GoalResult], Field(min_length=1, max_length=30)]
    companies_reached: Annotated[int, Field(ge=0, le=100_000)]
    # Split by the women and men who represent the companies, where the call asks for it.
    companies_women: Annotated[int, Field(ge=0, le=100_000)] | None = None
    companies_men: Annotated[int, Field(ge=0, le=100_000)] | None = None
    indicators: Annotated[list[Indicator], Field(max_length=30)] = []
    costs: Annotated[list[CostClaim], Field(max_length=200)] = []
    cofinancing_received_total: Kronor
    payee_bankgiro: Bankgiro | None = None
    # The companies reached since the last payment request and the aid each received (domain/state_aid.py).
    companies: Annotated[list[CompanyAid], Field(max_length=500)] = []


# --- what the officer decides --------------------------------------------------------------


class CostReview(Model):
    """The officer's ruling on one reported cost, in the order they were reported."""

    approved: Kronor
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000), Clean] | None = None


def review_problem(costs: Sequence[CostClaim], reviews: Sequence[CostReview]) -> str | None:
    """Why the officer's review of `costs` cannot stand, in Swedish; None when it can."""
    if len(reviews) != len(costs):
        return f"Pröva varje redovisad kostnad: {len(costs)} kostnader, {len(reviews)} beslut."
    for i, (cost, review) in enumerate(zip(costs, reviews, strict=True), start=1):
        if review.approved > cost.amount:
            return f"Kostnad {i} ({cost.description}): godkänt belopp är större än det redovisade."
        if review.approved < cost.amount and review.reason is None:
            return f"Kostnad {i} ({cost.description}): ange skälet till att hela kostnaden inte godkänns."
    return None


def approved_net(costs: Sequence[CostClaim], reviews: Sequence[CostReview]) -> Decimal:
    """The approved eligible costs: approved costs less approved project revenue."""
    return total(
        -r.approved if c.cost_type is CostType.PROJECT_REVENUE else r.approved
        for c, r in zip(costs, reviews, strict=True)
    )


def claimed_net(costs: Sequence[CostClaim]) -> Decimal:
    return total(-c.amount if c.cost_type is CostType.PROJECT_REVENUE else c.amount for c in costs)


def allowed_cost_types(call: Call) -> frozenset[CostType]:
    """The cost types a call allows: those of its cost-type rule, or every type when it has none."""
    for rule in call.rules:
        if isinstance(rule, CostTypesAllowed):
            return frozenset(rule.cost_types)
    return frozenset(CostType)


# --- the amounts ------------------------------------------------------------------------------


def advance_cap(granted: Decimal, max_share: Fraction, max_amount: Decimal,
                withheld_share: Fraction = Fraction(0)) -> Decimal:
    """SFS 2003:596: an advance of at most a share of the grant and at most a fixed amount, and
    never into the share withheld until the final report (a call may withhold more than half)."""
    return min(apply_share(max_share, granted), max_amount, granted - apply_share(withheld_share, granted))


def final_grant(granted: Decimal, support_rate: Fraction, approved_costs: Decimal) -> Decimal:
    """The lesser of the granted amount and the support rate times the approved eligible costs."""
    return min(granted, apply_share(support_rate, max(approved_costs, Decimal(0))))


def payable(
    *, granted: Decimal, support_rate: Fraction, approved_costs: Decimal, ordered: Decimal,
    withheld_share: Fraction, requested: Decimal,
) -> Decimal:
    """What to pay on a payment request: what the approved costs entitle the applicant to so far,
    never above the grant less the share withheld until the final report, less what has already
    been paid or ordered (an advance included), and never more than was asked for."""
    entitled = final_grant(granted, support_rate, approved_costs)
    ceiling = granted - apply_share(withheld_share, granted)
    return max(Decimal(0), min(min(entitled, ceiling) - ordered, requested))


# --- the case's record of payments -------------------------------------------------------------


class PayoutKind(StrEnum):
    ADVANCE = "advance"
    PAYMENT = "payment"
    FINAL = "final"


PAYOUT_KIND_SV = {PayoutKind.ADVANCE: "förskott", PayoutKind.PAYMENT: "utbetalning", PayoutKind.FINAL: "slutbetalning"}


class Payout(Model):
    """One payout. `number` is its payment request's number (0 for an advance): with the case
    number it is the payment ledger's idempotency key."""

    number: int
    kind: PayoutKind
    amount: Decimal
    bankgiro: str
    ordered_at: datetime
    paid_at: datetime | None = None


class FiledRequest(Model):
    number: int
    filed_at: datetime
    filed_by: str
    request: PaymentRequest
    reviewed_by: str | None = None
    reviewed_at: datetime | None = None
    reviews: list[CostReview] | None = None
    approved_costs: Decimal | None = None
    payable: Decimal | None = None


class FiledFinalReport(Model):
    filed_at: datetime
    filed_by: str
    report: FinalReport
    reviewed_by: str | None = None
    reviewed_at: datetime | None = None
    reviews: list[CostReview] | None = None
    assessment: str | None = None
    final_grant: Decimal | None = None


class Reminder(Model):
    key: str  # e.g. "before-30", "after-7": each is sent once
    at: datetime


class Payments(Model):
    """Everything paid or asked for on an approved case: the part of its state after the decision."""

    granted: Decimal
    support_rate: Share
    withheld_share: Share
    period_start: date
    period_end: date
    report_due: date
    payee_bankgiro: str | None = None
    requests: list[FiledRequest] = []
    payouts: list[Payout] = []
    final_report: FiledFinalReport | None = None
    reminders_sent: list[str] = []

    @property
    def ordered(self) -> Decimal:
        """Paid, or on its way: what counts as paid for every rule, so nothing is paid twice."""
        return total(p.amount for p in self.payouts)

    @property
    def paid(self) -> Decimal:
        return total(p.amount for p in self.payouts if p.paid_at is not None)

    @property
    def approved_costs(self) -> Decimal:
        reviewed = [r.approved_costs for r in self.requests if r.approved_costs is not None]
        final = self.final_report.reviews if self.final_report else None
        final_costs = approved_net(self.final_report.report.costs, final) if self.final_report and final else None
        return total(reviewed) + (final_costs or Decimal(0))

    @property
    def unreviewed(self) -> list[FiledRequest]:
        return [r for r in self.requests if r.reviews is None]

    @property
    def vouchers(self) -> frozenset[str]:
        return frozenset(v for r in self.requests for c in r.request.costs for v in c.vouchers)

    def request(self, number: int) -> FiledRequest | None:
        return next((r for r in self.requests if r.number == number), None)

    def reminders(self, call: Call) -> list[Reminder]:
        """The final report's reminders: N days before the due date and N days after it, each at
        the start of its Stockholm day."""
        terms = call.follow_up
        days = [(f"before-{d}", -d) for d in terms.reminders_before_days]
        days += [(f"after-{d}", d) for d in terms.reminders_after_days]
        return sorted(
            (Reminder(key=key, at=end_of_day(self.report_due + timedelta(days=offset - 1)))
             for key, offset in days),
            key=lambda r: r.at,
        )

    def missing_report_at(self, call: Call) -> datetime:
        return end_of_day(self.report_due + timedelta(days=call.follow_up.missing_report_grace_days))

    def next_deadline(self, call: Call) -> datetime | None:
        if self.final_report is not None:
            return None
        pending = [r.at for r in self.reminders(call) if r.key not in self.reminders_sent]
        return min([*pending, self.missing_report_at(call)])
