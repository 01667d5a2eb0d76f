"""State aid to the companies a project reaches: de minimis ceilings, exchange rates and the check.

The grant goes to the project's owner, but the coaching, training and advice a participating
company receives is aid to that company (both seed calls say so). The applicant reports each
company with its payment requests and the final report; when the officer reviews them, each
company's aid is added to what it declared it had received earlier in the period and to what it
received through every grantflow case, and compared with the ceiling of the regulation that
applies. The regulations are the call's data (`[[state_aid.ceilings]]` in its file), the exchange
rates are installed data (`domain/exchange_rates.toml`), read into the case by a recorded
activity; nothing here reads a clock, a file or a database
(docs/decisions/0033-state-aid-to-participating-companies.md).

Amounts: the aid is reported in kronor and converted to euro at the rate of the day it is
granted (a weekend or holiday without a rate takes the last earlier rate, at most a week old;
a day further after the last rate installed has none, and the check asks for the rates). The
company declares its earlier de minimis aid in euro, as the certificates of other grantors
state it; aid through grantflow's own cases is counted here and must not be in the declaration.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from domain.identity import InvalidIdentityNumber, parse_identity_number
from domain.money import Kronor, format_kronor, to_ore
from domain.text import Clean

RATES_FILE = "exchange_rates.toml"
CENT = Decimal("0.01")
# How long a day without a rate may take the last earlier one. The ECB publishes none on weekends and
# TARGET holidays (the longest run, Good Friday to Easter Monday, is four days); a week covers them all.
# A day further from the last rate is after the rates installed: no rate, not a stale one.
CARRY_FORWARD = timedelta(days=7)
_RATE_MAX_PLACES = 6

RuleId = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)+$", max_length=40)]
Heading = Annotated[str, StringConstraints(min_length=1, max_length=200)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300), Clean]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000), Clean]
Euro = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2, allow_inf_nan=False)]
Positive = Annotated[Decimal, Field(gt=0, max_digits=14, decimal_places=2, allow_inf_nan=False)]
Email = Annotated[str, StringConstraints(strip_whitespace=True, max_length=254,
                                         pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"), Clean]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


def organisation_number(text: str) -> str:
    """A company's organisation number as NNNNNN-NNNN; a ValueError with a Swedish reason otherwise."""
    try:
        number = parse_identity_number(text)
    except InvalidIdentityNumber as error:
        raise ValueError(f"organisationsnumret är ogiltigt: {error.reason}") from None
    if number.is_personal:
        # A sole trader's number is a personnummer: it would be personal data in the state-aid record.
        raise ValueError("ange ett organisationsnummer; en enskild näringsidkare kan inte redovisas här")
    return number.formatted()


OrgNumber = Annotated[str, StringConstraints(strip_whitespace=True, max_length=20),
                      AfterValidator(organisation_number)]


def org_digits(org_number: str) -> str:
    """The ten digits the state-aid record is keyed by: 556912-3408 and 16556912-3408 are one company."""
    return parse_identity_number(org_number).digits


def format_euro(amount: Decimal) -> str:
    """Swedish style, like kronor: "200 000 euro", "1 234,56 euro"."""
    return format_kronor(amount).removesuffix("\u00a0kr") + "\u00a0euro"


# --- what the applicant reports -----------------------------------------------------------------


class CompanyAid(Model):
    """One company the project reached, what it received and when, and its own declaration."""

    org_number: OrgNumber
    name: ShortText
    aid: ShortText = Field(description="What the company received, e.g. 'Coachning i exportstrategi, 20 timmar'")
    value: Positive = Field(description="The aid's value in kronor")
    granted_on: date = Field(description="The day the company received the aid")
    earlier_aid_eur: Euro = Field(description=(
        "The company's declaration: de minimis aid in euro it received from other grantors in the period the"
        " regulation counts (grantflow's own cases are counted by grantflow)"))
    email: Email | None = Field(None, description="Where the company's certificate is e-mailed; posted otherwise")


