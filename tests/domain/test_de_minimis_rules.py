"""The de minimis rules as data: which regulation covers a day, the window it counts, the check's arithmetic."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from pydantic import ValidationError

from domain.state_aid import (
    AidOfDay,
    AidTotal,
    CompanyAid,
    RateOfDay,
    StateAidResolution,
    ceiling_for,
    check_companies,
    check_refusal,
    heaviest_window,
    parse_exchange_rates,
    queries,
)
from infra.calls import load_catalog

CEILINGS = load_catalog().get("saker-digitalisering-2022").state_aid.ceilings
NOW = datetime(2026, 12, 5, tzinfo=UTC)


def test_the_regulation_follows_the_day_the_aid_is_granted_and_counts_its_own_period():
    old, new = ceiling_for(CEILINGS, date(2023, 12, 31)), ceiling_for(CEILINGS, date(2024, 1, 1))
    assert (old.id, old.ceiling_eur, new.id, new.ceiling_eur) == (
        "SD22-DE-MINIMIS-1407", Decimal(200000), "SD22-DE-MINIMIS-2831", Decimal(300000))
    # Reg. 1407/2013: the current and two previous fiscal years; Reg. 2023/2831: three rolling years.
    assert old.window(date(2022, 6, 13)) == (date(2020, 1, 1), date(2022, 12, 31))
    assert new.window(date(2026, 12, 10)) == (date(2023, 12, 11), date(2026, 12, 10))
    assert new.window(date(2028, 2, 29)) == (date(2025, 3, 1), date(2028, 2, 29))


def test_a_day_without_a_rate_takes_the_last_earlier_one_within_a_week_and_a_bad_file_is_named():
    rates = parse_exchange_rates('source = "ECB"\n[sek_per_eur]\n2024-03-01 = "11.1948"\n2024-03-04 = "11.20"\n',
                                 "rates.toml")
    assert rates.rate_for(date(2024, 3, 3)).published_on == date(2024, 3, 1)
    assert rates.rate_for(date(2024, 2, 29)) is None
    # After the last rate: a week carries it (a weekend, Easter); a day further has none, not a stale rate.
    assert rates.rate_for(date(2024, 3, 11)).published_on == date(2024, 3, 4)
    assert rates.rate_for(date(2024, 3, 12)) is None
    with pytest.raises(ValueError, match=r"rates.toml: sek_per_eur.2024-03-01: write the rate as a string"):
        parse_exchange_rates("[sek_per_eur]\n2024-03-01 = 11.19\n", "rates.toml")


def _company(value: str, earlier: str) -> CompanyAid:
    return CompanyAid(org_number="5560123456", name="Exempel Mekaniska AB", aid="Coachning", value=Decimal(value),
                      granted_on=date(2026, 12, 10), earlier_aid_eur=Decimal(earlier))


def test_the_check_adds_the_declaration_and_every_case_and_a_resolution_can_bring_it_under():
    day = date(2026, 12, 10)
    rate = RateOfDay(day=day, published_on=date(2026, 10, 30), sek_per_eur=Decimal("10.978"))
    total = AidTotal(org_number="5560123456", first=date(2023, 12, 11), last=day, count=1,
                     eur=Decimal("36436.51"), sek=Decimal("400000.00"))
    companies = [_company("200000.00", "250000")]
    check = check_companies("payment-request-1", CEILINGS, companies, [rate], [total], [], NOW)
    [company] = check.over
    assert company.value_eur == Decimal("18218.25") and company.total_eur == Decimal("304654.76")
    assert "överskridandet är 4\u00a0654,76\u00a0euro (51\u00a0099,96\u00a0kr)" in check_refusal(check)
    resolution = StateAidResolution(org_number="556012-3456", value=Decimal("100000.00"), reason="Halva.")
    resolved = check_companies("payment-request-1", CEILINGS, companies, [rate], [total], [resolution], NOW)
    assert check_refusal(resolved) is None and resolved.companies[0].value == Decimal("100000.00")
    too_much = resolution.model_copy(update={"value": Decimal("300000.00")})
    assert "kan inte sättas högre" in check_companies("r", CEILINGS, companies, [rate], [total], [too_much], NOW)
    assert "Växelkurs för euro saknas" in check_companies("r", CEILINGS, companies, [], [total], [], NOW)


def test_a_reported_company_needs_an_organisation_number():
    with pytest.raises(ValidationError, match="en enskild näringsidkare kan inte redovisas här"):
        CompanyAid(org_number="850101-1236", name="Firma", aid="Coachning", value=Decimal(1),
                   granted_on=date(2026, 1, 1), earlier_aid_eur=Decimal(0))


def _aid(day: date, eur: str) -> AidOfDay:
    return AidOfDay(granted_on=day, count=1, eur=Decimal(eur), sek=Decimal(eur) * 11)


def test_aid_recorded_earlier_but_dated_later_counts_in_every_window_containing_the_day():
    # Reg. 2023/2831, rolling: case A recorded 250 000 euro dated 2024-06-01; case B reports aid dated
    # 2024-03-01. The window ending on B's day (2021-03-02 .. 2024-03-01) misses A; the one ending on
    # A's day (2021-06-02 .. 2024-06-01) contains both, and is the one B is checked against.
    rule = ceiling_for(CEILINGS, date(2024, 3, 1))
    assert rule.reach(date(2024, 3, 1)) == (date(2021, 3, 2), date(2027, 2, 28))
    # Aid dated 2027-03-01 is in no window containing 2024-03-01 (the last ends 2027-02-28).
    old, a, far = _aid(date(2021, 4, 1), "10000"), _aid(date(2024, 6, 1), "250000"), _aid(date(2027, 3, 1), "1")
    worst = heaviest_window(rule, date(2024, 3, 1), [old, a, far], "5560123456")
    assert (worst.first, worst.last, worst.count, worst.eur) == (
        date(2021, 6, 2), date(2024, 6, 1), 1, Decimal("250000"))
    # Aid only before the day: the window ending on the day, as before.
    only_old = heaviest_window(rule, date(2024, 3, 1), [old], "5560123456")
    assert (only_old.first, only_old.last, only_old.eur) == (date(2021, 3, 2), date(2024, 3, 1), Decimal("10000"))
    # In the check: B's 100 000 kr (9 090,91 euro at 11) with A's 250 000 and a declared 50 000 euro is over.
    company = CompanyAid(org_number="5560123456", name="Exempel Mekaniska AB", aid="Coachning",
                         value=Decimal("100000.00"), granted_on=date(2024, 3, 1), earlier_aid_eur=Decimal("50000"))
    rate = RateOfDay(day=date(2024, 3, 1), published_on=date(2024, 3, 1), sek_per_eur=Decimal("11"))
    [query] = queries(CEILINGS, [company])
    total = AidTotal(org_number=query.org_number, first=query.first, last=query.last, days=[old, a, far])
    check = check_companies("payment-request-1", CEILINGS, [company], [rate], [total], [], NOW)
    [over] = check.over
    assert (over.first, over.last, over.through_grantflow_eur, over.total_eur) == (
        date(2021, 6, 2), date(2024, 6, 1), Decimal("250000"), Decimal("309090.91"))
    assert "under 2021-06-02 – 2024-06-01 blir tillsammans 309\u00a0090,91\u00a0euro" in check_refusal(check)


def test_under_the_fiscal_year_rule_any_three_fiscal_years_including_the_days_year_count():
    # Reg. 1407/2013: aid dated 2022-05-01 counts in 2020-2022, 2021-2023 and 2022-2024; aid recorded in
    # 2023 and 2024 makes 2022-2024 the heaviest, though 2020-2022 is the window of the day itself.
    rule = ceiling_for(CEILINGS, date(2022, 5, 1))
    assert rule.reach(date(2022, 5, 1)) == (date(2020, 1, 1), date(2024, 12, 31))
    days = [_aid(date(2020, 2, 1), "50000"), _aid(date(2023, 2, 1), "40000"), _aid(date(2024, 2, 1), "30000")]
    worst = heaviest_window(rule, date(2022, 5, 1), days, "5560123456")
    assert (worst.first, worst.last, worst.count, worst.eur) == (date(2022, 1, 1), date(2024, 12, 31), 2,
                                                                 Decimal("70000"))
    assert rule.windows_containing(date(2022, 5, 1), []) == [
        (date(2020, 1, 1), date(2022, 12, 31)), (date(2021, 1, 1), date(2023, 12, 31)),
        (date(2022, 1, 1), date(2024, 12, 31))]
    # Nothing recorded: the day's own fiscal years, empty.
    none = heaviest_window(rule, date(2022, 5, 1), [], "5560123456")
    assert (none.first, none.last, none.count, none.eur) == (date(2020, 1, 1), date(2022, 12, 31), 0, Decimal(0))
