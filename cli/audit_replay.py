"""`grantflow audit replay NUMBER | --call ID | --all`: does this code reproduce what was recorded?

Each case's recorded histories (every run of its chain), from Temporal while it is there and from
the archive after, are replayed against the workflow code installed here, on every core. One line
per case; a case that differs names its run and the recorded event where the code departs.
Exit codes: 0 every case replays, 1 a case differs, 2 bad input, 3 Temporal or the database is
unavailable.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from infra.settings import client_settings
from infra.temporal import run_command
from services import replay
from services.archive import ReplayReport

EXIT_OK, EXIT_DIFFERS = 0, 1


class Progress:
    """A line on stderr that counts the cases replayed, rewritten in place."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.started = time.monotonic()
        self.cases = self.differ = 0
        self.shown = 0.0

    def count(self, report: ReplayReport) -> None:
        self.cases += 1
        self.differ += not report.ok
        now = time.monotonic()
        if self.enabled and now - self.shown >= 0.5:
            self.shown = now
            self.show(now)

    def show(self, now: float) -> None:
        rate = self.cases / max(now - self.started, 1e-9)
        print(f"\r{self.cases} cases replayed, {rate:.0f}/s, {self.differ} differ", end="", file=sys.stderr,
              flush=True)

    def end(self) -> None:
        if self.enabled and self.cases:
            self.show(time.monotonic())
            print(file=sys.stderr)


def describe(report: ReplayReport) -> list[str]:
    """The case's line; a case that differs gets a line for each run that does."""
    runs = len(report.runs)
    label = f"{report.case_number} ({report.source})"
    lacks = "" if report.complete else ", the oldest runs missing"
    if report.ok:
        return [f"{label}: ok, {runs} {'run' if runs == 1 else 'runs'}{lacks}"]
    lines = [f"{label}: DIFFERS in {sum(not r.ok for r in report.runs)} of {runs} runs{lacks}"]
    for run in report.runs:
        if not run.ok:
            at = f"event {run.event_id}" if run.event_id is not None else "event unknown"
            lines.append(f"  case {report.case_number} run {run.run_id} {at}: {run.problem}")
    return lines


def cmd_replay(args: argparse.Namespace) -> int:
    selection = replay.Selection(number=args.case, call_id=args.call, everything=args.all)
    progress = Progress(args.progress or sys.stderr.isatty())
    verbose = args.case is not None or args.verbose

    def report(outcome: ReplayReport) -> None:
        progress.count(outcome)
        if verbose or not outcome.ok:
            if progress.enabled:
                print("\r", end="", file=sys.stderr)
            for line in describe(outcome):
                print(line, flush=True)

    try:
        summary = run_command(replay.replay(client_settings(), selection, source=args.source, jobs=args.jobs,
                                            on_report=report))
    finally:
        progress.end()
    incomplete = f" ({summary.incomplete} without their oldest runs)" if summary.incomplete else ""
    print(f"{summary.cases} cases{incomplete}, {summary.runs} runs, {summary.events} events replayed: "
          f"{len(summary.differ)} differ")
    if not summary.ok:
        print(f"replay differs for {', '.join(r.case_number for r in summary.differ[:20])}"
              f"{' …' if len(summary.differ) > 20 else ''}", file=sys.stderr)
        return EXIT_DIFFERS
    return EXIT_OK


def _jobs(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"--jobs: {text!r} is not a positive whole number")
    return value


def add_command(audit_commands: Any) -> None:
    command = audit_commands.add_parser(
        "replay", help="replay recorded cases against this version's workflow code",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    which = command.add_mutually_exclusive_group(required=True)
    which.add_argument("case", metavar="NUMBER", nargs="?", help="one case, e.g. 2025-00042")
    which.add_argument("--call", metavar="ID", help="every case of a call")
    which.add_argument("--all", action="store_true",
                       help="every case (from Temporal: every workflow the worker runs)")
    command.add_argument("--from", dest="source", choices=replay.SOURCES, default="auto",
                         help="where the histories come from; auto (the default): Temporal while a case is "
                              "there, else the archive")
    command.add_argument("--jobs", type=_jobs, default=None,
                         help=f"processes that replay (default: every core, here {replay.cores()})")
    command.add_argument("--progress", action="store_true", help="show progress on stderr even when not a terminal")
    command.add_argument("--verbose", action="store_true", help="a line for every case, not only those that differ")
    command.set_defaults(run=cmd_replay)


__all__ = ["add_command", "describe"]
