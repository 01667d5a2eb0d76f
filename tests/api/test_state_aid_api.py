"""The state-aid record over HTTP: a company's aid, and a call's aid as CSV for the state-aid register."""

from __future__ import annotations

from datetime import date

from activities.state_aid import RecordRequest, StateAidRecord
from api.auth import ApiRole
from tests.activities.test_state_aid_record import _a_case, _aid


async def test_a_companys_record_and_a_calls_csv(api):
    pool = api.harness.pool
    async with pool.connection() as conn:
        await _a_case(conn, "2026-00001")
    await StateAidRecord(pool).record(RecordRequest(case_number="2026-00001", call_id="export-samverkan-2021",
                                                    aid=[_aid("payment-request-1-1", date(2026, 3, 2), "110000.00")]))
    token = api.token(ApiRole.AUDITOR)
    record = (await api.as_(token, "GET", "/state-aid/5566778899")).json()
    assert record["org_number"] == "556677-8899" and record["company_name"] == "Exempel AB"
    assert [(a["case_number"], a["value_sek"], a["value_eur"]) for a in record["aid"]] == [
        ("2026-00001", "110000.00", "10000.00")]
    csv = await api.as_(token, "GET", "/calls/export-samverkan-2021/state-aid.csv")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines()[1].startswith("556677-8899,Exempel AB,2026-03-02,110000.00,10000.00")
    assert (await api.as_(token, "GET", "/calls/no-such-call/state-aid.csv")).status_code == 404
    bad = await api.as_(token, "GET", "/state-aid/850101-1236")
    assert bad.status_code == 422 and "enskild näringsidkare" in bad.text
