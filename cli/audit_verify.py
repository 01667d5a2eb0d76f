"""`grantflow audit verify [NUMBER | --all] [--heads FILE]` and `grantflow audit heads`.

verify checks each case's chain of hashes in the register (a row changed, deleted or inserted by
hand), against the heads saved outside the database when given (a chain rewritten whole), and the
register and the payment ledger against the recorded history (the case's row and who each payout
goes to included, and the budget ledger); with --all, a case deleted whole. Each finding names the case,
the row and what is wrong. A row that could not be checked against the history (its run not recorded)
is printed as a notice, "inte kontrollerad", and does not fail the run. Exit 0 when nothing is found,
1 on any finding, 2 on bad input.

heads prints each case's last chained row, one JSON object a line, for the log collector to keep
(deploy/README.md).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from infra.errors import InputError
from infra.settings import client_settings
from infra.temporal import run_command
from services.audit_verify import current_heads, head_lines, read_heads, verify

EXIT_OK, EXIT_FOUND = 0, 1


def cmd_verify(args: argparse.Namespace) -> int:
    if (args.case is None) == (not args.all):
        raise InputError.one("NUMBER", "give either a case number or --all")
    saved = read_heads(Path(args.heads)) if args.heads else None
    result = run_command(verify(client_settings(), args.case, saved=saved))
    for finding in result.findings:
        print(finding.line())
    for notice in result.notices:
        print(notice.line())
    cases = f"{result.cases} {'ärende' if result.cases == 1 else 'ärenden'}, {result.rows} rader i diariet"
    against = " och mot sparade huvuden" if saved is not None else ""
    if result.findings:
        print(f"{len(result.findings)} avvikelser i {cases} (kedjan, historiken{against})", file=sys.stderr)
        return EXIT_FOUND
    unchecked = f"; {len(result.notices)} rader inte kontrollerade mot historiken (se ovan)" if result.notices else ""
    print(f"ok: {cases}; kedjorna är hela och diariet stämmer med historiken{against}{unchecked}")
    return EXIT_OK


def cmd_heads(args: argparse.Namespace) -> int:
    for line in head_lines(run_command(current_heads(client_settings()))):
        print(line)
    return EXIT_OK


def add_command(audit_commands: Any) -> None:
    checking = audit_commands.add_parser(
        "verify", help="check the register's chains, and the register and payouts against the recorded history",
        description="Exit codes: 0 nothing found, 1 a finding (each is printed: case, row, what is wrong), "
                    "2 bad input.",
    )
    checking.add_argument("case", metavar="NUMBER", nargs="?")
    checking.add_argument("--all", action="store_true", help="every case in the register")
    checking.add_argument("--heads", metavar="FILE",
                          help="heads saved earlier by `grantflow audit heads`: a chain rewritten since is found")
    checking.set_defaults(run=cmd_verify)

    printing = audit_commands.add_parser(
        "heads", help="each case's last register row and its hash, one JSON line a case, to keep outside the database",
    )
    printing.set_defaults(run=cmd_heads)


__all__ = ["add_command"]
