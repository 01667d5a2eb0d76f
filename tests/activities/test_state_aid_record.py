"""The state-aid record: the ceiling check's one query per company is an index range scan, and the rates."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import psycopg
import pytest

from activities.state_aid import (
    AID_TOTAL,
    ExchangeRateReader,
    RatesRequest,
    RecordRequest,
    StateAidRecord,
    TotalsRequest,
    aid_rows,
    as_csv,
    load_exchange_rates,
)
from domain.state_aid import GrantedAid, RateOfDay, StateAidQuery
from infra.settings import Settings, SettingsError

COMPANY = "556677-8899"


async def _a_case(conn, number: str = "2026-00001") -> None:
    await conn.execute(
        "INSERT INTO cases (case_number, submission_id, call_id, received_at, sender_name, subject,"
        " requested_amount, stage) VALUES (%s, %s, 'c', now(), 'x', 'y', 1, 'payments')", (number, number))


def _aid(aid_id: str, day: date, value: str) -> GrantedAid:
    rate = RateOfDay(day=day, published_on=day, sek_per_eur=Decimal("11.00"))
    return GrantedAid(aid_id=aid_id, org_number=COMPANY, name="Exempel AB", aid="Coachning", granted_on=day,
                      value=Decimal(value), value_eur=rate.to_euro(Decimal(value)), rate=rate,
                      rule_id="ES21-DE-MINIMIS-2831", regulation="kommissionens förordning (EU) 2023/2831",
                      ceiling_eur=Decimal("300000.00"), period_sv="en rullande period om 3 år")


async def test_the_check_asks_one_index_range_scan_per_company(pool):
    async with pool.connection() as conn:
        await _a_case(conn)
        # Many companies and years of aid, so that the planner chooses as it would in production.
        await conn.execute("""
            INSERT INTO state_aid (case_number, aid_id, call_id, org_number, company_name, aid, granted_on,
                                   value_sek, value_eur, sek_per_eur, rate_published_on, rule_id, regulation,
                                   ceiling_eur)
            SELECT '2026-00001', 'a' || i, 'c', lpad((5560000000 + i % 4000)::text, 10, '0'), 'F', 'A',
                   date '2021-01-01' + (i % 2000), 1000, 90, 11, date '2021-01-01', 'R-1', 'r', 300000
            FROM generate_series(1, 20000) AS i""")
        await conn.execute("ANALYZE state_aid")
        cursor = psycopg.AsyncClientCursor(conn)
        await cursor.execute("EXPLAIN (FORMAT JSON) " + AID_TOTAL,
                             {"org_number": "5560000042", "first": date(2023, 1, 1), "last": date(2025, 12, 31)})
        row = await cursor.fetchone()
    assert row is not None
    plan = row[0][0]["Plan"]
    scans = []

    def walk(node):
        scans.append((node["Node Type"], node.get("Index Name")))
        for child in node.get("Plans", []):
            walk(child)

    walk(plan)
    # An index (only) scan, or a bitmap scan of the index before a VACUUM has marked the pages visible.
    assert any(index == "state_aid_company" for _, index in scans), scans
    assert not any(kind == "Seq Scan" for kind, _ in scans)


async def test_totals_count_every_case_and_only_the_window_and_a_record_is_written_once(pool):
    async with pool.connection() as conn:
        await _a_case(conn, "2026-00001")
        await _a_case(conn, "2026-00002")
    record = StateAidRecord(pool)
    first = RecordRequest(case_number="2026-00001", call_id="call-a", aid=[_aid("payment-request-1-1",
                                                                                  date(2025, 3, 1), "110000.00")])
    await record.record(first)
    await record.record(first)  # a retry writes nothing more
    await record.record(RecordRequest(case_number="2026-00002", call_id="call-b", aid=[
        _aid("payment-request-1-1", date(2026, 6, 1), "55000.00"), ]))
    read = await record.totals(TotalsRequest(queries=[
        StateAidQuery(org_number="5566778899", first=date(2023, 6, 2), last=date(2026, 6, 1)),
        StateAidQuery(org_number="5566778899", first=date(2025, 6, 1), last=date(2026, 6, 1)),
        StateAidQuery(org_number="5560123456", first=date(2023, 6, 2), last=date(2026, 6, 1)),
    ]))
    assert [(t.count, t.eur, t.sek) for t in read.totals] == [
        (2, Decimal("15000.00"), Decimal("165000.00")), (1, Decimal("5000.00"), Decimal("55000.00")),
        (0, Decimal(0), Decimal(0))]
    # Day by day, for the check to find the heaviest window containing the aid's day.
    assert [[(d.granted_on, d.count, d.eur) for d in t.days] for t in read.totals] == [
        [(date(2025, 3, 1), 1, Decimal("10000.00")), (date(2026, 6, 1), 1, Decimal("5000.00"))],
        [(date(2026, 6, 1), 1, Decimal("5000.00"))], []]
    rows = await aid_rows(pool, org_number="16556677-8899")
    assert [(r.case_number, r.call_id) for r in rows] == [("2026-00001", "call-a"), ("2026-00002", "call-b")]
    csv = as_csv(await aid_rows(pool, call_id="call-b"))
    assert csv.splitlines()[0].startswith("org_number,company_name,granted_on,value_sek,value_eur")
    assert csv.splitlines()[1].startswith("556677-8899,Exempel AB,2026-06-01,55000.00,5000.00")


async def test_a_day_without_a_rate_takes_the_last_earlier_one():
    read = await ExchangeRateReader().read(RatesRequest(days=[date(2024, 3, 2), date(2024, 3, 1),
                                                              date(2020, 12, 31)]))
    assert [(r.day, r.published_on, r.sek_per_eur) for r in read.rates] == [
        (date(2024, 3, 1), date(2024, 3, 1), Decimal("11.1948")),
        (date(2024, 3, 2), date(2024, 3, 1), Decimal("11.1948")),  # a Saturday: Friday's rate
    ]  # 2020-12-31: before the first rate installed, so none
    assert load_exchange_rates().days[0] == date(2021, 1, 4)


async def test_a_rates_file_named_in_the_settings_is_read_and_read_again_when_replaced(tmp_path):
    path = tmp_path / "rates.toml"
    path.write_text('source = "Test"\n[sek_per_eur]\n2026-12-01 = "11.0000"\n', encoding="utf-8")
    settings = Settings.from_env({"GRANTFLOW_EXCHANGE_RATES_FILE": str(path)})
    reader = ExchangeRateReader(settings.exchange_rates_file)
    asked = RatesRequest(days=[date(2026, 12, 1), date(2026, 12, 8), date(2026, 12, 9)])
    read = await reader.read(asked)
    assert (read.source, [(r.day, r.sek_per_eur) for r in read.rates]) == (
        "Test", [(date(2026, 12, 1), Decimal("11.0000")), (date(2026, 12, 8), Decimal("11.0000"))])
    # Newer rates installed: the next read has them (2026-12-09 is within a week of the new last rate).
    path.write_text('source = "Test"\n[sek_per_eur]\n2026-12-01 = "12.5"\n2026-12-02 = "12.5"\n', encoding="utf-8")
    read = await reader.read(asked)
    assert [(r.day, r.sek_per_eur) for r in read.rates] == [
        (date(2026, 12, 1), Decimal("12.5")), (date(2026, 12, 8), Decimal("12.5")),
        (date(2026, 12, 9), Decimal("12.5"))]


def test_a_rates_file_that_cannot_be_used_is_named_when_the_settings_are_read(tmp_path):
    with pytest.raises(SettingsError, match=r"GRANTFLOW_EXCHANGE_RATES_FILE: .*missing.toml is not a readable file"):
        Settings.from_env({"GRANTFLOW_EXCHANGE_RATES_FILE": str(tmp_path / "missing.toml")})
    bad = tmp_path / "bad.toml"
    bad.write_text("[sek_per_eur]\n2026-12-01 = 11.0\n", encoding="utf-8")
    with pytest.raises(SettingsError, match=r"GRANTFLOW_EXCHANGE_RATES_FILE: .*bad.toml: sek_per_eur.2026-12-01"):
        Settings.from_env({"GRANTFLOW_EXCHANGE_RATES_FILE": str(bad)})
