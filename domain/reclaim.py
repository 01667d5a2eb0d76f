"""Reclaim (återkrav): why a case came to owe money back, the decision, and the claim after it.

A reclaim opens on an overpayment found at the final review, a final report that never came,
a revocation of the decision in whole or in part, or a withdrawal after money was paid. An
officer prepares it, the applicant is heard (FL 25 §), a decision maker who did not prepare it
takes it, and finance registers what is repaid. The claim's balance and interest are always
computed from the record (domain/interest.py), never stored as a number that could drift.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from domain.clock import end_of_day
from domain.interest import ClaimBalance, ClaimTerms, ReferenceRates, Repayment, claim_balance, half_year_sv


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReclaimBasis(StrEnum):
    OVERPAYMENT = "overpayment"
    MISSING_REPORT = "missing_report"
    REVOCATION = "revocation"
    WITHDRAWAL = "withdrawal"


BASIS_SV = {
    ReclaimBasis.OVERPAYMENT: "mer har betalats ut än det slutliga stödet",
    ReclaimBasis.MISSING_REPORT: "slutrapporten har inte kommit in trots påminnelser",
    ReclaimBasis.REVOCATION: "beslutet om stöd upphävs",
    ReclaimBasis.WITHDRAWAL: "sökanden har återkallat ansökan efter utbetalning",
}


class PreparedReclaim(Model):
    prepared_by: str
    prepared_at: datetime
    amount: Decimal
    reasons: str
    interest_from: date
    due_days: int


class Hearing(Model):
    """The applicant's chance to reply before an adverse decision (kommunicering, FL 25 §)."""

    sent_at: datetime
    deadline: datetime
    reply: str | None = None
    replied_at: datetime | None = None
    expired: bool = False

    @property
    def settled(self) -> bool:
        """The applicant has replied, or the reply period is over."""
        return self.reply is not None or self.expired


class Revocation(Model):
    """A revocation of the grant in whole or in part (FL 37 §, the decision's conditions): an officer
    prepares it, the applicant is heard (FL 25 §), a decision maker who did not prepare it takes it."""

    prepared_by: str
    prepared_at: datetime
    amount: Decimal  # the part of the grant taken away
    reasons: str
    material: str | None = None  # what else the decision rests on, sent with the hearing
    hearing: Hearing
    decided_by: str | None = None
    decided_at: datetime | None = None

    @property
    def pending(self) -> bool:
        return self.decided_at is None


class Claim(Model):
    """The decided claim: what is owed and on what terms. Repayments are added as they come."""

    principal: Decimal
    decided_by: str
    decided_at: datetime
    interest_from: date
    due_date: date
    margin_before_due: Decimal
    margin_after_due: Decimal
    repayments: list[Repayment] = []
    escalated_at: datetime | None = None
    written_off_at: datetime | None = None
    written_off_by: str | None = None

    @property
    def terms(self) -> ClaimTerms:
        return ClaimTerms(
            principal=self.principal, interest_from=self.interest_from, due_date=self.due_date,
            margin_before_due=self.margin_before_due, margin_after_due=self.margin_after_due,
        )

    def balance(self, on: date, rates: ReferenceRates) -> ClaimBalance:
        return claim_balance(self.terms, self.repayments, on, rates)

    def provisional_balance(self, on: date, rates: ReferenceRates) -> tuple[ClaimBalance, str | None]:
        """The balance, and a Swedish note when a reference rate it needs is not yet in the data."""
        filled_rates, filled = rates.carried_forward(on)
        balance = claim_balance(self.terms, self.repayments, on, filled_rates)
        if not filled:
            return balance, None
        return balance, (f"Preliminär ränta: referensränta saknas för {', '.join(half_year_sv(k) for k in filled)};"
                         " den senast kända används tills den läggs in.")

    @property
    def due(self) -> datetime:
        return end_of_day(self.due_date)


class Reclaim(Model):
    basis: ReclaimBasis
    opened_at: datetime
    suggested: Decimal  # what the record says is owed; the officer may prepare another amount
    note: str  # Swedish: how the suggestion was reached
    revoked: Decimal | None = None  # the part of the grant a revocation takes away
    prepared: PreparedReclaim | None = None
    hearing: Hearing | None = None
    claim: Claim | None = None
    settled_at: datetime | None = None
    # Riksbanken's reference rates as the case last read them. Kept in the case, not read from
    # the installed file by the rules, so that replaying the case computes what it computed then.
    rates: ReferenceRates | None = None

    def next_deadline(self) -> datetime | None:
        if self.hearing is not None and not self.hearing.settled and self.claim is None:
            return self.hearing.deadline
        claim = self.claim
        if claim is not None and claim.escalated_at is None and self.settled_at is None:
            return claim.due
        return None
