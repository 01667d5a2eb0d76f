from __future__ import annotations

import argparse
import asyncio
import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from activities import payments as payments_module
from activities.db import open_pool
from activities.payments import (
    PAIN_001,
    BankFileInvalid,
    Debtor,
    PaymentLedger,
    bank_file,
    export_bank_file,
    list_payouts,
    schema_errors,
)
from cli.payments import add_commands
from infra.errors import InputError
from infra.settings import SettingsError
from tests.activities.support import CrashAfterCommit, SimulatedCrash, SlowPool, scalar
from tests.activities.test_payments import order, register_cases

NOW = datetime(2022, 3, 31, 22, 30, tzinfo=UTC)  # 1 April in Stockholm
DEBTOR = Debtor(name="Tillväxtverket", bankgiro="123-4566")
NS = {"p": PAIN_001}


def parse(xml: str) -> ET.Element:
    return ET.fromstring(xml.encode())


def texts(root: ET.Element, path: str) -> list[str]:
    return [element.text or "" for element in root.findall(path, NS)]


def one(root: ET.Element, path: str) -> str:
    [text] = texts(root, path)
    return text


async def pay_all(pool, cases: list[str], amounts: list[str], request_number: int = 1) -> None:
    ledger = PaymentLedger(pool)
    for case, amount in zip(cases, amounts, strict=True):
        await ledger.pay(order(case, request_number, amount))


async def test_nothing_waiting_means_no_file(pool):
    assert await export_bank_file(pool, DEBTOR, now=NOW) is None
    assert await scalar(pool, "SELECT count(*) FROM bank_files") == 0


async def test_the_file_is_a_valid_pain_001_with_every_waiting_payout(pool):
    cases = await register_cases(pool, 3)
    amounts = ["1.00", "0.50", "1234567.89"]
    await pay_all(pool, cases, amounts)

    exported = await export_bank_file(pool, DEBTOR, now=NOW)
    assert exported is not None
    assert schema_errors(exported.xml) == []
    assert (exported.transactions, exported.control_sum) == (3, Decimal("1234569.39"))

    root = parse(exported.xml)
    header = "p:CstmrCdtTrfInitn/p:GrpHdr"
    batch = "p:CstmrCdtTrfInitn/p:PmtInf"
    transfer = f"{batch}/p:CdtTrfTxInf"
    assert one(root, f"{header}/p:MsgId") == exported.message_id == f"GF-20220401-{exported.id:06d}"
    assert one(root, f"{header}/p:CreDtTm") == "2022-04-01T00:30:00+02:00"
    assert one(root, f"{header}/p:NbOfTxs") == one(root, f"{batch}/p:NbOfTxs") == "3"
    # Exactly two decimals everywhere, and the control sum is the sum of what is paid.
    assert texts(root, f"{transfer}/p:Amt/p:InstdAmt") == ["1.00", "0.50", "1234567.89"]
    assert one(root, f"{header}/p:CtrlSum") == one(root, f"{batch}/p:CtrlSum") == "1234569.39"
    assert sum(Decimal(a) for a in texts(root, f"{transfer}/p:Amt/p:InstdAmt")) == Decimal("1234569.39")
    assert {e.get("Ccy") for e in root.findall(f"{transfer}/p:Amt/p:InstdAmt", NS)} == {"SEK"}
    assert one(root, f"{header}/p:InitgPty/p:Nm") == one(root, f"{batch}/p:Dbtr/p:Nm") == "Tillväxtverket"
    assert one(root, f"{batch}/p:PmtMtd") == "TRF"
    assert one(root, f"{batch}/p:ReqdExctnDt") == "2022-04-01"
    assert one(root, f"{batch}/p:DbtrAcct/p:Id/p:Othr/p:Id") == "1234566"
    assert one(root, f"{batch}/p:DbtrAcct/p:Id/p:Othr/p:SchmeNm/p:Prtry") == "BGNR"
    assert one(root, f"{batch}/p:DbtrAgt/p:FinInstnId/p:Othr/p:Id") == "NOTPROVIDED"
    assert texts(root, f"{transfer}/p:PmtId/p:EndToEndId") == [f"{case}-1" for case in cases]
    assert texts(root, f"{transfer}/p:Cdtr/p:Nm") == ["Företag 1 AB"] * 3
    assert texts(root, f"{transfer}/p:CdtrAcct/p:Id/p:Othr/p:Id") == ["50501055"] * 3
    assert texts(root, f"{transfer}/p:CdtrAcct/p:Id/p:Othr/p:SchmeNm/p:Prtry") == ["BGNR"] * 3
    assert texts(root, f"{transfer}/p:RmtInf/p:Ustrd") == cases

    stored = await bank_file(pool, exported.id)
    assert stored == exported
    assert {p.bank_file_id for p in await list_payouts(pool)} == {exported.id}


