"""`grantflow payouts | bank-file export | bank-file show`: finance's view of payouts."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import psycopg

from activities.payments import BankFile, Payout
from domain.bank import format_bankgiro
from domain.clock import format_instant_sv
from domain.money import format_kronor
from domain.payment import PAYOUT_KIND_SV
from infra.errors import InputError
from infra.settings import Settings, client_settings
from infra.temporal import run_command
from services import payments
from services.cases import check_case_number

EXIT_OK, EXIT_INPUT, EXIT_UNAVAILABLE = 0, 2, 3


def _run(coroutine: Callable[[Settings], Coroutine[Any, Any, int]]) -> int:
    settings = client_settings()
    try:
        return run_command(coroutine(settings))
    except psycopg.errors.UndefinedTable:
        print("error: database: utbetalningstabellerna saknas; kör `grantflow db upgrade`", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except psycopg.OperationalError as exc:  # also the pool's timeout: the server is not there
        print(f"error: database: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE


def _payout_line(payout: Payout) -> str:
    # Ordered is not paid: the money leaves with the bank file.
    where = f"utbetald, bankfil {payout.bank_file_id}" if payout.bank_file_id is not None else "väntar på bankfil"
    return (
        f"{payout.case_number}  {payout.request_number:>3}  {PAYOUT_KIND_SV[payout.kind]:<13}"
        f"  {format_kronor(payout.amount):>16}  {format_bankgiro(payout.payee_bankgiro):>9}"
        f"  beordrad {format_instant_sv(payout.paid_at)}  {where:<20}"
        f"  {payout.payee_name}"
    )


def _summary(found: BankFile) -> str:
    return (
        f"bankfil {found.id} ({found.message_id}): {found.transactions}"
        f" {'utbetalning' if found.transactions == 1 else 'utbetalningar'},"
        f" kontrollsumma {format_kronor(found.control_sum)}"
    )


def _writable_target(text: str) -> Path:
    """Where --out points, checked before anything is exported: its directory must exist."""
    path = Path(text)
    if path.is_dir():
        raise InputError.one("--out", f"{path} är en katalog; ange ett filnamn")
    if not path.parent.is_dir():
        raise InputError.one("--out", f"katalogen {path.parent} finns inte")
    return path


def _write(path: Path, found: BankFile) -> None:
    # Written beside the target and renamed into place, so whatever picks files up for
    # the bank never sees half a file.
    partial = path.with_name(path.name + ".partial")
    try:
        partial.write_text(found.xml, encoding="utf-8")
        os.replace(partial, path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise InputError.one(
            "--out",
            f"kan inte skriva {path}: {exc.strerror}; filen finns kvar som bankfil {found.id}"
            f" (grantflow bank-file show {found.id} --out FIL skriver den igen)",
        ) from None


def cmd_payouts(args: argparse.Namespace) -> int:
    if args.case is not None:
        check_case_number(args.case, "--case")

    async def run(settings: Settings) -> int:
        rows = await payments.payouts(settings, args.case)
        if args.json:
            print(json.dumps([row.model_dump(mode="json") for row in rows], ensure_ascii=False, indent=2))
            return EXIT_OK
        for row in rows:
            print(_payout_line(row))
        return EXIT_OK

    return _run(run)


def cmd_export(args: argparse.Namespace) -> int:
    async def run(settings: Settings) -> int:
        payments.debtor(settings)  # a bad GRANTFLOW_AGENCY_* is refused before anything is taken
        target: Path | None = None
        folder = settings.data_dir / "bank-files"
        if args.out is not None:
            target = _writable_target(args.out)
            if target.exists():
                raise InputError.one("--out", f"{target} finns redan; välj ett nytt namn för en ny bankfil")
        else:
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise InputError.one("GRANTFLOW_DATA_DIR", f"kan inte skapa {folder}: {exc.strerror}") from None
        exported = await payments.export(settings)
        if exported is None:
            print("inget att exportera: varje utbetalning finns redan i en bankfil")
            return EXIT_OK
        path = target if target is not None else folder / f"{exported.message_id}.xml"
        _write(path, exported)
        print(f"{_summary(exported)}, skriven till {path}")
        return EXIT_OK

    return _run(run)


def cmd_show(args: argparse.Namespace) -> int:
    async def run(settings: Settings) -> int:
        target = _writable_target(args.out) if args.out is not None else None
        shown = await payments.show(settings, args.id)
        if shown is None:
            raise InputError.one("ID", f"det finns ingen bankfil {args.id}")
        found, rows = shown
        if args.xml:
            sys.stdout.write(found.xml)
            return EXIT_OK
        if target is not None:
            _write(target, found)
            print(f"{_summary(found)}, skriven till {target}")
            return EXIT_OK
        print(_summary(found))
        print(f"skapad {format_instant_sv(found.created_at)}")
        for row in rows:
            print(f"  {_payout_line(row)}")
        return EXIT_OK

    return _run(run)


def add_commands(commands: Any) -> None:
    listing = commands.add_parser("payouts", help="list the payout ledger")
    listing.add_argument("--case", metavar="NUMBER", help="only this case's payouts")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(run=cmd_payouts)

    bank_file = commands.add_parser("bank-file", help="bank files (ISO 20022 pain.001) for the payouts")
    bank_commands = bank_file.add_subparsers(dest="bank_file_command", required=True)
    export = bank_commands.add_parser("export", help="write every payout not yet in a bank file to a new one")
    export.add_argument("--out", metavar="FILE", help="where to write it (default: DATA_DIR/bank-files/MSGID.xml)")
    export.set_defaults(run=cmd_export)
    show = bank_commands.add_parser("show", help="show a bank file and the payouts in it")
    show.add_argument("id", metavar="ID", type=int)
    output = show.add_mutually_exclusive_group()
    output.add_argument("--xml", action="store_true", help="print the file itself")
    output.add_argument("--out", metavar="FILE", help="write the file itself to FILE")
    show.set_defaults(run=cmd_show)


__all__ = ["add_commands"]
