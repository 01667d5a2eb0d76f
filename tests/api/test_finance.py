"""Finance through the API: a granted case's advance waits for the bank, goes into a bank file, and the
file downloads as a valid pain.001."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from typing import Any

from activities.payments import PAIN_001, schema_errors
from tests.api.conftest import Api
from tests.workflows.test_after_decision import granted_case

NS = {"p": PAIN_001}


async def waiting(api: Api, token: str) -> list[dict[str, Any]]:
    response = await api.as_(token, "GET", "/payouts", params={"status": "waiting"})
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()
    return rows


async def test_a_granted_cases_advance_waits_then_goes_out_in_a_bank_file_as_valid_pain_001(api: Api) -> None:
    finance, auditor = api.token("finance"), api.token("auditor")
    number, _start = await granted_case(api.harness, advance="100000.00")
    await api.harness.settled(number)
    for _ in range(100):
        if rows := await waiting(api, finance):
            break
        await asyncio.sleep(0.05)  # polling for the worker's payout activity, not waiting for a timer
    assert [(r["case_number"], r["request_number"], r["kind"], r["amount"], r["bank_file_id"]) for r in rows] == [
        (number, 0, "advance", "100000.00", None)]
    assert rows[0]["kind_label"] and rows[0]["payee_bankgiro"] == "54029681"

    created = await api.as_(finance, "POST", "/bank-files")
    assert created.status_code == 201, created.text
    bank_file = created.json()
    assert (bank_file["transactions"], bank_file["control_sum"]) == (1, "100000.00")
    assert created.headers["location"] == bank_file["href"] == f"/bank-files/{bank_file['id']}"
    assert await waiting(api, finance) == []
    sent = (await api.as_(auditor, "GET", "/payouts", params={"status": "in_bank_file"})).json()
    assert [(r["case_number"], r["bank_file_id"]) for r in sent] == [(number, bank_file["id"])]

    for token in (finance, auditor):
        download = await api.as_(token, "GET", bank_file["href"])
        assert download.status_code == 200
        assert download.headers["content-type"].startswith("application/xml")
        assert f'{bank_file["message_id"]}.xml' in download.headers["content-disposition"]
        assert schema_errors(download.text) == []
    document = ET.fromstring(download.content)
    assert document.findtext("p:CstmrCdtTrfInitn/p:GrpHdr/p:MsgId", namespaces=NS) == bank_file["message_id"]
    assert document.findtext("p:CstmrCdtTrfInitn/p:GrpHdr/p:CtrlSum", namespaces=NS) == "100000.00"
    transfer = document.find("p:CstmrCdtTrfInitn/p:PmtInf/p:CdtTrfTxInf", NS)
    assert transfer is not None
    assert transfer.findtext("p:PmtId/p:EndToEndId", namespaces=NS) == f"{number}-0"
    assert transfer.findtext("p:Amt/p:InstdAmt", namespaces=NS) == "100000.00"

    # Nothing more waits: a second export makes no file.
    again = await api.as_(finance, "POST", "/bank-files")
    assert again.status_code == 409 and again.headers["content-type"] == "application/problem+json"


async def test_only_finance_exports_and_finance_or_audit_reads(api: Api) -> None:
    officer, auditor, applicant = api.token("officer"), api.token("auditor"), api.token("applicant")
    assert (await api.as_(officer, "GET", "/payouts")).status_code == 403
    assert (await api.as_(applicant, "GET", "/payouts")).status_code == 403
    assert (await api.as_(auditor, "GET", "/payouts")).json() == []
    assert (await api.as_(auditor, "POST", "/bank-files")).status_code == 403
    assert (await api.as_(officer, "GET", "/bank-files/1")).status_code == 403
    assert (await api.http.get("/payouts")).status_code == 401


async def test_bad_input_names_the_parameter(api: Api) -> None:
    finance = api.token("finance")
    response = await api.as_(finance, "GET", "/payouts", params={"status": "betald"})
    assert response.status_code == 422 and [e["field"] for e in response.json()["errors"]] == ["status"]
    for bad in ("abc", "0", str(2**64)):
        response = await api.as_(finance, "GET", f"/bank-files/{bad}")
        assert response.status_code == 422, (bad, response.text)
        assert [e["field"] for e in response.json()["errors"]] == ["file_id"]
    missing = await api.as_(finance, "GET", "/bank-files/4711")
    assert missing.status_code == 404 and missing.json()["detail"] == "Det finns ingen bankfil 4711."
    assert (await api.as_(finance, "POST", "/bank-files")).status_code == 409