async def test_a_bic_names_the_debtors_bank(pool):
    [case] = await register_cases(pool, 1)
    await pay_all(pool, [case], ["10.00"])
    exported = await export_bank_file(pool, DEBTOR.model_copy(update={"bic": "ESSESESS"}), now=NOW)
    assert exported is not None and schema_errors(exported.xml) == []
    root = parse(exported.xml)
    assert one(root, "p:CstmrCdtTrfInitn/p:PmtInf/p:DbtrAgt/p:FinInstnId/p:BIC") == "ESSESESS"
    assert texts(root, "p:CstmrCdtTrfInitn/p:PmtInf/p:DbtrAgt/p:FinInstnId/p:Othr") == []


async def test_names_with_markup_characters_are_escaped_not_broken(pool):
    [case] = await register_cases(pool, 1)
    await PaymentLedger(pool).pay(order(case, payee_name="Smith & <Söner> \"AB\""))
    exported = await export_bank_file(pool, DEBTOR, now=NOW)
    assert exported is not None and schema_errors(exported.xml) == []
    assert one(parse(exported.xml), "p:CstmrCdtTrfInitn/p:PmtInf/p:CdtTrfTxInf/p:Cdtr/p:Nm") == (
        "Smith & <Söner> \"AB\""
    )


async def test_the_next_file_holds_only_what_came_in_since(pool):
    cases = await register_cases(pool, 4)
    await pay_all(pool, cases[:2], ["100.00", "200.00"])
    first = await export_bank_file(pool, DEBTOR, now=NOW)
    await pay_all(pool, cases[2:], ["300.00", "400.00"])
    # A repeated order for a payout already in the first file adds nothing.
    await pay_all(pool, cases[:1], ["100.00"])
    second = await export_bank_file(pool, DEBTOR, now=NOW)
    assert first is not None and second is not None
    assert first.message_id != second.message_id
    assert texts(parse(second.xml), ".//p:EndToEndId") == [f"{case}-1" for case in cases[2:]]
    assert (second.transactions, second.control_sum) == (2, Decimal("700.00"))
    assert await export_bank_file(pool, DEBTOR, now=NOW) is None


async def test_two_exports_at_once_never_put_a_payout_in_two_files(pool):
    cases = await register_cases(pool, 10)
    await pay_all(pool, cases, ["1000.00"] * 10)
    slow = SlowPool(pool)
    results = await asyncio.gather(*(export_bank_file(slow, DEBTOR, now=NOW) for _ in range(3)))  # type: ignore[arg-type]
    files = [f for f in results if f is not None]
    assert len(files) == 1  # the others waited, then found nothing left
    in_files = [e for f in files for e in texts(parse(f.xml), ".//p:EndToEndId")]
    assert sorted(in_files) == sorted(f"{case}-1" for case in cases)


