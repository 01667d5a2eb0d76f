"""Interest on a reclaim (återkrav) under räntelagen (1975:635), and what is left to pay.

A reclaim decision states an amount, an interest start and a due date. Until the due
date interest runs at the reference rate plus `margin_before_due` points (räntelagen
5 §, 2 points by default); after it at the reference rate plus `margin_after_due`
points (dröjsmålsränta, 6 §, 8 points by default). The reference rate is data:
`domain/reference_rates.toml`, one value per calendar half-year (9 §).

How the agency computes it (its choices where the law leaves room, stated here so an
officer or auditor can redo any figure by hand from `ClaimBalance.periods`):

- Simple interest on the principal left: interest never bears interest.
- Day count actual/365: a day's interest is `base × annual rate / 365`, leap years too.
- Interest runs from `interest_from` exclusive: the first day that bears interest is
  the day after it. Each day up to and including `due_date` bears reference +
  `margin_before_due`; each day after it reference + `margin_after_due`; the
  reference rate is the one of the half-year the day falls in.
- An effective annual rate below zero counts as zero: a negative reference rate
  never means the agency owes the debtor.
- Days are grouped into periods, split at half-year boundaries, at the due date and
  at each repayment; a period's interest is rounded to whole öre once.
- A repayment on day D counts at the end of D (day D still bears interest on the old
  principal). It pays accrued interest first, then principal: the usual Swedish order,
  which leaves the part that bears interest to be paid last.
  Repayments are taken in date order; those after the day asked about are ignored, and
  one made before interest starts simply lowers the principal.
- Paying more than is due is not refused here (finance registers what arrived); the
  excess is reported as `overpaid` and no amount is ever negative.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, computed_field, model_validator

from domain.money import Kronor, to_ore, total

DAYS_PER_YEAR = 365
RATES_FILE = "reference_rates.toml"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _exact_percent(value: object) -> object:
    # tomllib reads a bare 0.5 as a float; a rate in law must not pick up binary error.
    if isinstance(value, float):
        raise ValueError(f'write the percent as a string such as "{value:.2f}", not as a number')
    return value


Percent = Annotated[
    Decimal,
    Field(ge=-100, le=100, max_digits=5, decimal_places=2, allow_inf_nan=False),  # before: see Kronor
    BeforeValidator(_exact_percent),
]
PercentagePoints = Annotated[Decimal, Field(ge=0, le=50, max_digits=4, decimal_places=2, allow_inf_nan=False)]
HalfYearKey = Annotated[str, Field(pattern=r"^\d{4}-H[12]$")]


# --- Half-years ---------------------------------------------------------------------


def half_year_of(day: date) -> str:
    """The half-year key of `day` as the rates file writes it: "2021-H1"."""
    return f"{day.year}-H{1 if day.month <= 6 else 2}"


def half_year_sv(key: str) -> str:
    """ "2027-H1" → "första halvåret 2027", as a letter or an error message says it."""
    year, half = key.split("-H")
    return f"{'första' if half == '1' else 'andra'} halvåret {year}"


def _last_day_of_half_year(day: date) -> date:
    return date(day.year, 6, 30) if day.month <= 6 else date(day.year, 12, 31)


# --- Reference rates ------------------------------------------------------------------


class MissingReferenceRate(ValueError):
    """No reference rate is recorded for a half-year the calculation needs."""

    def __init__(self, half_year: str) -> None:
        self.half_year = half_year
        super().__init__(f"Referensränta saknas för {half_year_sv(half_year)}")


class ReferenceRateFileError(ValueError):
    """A rates file that cannot be used, naming the file, the key and the reason."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


class HalfYearRate(_Model):
    half_year: HalfYearKey
    percent: Percent


class ReferenceRates(_Model):
    source: Annotated[str, Field(min_length=1)]
    rates: list[HalfYearRate]

    @model_validator(mode="after")
    def _one_rate_per_half_year(self) -> ReferenceRates:
        seen: set[str] = set()
        for rate in self.rates:
            if rate.half_year in seen:
                raise ValueError(f"half-year {rate.half_year} is given more than once")
            seen.add(rate.half_year)
        return self

    def rate_for(self, day: date) -> Decimal:
        """The reference rate in percent for the half-year `day` falls in."""
        key = half_year_of(day)
        for rate in self.rates:
            if rate.half_year == key:
                return rate.percent
        raise MissingReferenceRate(key)

    def carried_forward(self, through: date) -> tuple[ReferenceRates, list[str]]:
        """These rates with every half-year missing up to `through` given the latest rate known
        before it, and the half-years so filled in. A figure computed with them is provisional:
        a claim must not stop being collected because Riksbanken's new rate is not entered yet,
        but whoever reads the figure must be told (the letters and receipts say so)."""
        known = {r.half_year: r.percent for r in self.rates}
        filled: list[str] = []
        added: list[HalfYearRate] = []
        day = date(int(min(known)[:4]), 1, 1)
        latest: Decimal | None = None
        while day <= through:
            key = half_year_of(day)
            if key in known:
                latest = known[key]
            elif latest is not None:
                added.append(HalfYearRate(half_year=key, percent=latest))
                filled.append(key)
            day = _last_day_of_half_year(day) + timedelta(days=1)
        if not added:
            return self, []
        return ReferenceRates(source=self.source, rates=[*self.rates, *added]), filled


def _where(loc: tuple[int | str, ...]) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).lstrip(".") or "(top level)"