def companies_problem(companies: list[CompanyAid], first: date, last: date, what: str) -> str | None:
    """Why reported companies cannot be filed: a date outside `first`..`last`, or a company twice."""
    seen: set[str] = set()
    for i, company in enumerate(companies, start=1):
        if not first <= company.granted_on <= last:
            return (f"Företag {i} ({company.name}): stödet är daterat {company.granted_on}, utanför {what}"
                    f" {first} – {last}.")
        key = org_digits(company.org_number)
        if key in seen:
            return f"Företag {i} ({company.name}) är redan redovisat; redovisa varje företag en gång per rapport."
        seen.add(key)
    return None


# --- the rules as data: the call's ceilings ----------------------------------------------------------


class DeMinimisCeiling(Model):
    """One de minimis regulation as a rule of the call: its ceiling over its period, for aid granted
    from `granted_from` through `granted_until`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: RuleId
    check: Literal["de_minimis_ceiling"]
    section: Heading
    text: Annotated[str, StringConstraints(min_length=1, max_length=2000)]
    regulation: Annotated[str, StringConstraints(min_length=1, max_length=300)]
    ceiling_eur: Positive
    period: Literal["fiscal_years", "rolling_years"]
    years: Annotated[int, Field(ge=1, le=10)] = 3
    granted_from: date | None = None
    granted_until: date | None = None

    @model_validator(mode="after")
    def _in_order(self) -> DeMinimisCeiling:
        if self.granted_from and self.granted_until and self.granted_from > self.granted_until:
            raise ValueError("granted_from must not be after granted_until")
        return self

    def covers(self, day: date) -> bool:
        return (self.granted_from is None or day >= self.granted_from) and (
            self.granted_until is None or day <= self.granted_until)

    def window(self, day: date) -> tuple[date, date]:
        """The days whose aid counts together with aid granted on `day`.

        Fiscal years: the current and the previous `years - 1`, taken as calendar years (a company
        with another fiscal year is the officer's to judge from its declaration). Rolling years:
        the `years` years that end on `day`."""
        if self.period == "fiscal_years":
            return date(day.year - self.years + 1, 1, 1), date(day.year, 12, 31)
        try:
            start = day.replace(year=day.year - self.years)
        except ValueError:  # 29 February
            start = day.replace(year=day.year - self.years, day=28)
        return start + timedelta(days=1), day

    def reach(self, day: date) -> tuple[date, date]:
        """The days any window containing `day` covers: the record's rows the check needs, in one range.

        Aid recorded later may be dated later than `day` (another case's report): every window that
        contains `day` counts this aid, so each of them must stay under the ceiling."""
        if self.period == "fiscal_years":
            return self.window(day)[0], date(day.year + self.years - 1, 12, 31)
        try:
            end = day.replace(year=day.year + self.years)
        except ValueError:  # 29 February
            end = day.replace(year=day.year + self.years, month=3, day=1)
        return self.window(day)[0], end - timedelta(days=1)

    def windows_containing(self, day: date, later: Iterable[date]) -> list[tuple[date, date]]:
        """The windows containing `day` in which a total can be largest: the one ending on `day` (the
        fiscal years of `day`) and those ending on each later day with aid (each later fiscal year)."""
        ends = [date(day.year + k, 1, 1) for k in range(1, self.years)] if self.period == "fiscal_years" else sorted(
            {d for d in later if d > day})
        windows = [self.window(day)] + [self.window(end) for end in ends]
        return [(first, last) for first, last in windows if first <= day <= last]

    def period_sv(self) -> str:
        if self.period == "fiscal_years":
            return f"innevarande och de {self.years - 1} föregående beskattningsåren"
        return f"en rullande period om {self.years} år"


def ceiling_for(ceilings: Iterable[DeMinimisCeiling], day: date) -> DeMinimisCeiling | None:
    """The first of the call's ceilings that covers aid granted on `day`."""
    return next((c for c in ceilings if c.covers(day)), None)


# --- exchange rates -----------------------------------------------------------------------------------


class RateOfDay(Model):
    """The rate used for aid granted on `day`: the one published on `published_on` (that day or the last earlier)."""

    day: date
    published_on: date
    sek_per_eur: Annotated[Decimal, Field(gt=0, max_digits=12, decimal_places=_RATE_MAX_PLACES)]

    def to_euro(self, kronor: Decimal) -> Decimal:
        return (kronor / self.sek_per_eur).quantize(CENT, rounding=ROUND_HALF_UP)

    def to_kronor(self, euro: Decimal) -> Decimal:
        return to_ore(euro * self.sek_per_eur)

    def sv(self) -> str:
        rate = format(self.sek_per_eur.normalize(), "f").replace(".", ",")
        return f"{rate} kr per euro (Europeiska centralbankens referenskurs {self.published_on})"


class ExchangeRates(Model):
    """The installed rates, in date order: `rate_for` applies the rule for a day without a rate."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str
    days: tuple[date, ...]
    rates: tuple[Decimal, ...]

    def rate_for(self, day: date) -> RateOfDay | None:
        """The rate of `day`, or the last earlier one within `CARRY_FORWARD`; None before the first
        rate installed and more than `CARRY_FORWARD` after the last (the rates are not installed yet)."""
        from bisect import bisect_right

        i = bisect_right(self.days, day)
        if i == 0 or day - self.days[i - 1] > CARRY_FORWARD:
            return None
        return RateOfDay(day=day, published_on=self.days[i - 1], sek_per_eur=self.rates[i - 1])


class ExchangeRatesError(ValueError):
    """A rates file that cannot be used, naming the file, the key and the reason."""


def parse_exchange_rates(text: str, source: str) -> ExchangeRates:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ExchangeRatesError(f"{source}: not valid TOML: {error}") from error
    table = raw.get("sek_per_eur")
    if not isinstance(table, dict) or not table:
        raise ExchangeRatesError(f"{source}: sek_per_eur: a table of day = \"rate\" is required")
    days: list[date] = []
    rates: list[Decimal] = []
    for key, value in table.items():
        try:
            day = date.fromisoformat(key)
        except ValueError:
            raise ExchangeRatesError(f"{source}: sek_per_eur.{key}: not a day (YYYY-MM-DD)") from None
        if not isinstance(value, str):
            raise ExchangeRatesError(f"{source}: sek_per_eur.{key}: write the rate as a string, e.g. \"11.0925\"")
        try:
            rate = Decimal(value)
        except InvalidOperation:
            raise ExchangeRatesError(f"{source}: sek_per_eur.{key}: not a number") from None
        if not rate.is_finite() or rate <= 0:
            raise ExchangeRatesError(f"{source}: sek_per_eur.{key}: must be a positive number")
        if days and day <= days[-1]:
            raise ExchangeRatesError(f"{source}: sek_per_eur.{key}: days must be in increasing order")
        days.append(day)
        rates.append(rate)
    return ExchangeRates(source=str(raw.get("source", source)), days=tuple(days), rates=tuple(rates))


# --- the check ------------------------------------------------------------------------------------------


class AidOfDay(Model):
    """A company's aid granted on one day, in every case."""

    granted_on: date
    count: int
    eur: Decimal
    sek: Decimal


class AidTotal(Model):
    """What the state-aid record holds for one company from `first` through `last`: one indexed query's
    answer, with the aid of each day (`days`; None in a check recorded before it was asked for, whose
    `first` .. `last` was the one window it counted)."""

    org_number: str
    first: date
    last: date
    count: int = 0
    eur: Decimal = Decimal(0)
    sek: Decimal = Decimal(0)
    days: list[AidOfDay] | None = None


def heaviest_window(rule: DeMinimisCeiling, day: date, days: list[AidOfDay], org_number: str) -> AidTotal:
    """Of the rule's windows that contain `day`, the one whose recorded aid is largest, with its figures.

    Aid granted on `day` counts in each window that contains it: under the rolling rule, aid another
    case recorded earlier but dated later can put a window ending after `day` over the ceiling, and
    under the fiscal-year rule any three fiscal years that include the day's year count. The earliest
    window wins a tie, so a company with no later aid is shown the window ending on `day`."""
    best: AidTotal | None = None
    for first, last in rule.windows_containing(day, (d.granted_on for d in days)):
        inside = [d for d in days if first <= d.granted_on <= last]
        total = AidTotal(org_number=org_number, first=first, last=last, count=sum(d.count for d in inside),
                         eur=sum((d.eur for d in inside), Decimal(0)), sek=sum((d.sek for d in inside), Decimal(0)))
        if best is None or total.eur > best.eur:
            best = total
    assert best is not None  # the window ending on `day` always contains it
    return best


class StateAidResolution(Model):
    """The officer's resolution of a company over its ceiling (or any reported company): the aid it
    receives is `value` kronor instead (0: none, e.g. it pays the full price), and why."""

    org_number: OrgNumber
    value: Kronor
    reason: Reason


class CompanyCheck(Model):
    """One reported company against its ceiling, with every figure the officer and the certificate show."""

    org_number: str
    name: str
    aid: str
    granted_on: date
    value: Decimal  # kronor, after the officer's resolution where there is one
    value_eur: Decimal
    rate: RateOfDay
    earlier_aid_eur: Decimal
    through_grantflow_eur: Decimal
    through_grantflow_sek: Decimal
    through_grantflow_count: int
    rule_id: str
    regulation: str
    ceiling_eur: Decimal
    period_sv: str
    first: date
    last: date
    resolution: StateAidResolution | None = None
    email: str | None = None

    @property
    def total_eur(self) -> Decimal:
        return self.earlier_aid_eur + self.through_grantflow_eur + self.value_eur

    @property
    def over(self) -> bool:
        return self.total_eur > self.ceiling_eur

    def finding_sv(self) -> str:
        excess = self.total_eur - self.ceiling_eur
        return (
            f"{self.name} ({self.org_number}) går över taket för stöd av mindre betydelse: stödet"
            f" {format_kronor(self.value)} ({format_euro(self.value_eur)}), tidigare stöd enligt företagets"
            f" försäkran {format_euro(self.earlier_aid_eur)} och stöd genom myndighetens ärenden"
            f" {format_kronor(self.through_grantflow_sek)} ({format_euro(self.through_grantflow_eur)})"
            f" under {self.first} – {self.last} blir tillsammans {format_euro(self.total_eur)}"
            f" ({format_kronor(self.rate.to_kronor(self.total_eur))}). Taket är"
            f" {format_euro(self.ceiling_eur)} ({format_kronor(self.rate.to_kronor(self.ceiling_eur))}) under"
            f" {self.period_sv} enligt {self.regulation} (regel {self.rule_id}); överskridandet är"
            f" {format_euro(excess)} ({format_kronor(self.rate.to_kronor(excess))}). Kurs: {self.rate.sv()}."
        )


class StateAidCheck(Model):
    """The check of one report's companies, as the case recorded it when the officer reviewed it."""

    report: str  # "payment-request-N" or "final-report"
    checked_at: datetime
    companies: list[CompanyCheck]

    @property
    def over(self) -> list[CompanyCheck]:
        return [c for c in self.companies if c.over]


class StateAidQuery(Model):
    """What the workflow asks the record for one company: its aid in one window, in every case."""

    org_number: str  # ten digits
    first: date
    last: date


def queries(ceilings: Iterable[DeMinimisCeiling], companies: list[CompanyAid]) -> list[StateAidQuery]:
    """One query per reported company whose day a ceiling of the call covers: every day any window
    containing the aid's day covers (`DeMinimisCeiling.reach`)."""
    ceilings = list(ceilings)
    out = []
    for company in companies:
        rule = ceiling_for(ceilings, company.granted_on)
        if rule is not None:
            first, last = rule.reach(company.granted_on)
            out.append(StateAidQuery(org_number=org_digits(company.org_number), first=first, last=last))
    return out


def check_companies(report: str, ceilings: Iterable[DeMinimisCeiling], companies: list[CompanyAid],
                    rates: list[RateOfDay], totals: list[AidTotal], resolutions: list[StateAidResolution],
                    now: datetime) -> StateAidCheck | str:
    """Each company against its ceiling; a Swedish reason instead when a figure is missing."""
    ceilings = list(ceilings)
    by_day = {r.day: r for r in rates}
    by_org = {t.org_number: t for t in totals}
    resolved = {org_digits(r.org_number): r for r in resolutions}
    reported = {org_digits(c.org_number) for c in companies}
    for key, given in resolved.items():
        if key not in reported:
            return f"{given.org_number} är inte redovisat i rapporten som prövas."
    checks = []
    for company in companies:
        rule = ceiling_for(ceilings, company.granted_on)
        if rule is None:
            return (f"Utlysningen anger inget tak för stöd av mindre betydelse som gäller stöd beviljat"
                    f" {company.granted_on} ({company.name}).")
        rate = by_day.get(company.granted_on)
        if rate is None:
            return f"Växelkurs för euro saknas för {company.granted_on} ({company.name}); installera kurserna."
        key = org_digits(company.org_number)
        first, last = rule.window(company.granted_on)
        total = by_org.get(key, AidTotal(org_number=key, first=first, last=last))
        if total.days is not None:
            total = heaviest_window(rule, company.granted_on, total.days, key)
        # else: a check recorded before the record was asked for each day, replayed: its one window's sums.
        first, last = total.first, total.last
        resolution = resolved.get(key)
        if resolution is not None and resolution.value > company.value:
            return (f"{company.name}: stödet kan inte sättas högre än det redovisade"
                    f" {format_kronor(company.value)}.")
        value = resolution.value if resolution else company.value
        checks.append(CompanyCheck(
            org_number=company.org_number, name=company.name, aid=company.aid, granted_on=company.granted_on,
            value=value, value_eur=rate.to_euro(value), rate=rate, earlier_aid_eur=company.earlier_aid_eur,
            through_grantflow_eur=total.eur, through_grantflow_sek=total.sek,
            through_grantflow_count=total.count, rule_id=rule.id, regulation=rule.regulation,
            ceiling_eur=rule.ceiling_eur, period_sv=rule.period_sv(), first=first, last=last,
            resolution=resolution, email=company.email,
        ))
    return StateAidCheck(report=report, checked_at=now, companies=checks)


def check_refusal(check: StateAidCheck) -> str | None:
    """The finding the officer must resolve before approving, in Swedish; None when none is over."""
    over = check.over
    if not over:
        return None
    lines = "\n".join(f"- {c.finding_sv()}" for c in over)
    return ("Stöd av mindre betydelse: företag går över taket. Ange för varje sådant företag ett lägre stöd som"
            " ryms under taket, eller 0 kr, med skäl (state_aid i prövningen), innan rapporten godkänns.\n"
            + lines)


class GrantedAid(Model):
    """Aid the case has granted a company: a row of the state-aid record and the certificate's content."""

    aid_id: str  # unique in the case: the report and the company's place in it
    org_number: str
    name: str
    aid: str
    granted_on: date
    value: Decimal
    value_eur: Decimal
    rate: RateOfDay
    rule_id: str
    regulation: str
    ceiling_eur: Decimal
    period_sv: str

    @classmethod
    def of(cls, aid_id: str, check: CompanyCheck) -> GrantedAid:
        return cls(aid_id=aid_id, org_number=check.org_number, name=check.name, aid=check.aid,
                   granted_on=check.granted_on, value=check.value, value_eur=check.value_eur, rate=check.rate,
                   rule_id=check.rule_id, regulation=check.regulation, ceiling_eur=check.ceiling_eur,
                   period_sv=check.period_sv)


class CaseStateAid(Model):
    """A case's state aid: the latest check of each report, and the aid granted."""

    checks: dict[str, StateAidCheck] = {}
    granted: list[GrantedAid] = []


def certificate_context(aid: GrantedAid) -> dict[str, str]:
    """The formatted Swedish strings of a certificate letter (domain.letters: de_minimis_certificate)."""
    return {
        "company_name": aid.name, "org_number": aid.org_number, "aid": aid.aid, "granted_on": str(aid.granted_on),
        "value": format_kronor(aid.value), "value_eur": format_euro(aid.value_eur), "rate": aid.rate.sv(),
        "regulation": aid.regulation, "ceiling": format_euro(aid.ceiling_eur), "aid_period": aid.period_sv,
    }
