"""`grantflow state-aid ORGNR | --call ID [--format text|csv|json]`: the state-aid record."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import psycopg

from activities.state_aid import AidRow
from domain.money import format_kronor
from domain.state_aid import format_euro
from infra.calls import default_catalog
from infra.errors import InputError
from infra.settings import Settings, client_settings
from infra.temporal import run_command
from services import state_aid

EXIT_OK, EXIT_UNAVAILABLE = 0, 3


def _line(row: AidRow) -> str:
    return (f"{row.granted_on}  {format_kronor(row.value_sek)} ({format_euro(row.value_eur)})  {row.company_name}"
            f"  ärende {row.case_number} ({row.call_id})  {row.regulation}  {row.aid}")


def _print(rows: list[AidRow], fmt: str, heading: str) -> None:
    if fmt == "csv":
        sys.stdout.write(state_aid.as_csv(rows))
        return
    if fmt == "json":
        print(json.dumps([r.model_dump(mode="json") for r in rows], ensure_ascii=False, indent=2))
        return
    print(heading)
    for row in rows:
        print(f"  {_line(row)}")


def cmd_state_aid(args: argparse.Namespace) -> int:
    if (args.orgnr is None) == (args.call is None):
        raise InputError.one("ORGNR", "ange antingen ett företags organisationsnummer eller --call ID, inte båda")

    async def run(settings: Settings) -> int:
        if args.orgnr is not None:
            record = await state_aid.company_record(settings, args.orgnr, "ORGNR")
            name = f" {record.company_name}" if record.company_name else ""
            heading = (f"Stöd av mindre betydelse till {record.org_number}{name} genom myndighetens ärenden:"
                       f" {len(record.aid)} stöd, sammanlagt {format_kronor(record.total_sek)}"
                       f" ({format_euro(record.total_eur)})")
            _print(record.aid, args.format, heading)
        else:
            rows = await state_aid.call_aid(settings, default_catalog(settings.data_dir), args.call, "--call")
            _print(rows, args.format, f"Stöd av mindre betydelse i utlysningen {args.call}: {len(rows)} stöd")
        return EXIT_OK

    try:
        return run_command(run(client_settings()))
    except psycopg.OperationalError as exc:
        print(f"error: database: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE


def add_commands(commands: Any) -> None:
    parser = commands.add_parser("state-aid", help="de minimis aid to companies: one company's, or a call's")
    parser.add_argument("orgnr", metavar="ORGNR", nargs="?", help="the company's organisation number")
    parser.add_argument("--call", metavar="ID", help="every aid of this call (for the state-aid register)")
    parser.add_argument("--format", choices=("text", "csv", "json"), default="text")
    parser.set_defaults(run=cmd_state_aid)


__all__ = ["add_commands"]
