"""`grantflow state-aid`: a company's record across cases, and a call's aid as CSV, from the database."""

from __future__ import annotations

from datetime import date

import pytest

from activities.db import open_pool
from activities.state_aid import RecordRequest, StateAidRecord
from tests.activities.test_state_aid_record import _a_case, _aid
from tests.cli.test_cli import grantflow


@pytest.fixture
async def recorded(db, tmp_path):
    pool = await open_pool(db, max_size=2)
    try:
        async with pool.connection() as conn:
            await _a_case(conn, "2026-00001")
            await _a_case(conn, "2026-00002")
        record = StateAidRecord(pool)
        await record.record(RecordRequest(case_number="2026-00001", call_id="export-samverkan-2021",
                                          aid=[_aid("payment-request-1-1", date(2026, 3, 2), "110000.00")]))
        await record.record(RecordRequest(case_number="2026-00002", call_id="saker-digitalisering-2022",
                                          aid=[_aid("final-report-1", date(2026, 5, 4), "22000.00")]))
    finally:
        await pool.close()
    return {"GRANTFLOW_DATABASE_URL": db, "GRANTFLOW_DATA_DIR": str(tmp_path)}


async def test_a_companys_record_lists_its_aid_across_cases(recorded):
    result = grantflow("state-aid", "16556677-8899", env=recorded)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == ("Stöd av mindre betydelse till 556677-8899 Exempel AB genom myndighetens ärenden: 2 stöd,"
                        " sammanlagt 132\u00a0000\u00a0kr (12\u00a0000\u00a0euro)")
    assert "ärende 2026-00001 (export-samverkan-2021)" in lines[1] and "ärende 2026-00002" in lines[2]


async def test_a_calls_aid_as_csv_and_bad_input_named(recorded):
    result = grantflow("state-aid", "--call", "saker-digitalisering-2022", "--format", "csv", env=recorded)
    assert result.returncode == 0, result.stderr
    rows = result.stdout.splitlines()
    assert rows[0].startswith("org_number,") and len(rows) == 2
    assert rows[1].startswith("556677-8899,Exempel AB,2026-05-04")
    bad = grantflow("state-aid", "556677-8890", env=recorded)
    assert bad.returncode == 2 and "error: ORGNR: organisationsnumret är ogiltigt" in bad.stderr
    unknown = grantflow("state-aid", "--call", "no-such-call", env=recorded)
    assert unknown.returncode == 2 and "error: --call: det finns ingen utlysning 'no-such-call'" in unknown.stderr
    both = grantflow("state-aid", env=recorded)
    assert both.returncode == 2 and "error: ORGNR:" in both.stderr