async def test_exports_and_payouts_interleaved_pay_each_payout_in_exactly_one_file(pool):
    cases = await register_cases(pool, 12)
    slow = SlowPool(pool, delay=0.005)

    async def pay_later() -> None:
        for case in cases:
            await PaymentLedger(slow).pay(order(case, 1, "10.00"))  # type: ignore[arg-type]

    async def export_often() -> list:
        made = []
        for _ in range(8):
            made.append(await export_bank_file(slow, DEBTOR, now=NOW))  # type: ignore[arg-type]
        return made

    _, *exports = await asyncio.gather(pay_later(), export_often(), export_often())
    files = [f for made in exports for f in made if f is not None]
    final = await export_bank_file(pool, DEBTOR, now=NOW)
    if final is not None:
        files.append(final)
    in_files = [e for f in files for e in texts(parse(f.xml), ".//p:EndToEndId")]
    assert sorted(in_files) == sorted(f"{case}-1" for case in cases)
    for f in files:
        assert f.control_sum == Decimal("10.00") * f.transactions
    assert await scalar(pool, "SELECT count(*) FROM payouts WHERE bank_file_id IS NULL") == 0


async def test_a_file_that_fails_the_schema_is_never_stored(pool, monkeypatch):
    [case] = await register_cases(pool, 1)
    await pay_all(pool, [case], ["10.00"])
    render = payments_module.render_pain001

    def broken(*args, **kwargs) -> str:
        return render(*args, **kwargs).replace("<PmtMtd>TRF</PmtMtd>", "<PmtMtd>CASH</PmtMtd>")

    monkeypatch.setattr(payments_module, "render_pain001", broken)
    with pytest.raises(BankFileInvalid, match="PmtMtd"):
        await export_bank_file(pool, DEBTOR, now=NOW)
    assert await scalar(pool, "SELECT count(*) FROM bank_files") == 0
    monkeypatch.setattr(payments_module, "render_pain001", render)
    # Its payouts wait for the next export.
    exported = await export_bank_file(pool, DEBTOR, now=NOW)
    assert exported is not None and exported.transactions == 1


async def test_a_crash_after_the_export_committed_leaves_the_file_on_record(pool):
    [case] = await register_cases(pool, 1)
    await pay_all(pool, [case], ["10.00"])
    with pytest.raises(SimulatedCrash):
        await export_bank_file(CrashAfterCommit(pool), DEBTOR, now=NOW)  # type: ignore[arg-type]
    # Exporting again does not pay it a second time; the file is there to be fetched.
    assert await export_bank_file(pool, DEBTOR, now=NOW) is None
    [stored_id] = [p.bank_file_id for p in await list_payouts(pool)]
    assert stored_id is not None
    stored = await bank_file(pool, stored_id)
    assert stored is not None and schema_errors(stored.xml) == []


# --- the command line, against a real database ------------------------------------------


def cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="grantflow")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code: int = args.run(args)
    return code


async def _seed(url: str, amounts: list[str]) -> list[str]:
    pool = await open_pool(url, max_size=2)
    try:
        cases = await register_cases(pool, len(amounts))
        await pay_all(pool, cases, amounts)
        return cases
    finally:
        await pool.close()


@pytest.fixture
def environment(db, tmp_path, monkeypatch):
    monkeypatch.setenv("GRANTFLOW_DATABASE_URL", db)
    monkeypatch.setenv("GRANTFLOW_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GRANTFLOW_AGENCY_NAME", "Tillväxtverket")
    monkeypatch.setenv("GRANTFLOW_AGENCY_BANKGIRO", "5050-1055")
    return db