def parse_reference_rates(text: str, source: str) -> ReferenceRates:
    try:
        raw: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ReferenceRateFileError(source, [f"not valid TOML: {exc}"]) from exc
    try:
        return ReferenceRates.model_validate(raw)
    except ValidationError as exc:
        problems = [f"{_where(tuple(e['loc']))}: {e['msg']}" for e in exc.errors()]
        raise ReferenceRateFileError(source, problems) from exc


# --- The claim ------------------------------------------------------------------------


class Repayment(_Model):
    paid_on: date
    amount: Annotated[Kronor, Field(gt=0)]


class ClaimTerms(_Model):
    """What the reclaim decision fixed; the margins are settings of the call or decision."""

    principal: Kronor
    interest_from: date
    due_date: date
    margin_before_due: PercentagePoints = Decimal(2)  # räntelagen 5 §
    margin_after_due: PercentagePoints = Decimal(8)  # räntelagen 6 §, dröjsmålsränta

    @model_validator(mode="after")
    def _interest_starts_by_due_date(self) -> ClaimTerms:
        if self.interest_from > self.due_date:
            raise ValueError("interest_from must not be after due_date")
        return self


class InterestPeriod(_Model):
    """Days `first_day`..`last_day` (both inclusive) at one rate on one principal."""

    first_day: date
    last_day: date
    annual_percent: Decimal  # reference + margin, already floored at zero
    base: Kronor  # the principal left during these days
    interest: Kronor  # rounded to öre

    @computed_field  # type: ignore[prop-decorator]  # mypy cannot see through pydantic's documented idiom
    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1


class AppliedRepayment(_Model):
    """How one repayment was split, so the officer can explain it to the debtor."""

    paid_on: date
    amount: Kronor
    to_interest: Kronor
    to_principal: Kronor
    excess: Kronor


class ClaimBalance(_Model):
    on: date
    principal_left: Kronor
    interest_due: Kronor  # accrued and not yet paid
    overpaid: Kronor
    overdue: bool
    periods: list[InterestPeriod]
    repayments: list[AppliedRepayment]

    @computed_field  # type: ignore[prop-decorator]  # mypy cannot see through pydantic's documented idiom
    @property
    def total_due(self) -> Decimal:
        return self.principal_left + self.interest_due


def _annual_percent(terms: ClaimTerms, day: date, rates: ReferenceRates) -> Decimal:
    margin = terms.margin_before_due if day <= terms.due_date else terms.margin_after_due
    return max(Decimal(0), rates.rate_for(day) + margin)


def _interest(base: Decimal, annual_percent: Decimal, days: int) -> Decimal:
    # Exact fractions until the one rounding per period.
    return to_ore(Fraction(base) * Fraction(annual_percent) * days / (100 * DAYS_PER_YEAR))


def _periods(terms: ClaimTerms, base: Decimal, first: date, last: date, rates: ReferenceRates) -> list[InterestPeriod]:
    """Days `first`..`last` on `base`, split wherever the annual rate may change."""
    periods: list[InterestPeriod] = []
    day = first
    while day <= last:
        end = min(last, _last_day_of_half_year(day))
        if day <= terms.due_date:
            end = min(end, terms.due_date)
        percent = _annual_percent(terms, day, rates)
        interest = _interest(base, percent, (end - day).days + 1)
        periods.append(
            InterestPeriod(first_day=day, last_day=end, annual_percent=percent, base=base, interest=interest)
        )
        day = end + timedelta(days=1)
    return periods


def claim_balance(terms: ClaimTerms, repayments: Iterable[Repayment], on: date, rates: ReferenceRates) -> ClaimBalance:
    """What the debtor owes at the end of day `on`, with every step of the calculation."""
    # Every amount out carries two decimals, so "36500" and "36500.00" never both appear.
    principal = to_ore(terms.principal)
    interest_due = to_ore(Decimal(0))
    overpaid = to_ore(Decimal(0))
    periods: list[InterestPeriod] = []
    applied: list[AppliedRepayment] = []
    accrued_through = terms.interest_from  # interest is counted up to and including this day

    def accrue(through: date) -> None:
        nonlocal interest_due, accrued_through
        if through <= accrued_through:
            return
        # Nothing accrues on nothing: a settled claim needs no rates for later days.
        if principal > 0:
            new = _periods(terms, principal, accrued_through + timedelta(days=1), through, rates)
            periods.extend(new)
            interest_due += total(p.interest for p in new)
        accrued_through = through

    # sorted() is stable: two repayments on one day keep the order they were registered in.
    for repayment in sorted((r for r in repayments if r.paid_on <= on), key=lambda r: r.paid_on):
        accrue(repayment.paid_on)  # the day of payment still bears interest on the old principal
        amount = to_ore(repayment.amount)
        to_interest = min(amount, interest_due)
        to_principal = min(amount - to_interest, principal)
        excess = amount - to_interest - to_principal
        interest_due -= to_interest
        principal -= to_principal
        overpaid += excess
        applied.append(AppliedRepayment(
            paid_on=repayment.paid_on, amount=amount,
            to_interest=to_interest, to_principal=to_principal, excess=excess,
        ))
    accrue(on)

    return ClaimBalance(
        on=on,
        principal_left=principal,
        interest_due=interest_due,
        overpaid=overpaid,
        overdue=on > terms.due_date and principal + interest_due > 0,
        periods=periods,
        repayments=applied,
    )


def days_overdue(terms: ClaimTerms, on: date) -> int:
    """Calendar days past the due date on `on` (0 until then), whether or not anything is unpaid."""
    return max(0, (on - terms.due_date).days)
