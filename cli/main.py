"""`grantflow` command line.

Exit codes are part of the interface: 0 success (eligible), 1 not eligible or refused,
2 input that cannot be used (the message names the field and the reason), 3 something the
command needs is not there (no running grantflow, Temporal or the database unreachable),
4 a fault of grantflow's own (one line on the terminal, the traceback in the error log).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import traceback
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn

from cli import archive, audit, cases, codec, ops, payments, state_aid, teams, users
from cli.inputs import read_input
from domain.application import Application
from domain.call import CallFileError
from domain.clock import format_instant_sv
from domain.findings import Severity
from domain.money import format_kronor, format_share
from infra.calls import CallCatalog, default_catalog
from infra.errors import InputError, Unavailable
from infra.settings import SettingsError, client_settings, stack_record_path
from services.applications import CheckedApplication, check_application, parse_instant

EXIT_OK, EXIT_INELIGIBLE, EXIT_INPUT, EXIT_UNAVAILABLE, EXIT_INTERNAL = 0, 1, 2, 3, 4
EXIT_INTERRUPTED = 130  # as a shell reports a command stopped by Ctrl-C

SEVERITY_SV = {Severity.ERROR: "fel", Severity.WARNING: "varning"}


# argparse's own complaints, as an officer reads them (its usage line stays as argparse writes it).
_ARGPARSE_SV: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(pattern), swedish) for pattern, swedish in (
    (r"the following arguments are required: (?P<a>.*)", "dessa argument saknas: {a}"),
    (r"one of the arguments (?P<a>.*) is required", "ett av argumenten {a} behövs"),
    (r"unrecognized arguments: (?P<a>.*)", "okända argument: {a}"),
    (r"argument (?P<a>\S+): invalid choice: (?P<v>.*) \(choose from (?P<c>.*)\)",
     "argument {a}: {v} finns inte (välj bland {c})"),
    (r"argument (?P<a>\S+): invalid int value: (?P<v>.*)", "argument {a}: {v} är inget heltal"),
    (r"argument (?P<a>\S+): invalid (?P<t>\S+) value: (?P<v>.*)", "argument {a}: ogiltigt värde {v}"),
    (r"argument (?P<a>\S+): expected one argument", "argument {a}: ett värde behövs"),
    (r"argument (?P<a>\S+): not allowed with argument (?P<b>.*)", "argument {a}: går inte ihop med {b}"),
    (r"ambiguous option: (?P<a>\S+) could match (?P<b>.*)", "tvetydigt argument {a}: kan vara {b}"),
))


def argparse_sv(message: str) -> str:
    for pattern, swedish in _ARGPARSE_SV:
        if (found := pattern.fullmatch(message)) is not None:
            return swedish.format(**found.groupdict())
    return message


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_INPUT, f"{self.prog}: error: {argparse_sv(message)}\n")


def _input_error(exc: InputError) -> int:
    for problem in exc.problems:
        print(f"error: {problem.field}: {problem.reason}", file=sys.stderr)
    return EXIT_INPUT


def installation_catalog() -> CallCatalog:
    """The calls known here, with those the running installation opened (the demo's), found from any folder.

    Only the CLI looks for a running `up` this way: a worker or `up` itself reads its own data directory.
    """
    try:
        data_dir: Path | None = client_settings().data_dir
    except (Unavailable, SettingsError):  # no stack, or a bad variable the command itself reports
        data_dir = None
    return default_catalog(data_dir)


def _cmd_calls(args: argparse.Namespace) -> int:
    for call in installation_catalog().all():
        window = call.window
        opens = window.opens.isoformat() if window.opens else "—"
        print(f"{call.id}\t{call.title}")
        print(
            f"  ansökan {opens} – {window.closes.isoformat()}, budget {format_kronor(call.funding.budget)}, "
            f"stödandel {format_share(call.support_rate)}, slutrapport {call.timeline.final_report_due.isoformat()}, "
            f"{len(call.rules)} regler, {len(call.assessment.criteria)} bedömningskriterier"
        )
    return EXIT_OK


def _cmd_schema(args: argparse.Namespace) -> int:
    print(json.dumps(Application.model_json_schema(), ensure_ascii=False, indent=2))
    return EXIT_OK


def _print_table(checked: CheckedApplication) -> None:
    application, verdict = checked.application, checked.verdict
    print(f"Ansökan:   {application.project.title} ({application.applicant.name})")
    print(f"Utlysning: {checked.call.id} – {checked.call.title}")
    print(f"Mottagen:  {format_instant_sv(checked.received_at)}")
    status = "BEHÖRIG" if verdict.eligible else "INTE BEHÖRIG"
    print(f"Resultat:  {status} ({len(verdict.errors)} fel, {len(verdict.warnings)} varningar)")
    if not verdict.findings:
        return
    rows = [(SEVERITY_SV[f.severity], f.rule, f.field, f.message) for f in verdict.findings]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    print()
    for severity, rule, field, message in rows:
        print(f"{severity:<{widths[0]}}  {rule:<{widths[1]}}  {field:<{widths[2]}}  {message}")


def _cmd_validate(args: argparse.Namespace) -> int:
    try:
        raw = read_input(args.file, "FILE")
        # `is not None`: an empty --received (an unset shell variable) is an error, not "now".
        received = parse_instant(args.received, "--received") if args.received is not None else None
        checked = check_application(installation_catalog(), raw, call_id=args.call, received_at=received)
    except InputError as exc:
        return _input_error(exc)
    if args.json:
        print(json.dumps(checked.verdict.model_dump(mode="json", include={"eligible", "findings"}),
                         ensure_ascii=False, indent=2))
    else:
        _print_table(checked)
    return EXIT_OK if checked.verdict.eligible else EXIT_INELIGIBLE


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="grantflow", description="Case handling for public grant calls.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    calls = commands.add_parser("calls", help="list the calls with their windows and budgets")
    calls.set_defaults(run=_cmd_calls)

    schema = commands.add_parser("schema", help="print the application form's JSON Schema")
    schema.set_defaults(run=_cmd_schema)

    validate = commands.add_parser("validate", help="check an application against its call")
    validate.add_argument("file", metavar="FILE", help="application JSON file, or - for standard input")
    validate.add_argument("--call", metavar="ID", help="the call (must match the application's call_id)")
    validate.add_argument("--received", metavar="ISO-8601", help="when it was received (default: now)")
    validate.add_argument("--json", action="store_true", help="machine-readable findings")
    validate.set_defaults(run=_cmd_validate)

    cases.add_commands(commands)
    payments.add_commands(commands)
    archive.add_commands(commands)
    audit.add_commands(commands)
    ops.add_commands(commands)
    users.add_commands(commands)
    teams.add_commands(commands)
    codec.add_commands(commands)
    state_aid.add_commands(commands)
    return parser


def error_log_path() -> Path:
    """Where a command's unexpected faults are written in full: beside the record of the running stack."""
    return stack_record_path().with_name("errors.log")


def _internal_error(exc: BaseException, command: str) -> int:
    """A fault of ours: one line on the terminal, the whole traceback in the error log."""
    log = error_log_path()
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a", encoding="utf-8") as file:
            file.write(f"--- {datetime.now(UTC).isoformat()} grantflow {command}\n")
            file.write("".join(traceback.format_exception(exc)))
        where = f"details in {log}"
    except OSError:
        where = "no details: the error log could not be written"
    print(f"error: internal error ({type(exc).__name__}); {where}", file=sys.stderr)
    return EXIT_INTERNAL


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as exc:
        # The last resort: every known failure has its own message at its cause.
        return _internal_error(exc, args.command)


def _dispatch(args: argparse.Namespace) -> int:
    try:
        code: int = args.run(args)
    except InputError as exc:
        return _input_error(exc)
    except Unavailable as exc:
        # Temporal or the database not reachable, a port taken: the message says what to do.
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except BrokenPipeError:
        # The reader went away (`grantflow case … | head`): not an error of ours. Python would
        # complain again when it flushes stdout at exit, so stdout goes nowhere from here.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except CallFileError as exc:
        # A broken call file is the operator's to fix: say which file, key and why.
        print(f"error: call file {exc.source}:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_INPUT
    return code


if __name__ == "__main__":
    sys.exit(main())