def test_cli_lists_exports_and_shows(environment, tmp_path, capsys):
    cases = asyncio.run(_seed(environment, ["1250.50", "99.00"]))
    capsys.readouterr()  # the seeding's log lines

    assert cli("payouts") == 0
    listed = capsys.readouterr().out.splitlines()
    assert len(listed) == 2 and all("väntar på bankfil" in line and "utbetald" not in line for line in listed)
    assert "1\u00a0250,50\u00a0kr" in listed[0] and "5050-1055" in listed[0]

    assert cli("payouts", "--case", cases[1], "--json") == 0
    [row] = json.loads(capsys.readouterr().out)
    assert (row["case_number"], row["amount"], row["bank_file_id"]) == (cases[1], "99.00", None)

    out = tmp_path / "first.xml"
    assert cli("bank-file", "export", "--out", str(out)) == 0
    said = capsys.readouterr().out
    assert "2 utbetalningar" in said and "1\u00a0349,50\u00a0kr" in said and str(out) in said
    xml = out.read_text(encoding="utf-8")
    assert schema_errors(xml) == []
    assert one(parse(xml), "p:CstmrCdtTrfInitn/p:PmtInf/p:DbtrAcct/p:Id/p:Othr/p:Id") == "50501055"

    assert cli("bank-file", "export") == 0
    assert "inget att exportera" in capsys.readouterr().out

    assert cli("bank-file", "show", "1") == 0
    shown = capsys.readouterr().out
    assert "bankfil 1 " in shown and cases[0] in shown and cases[1] in shown and "utbetald, bankfil 1" in shown
    assert cli("bank-file", "show", "1", "--xml") == 0
    assert capsys.readouterr().out == xml
    again = tmp_path / "again.xml"
    assert cli("bank-file", "show", "1", "--out", str(again)) == 0
    assert again.read_text(encoding="utf-8") == xml and not list(tmp_path.glob("*.partial"))

    assert cli("payouts") == 0
    assert "väntar" not in capsys.readouterr().out  # each line says which file paid it


def test_cli_export_writes_to_the_data_directory_by_default(environment, tmp_path, capsys):
    asyncio.run(_seed(environment, ["10.00"]))
    assert cli("bank-file", "export") == 0
    [written] = (tmp_path / "data" / "bank-files").iterdir()
    assert written.suffix == ".xml" and str(written) in capsys.readouterr().out
    assert schema_errors(written.read_text(encoding="utf-8")) == []


def test_cli_refuses_an_unusable_out_before_exporting(environment, tmp_path):
    asyncio.run(_seed(environment, ["10.00"]))
    with pytest.raises(InputError) as missing_dir:
        cli("bank-file", "export", "--out", str(tmp_path / "no-such-dir" / "f.xml"))
    existing = tmp_path / "taken.xml"
    existing.write_text("an earlier file", encoding="utf-8")
    with pytest.raises(InputError) as taken:
        cli("bank-file", "export", "--out", str(existing))
    assert [p.field for p in missing_dir.value.problems + taken.value.problems] == ["--out", "--out"]
    assert "finns inte" in str(missing_dir.value) and "finns redan" in str(taken.value)
    assert existing.read_text(encoding="utf-8") == "an earlier file"
    # Nothing was taken: the payout still waits.
    assert cli("bank-file", "export", "--out", str(tmp_path / "f.xml")) == 0


def test_cli_names_an_unknown_bank_file(environment):
    with pytest.raises(InputError) as unknown:
        cli("bank-file", "show", "7")
    assert [(p.field, p.reason) for p in unknown.value.problems] == [("ID", "det finns ingen bankfil 7")]


def test_cli_names_a_bad_agency_bankgiro(environment, monkeypatch):
    monkeypatch.setenv("GRANTFLOW_AGENCY_BANKGIRO", "5050-1056")
    with pytest.raises(SettingsError) as bad:
        cli("bank-file", "export")
    assert [(p.field, p.reason) for p in bad.value.problems] == [
        ("GRANTFLOW_AGENCY_BANKGIRO", "the bankgiro number's check digit is wrong")
    ]


def test_cli_without_the_payout_tables_says_to_upgrade(environment, capsys):
    async def drop() -> None:
        pool = await open_pool(environment, max_size=1)
        try:
            async with pool.connection() as conn:
                await conn.execute("DROP TABLE payouts, bank_files")
        finally:
            await pool.close()

    asyncio.run(drop())
    assert cli("payouts") == 3
    assert "grantflow db upgrade" in capsys.readouterr().err
