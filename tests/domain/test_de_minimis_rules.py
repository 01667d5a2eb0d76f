"""The de minimis rules as data: which regulation covers a day, the window it counts, the check's arithmetic."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from pydantic import ValidationError

from domain.state_aid import (
    AidTotal,
    CompanyAid,
    RateOfDay,
    StateAidResolution,
    ceiling_for,
    check_companies,
    check_refusal,
    parse_exchange_rates,
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
