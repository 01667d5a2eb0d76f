"""`grantflow archive show | replay`: closed cases as the archive keeps them, from the database alone."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from decimal import Decimal
from typing import Any

from domain.clock import format_instant_sv
from domain.lifecycle import OUTCOME_LABELS_SV, STAGE_LABELS_SV, Outcome, Stage
from domain.money import format_kronor
from domain.payment import PAYOUT_KIND_SV, PayoutKind
from domain.state_aid import format_euro
from infra.settings import client_settings
from infra.temporal import run_command
from services import archive

EXIT_OK, EXIT_REPLAY_FAILED, EXIT_INPUT = 0, 1, 2

ENDED_SV = {
    "workflow_execution_completed": "avslutad",
    "workflow_execution_continued_as_new": "fortsatte som ny körning",
    "workflow_execution_failed": "misslyckades",
    "workflow_execution_terminated": "avbruten (terminate)",
    "workflow_execution_canceled": "avbruten (cancel)",
    "workflow_execution_timed_out": "tidsgräns överskriden",
}


def _stage(value: str | None) -> str:
    if value is None:
        return "–"
    try:
        return STAGE_LABELS_SV[Stage(value)]
    except ValueError:
        return value


def _outcome(value: str) -> str:
    try:
        return OUTCOME_LABELS_SV[Outcome(value)]
    except ValueError:
        return value


def _kind(value: str | None) -> str:
    if value is None:
        return "–"
    try:
        return PAYOUT_KIND_SV[PayoutKind(value)]
    except ValueError:
        return value


def cmd_show(args: argparse.Namespace) -> int:
    archive.check_case_number(args.case)
    summary = run_command(archive.show(client_settings(), args.case))
    if args.json:
        print(json.dumps(summary.model_dump(mode="json"), ensure_ascii=False, indent=2))
        return EXIT_OK
    print(f"Ärende {summary.case_number} – arkiverat {format_instant_sv(summary.archived_at)}")
    print(f"Arbetsflöde: {summary.workflow_id}, {len(summary.runs)} körningar, {summary.events} händelser")
    if not summary.complete:
        print("Ofullständigt: de äldsta körningarna fanns inte längre i Temporal när ärendet arkiverades.")
    for index, run in enumerate(summary.runs, start=1):
        started = format_instant_sv(run.started_at) if run.started_at else "–"
        ended = ENDED_SV.get(run.ended_with or "", run.ended_with or "–")
        print(f"  {index}. {run.run_id}  {run.workflow_type or '–'}  {run.events} händelser  "
              f"startad {started}  {ended}")
    register = summary.register_summary
    outcome = f", utfall: {_outcome(register.outcome)}" if register.outcome else ""
    print(f"Diariet: {register.subject or '–'} ({register.call_id or '–'})")
    print(f"  steg: {_stage(register.stage)}{outcome}")
    print(f"  {register.events} händelser, {register.documents} handlingar, {register.letters} brev")
    _print_money(register)
    _print_state_aid(register)
    return EXIT_OK


def _kronor(amount: Decimal | None) -> str:
    return format_kronor(amount) if amount is not None else "–"


def _print_state_aid(register: archive.RegisterSummary) -> None:
    """De minimis aid to the companies the project reached, as the state-aid record held it."""
    if not register.state_aid:
        return
    print(f"Stöd av mindre betydelse till företag: {len(register.state_aid)}")
    for aid in register.state_aid:
        euro = format_euro(aid.value_eur) if aid.value_eur is not None else "–"
        print(f"  {aid.org_number or '–'} {aid.company_name or '–'}  {_kronor(aid.value_sek)} ({euro})"
              f"  {aid.granted_on or '–'}  {aid.regulation or '–'}")


def _print_money(register: archive.RegisterSummary) -> None:
    """What the budget ledger granted the case and what the payment ledger paid it, when archived."""
    if register.budget_grants is None or register.payouts is None:
        print("Beviljat och utbetalt: saknas i arkivet (arkiverat innan utbetalningar och beviljanden togs med)")
        return
    if not register.budget_grants:
        print("Beviljat ur utlysningens budget: inget")
    for grant in register.budget_grants:
        granted_at = format_instant_sv(grant.granted_at) if grant.granted_at else "–"
        print(f"Beviljat ur utlysningens budget: {_kronor(grant.amount)} ({grant.call_id or '–'}), {granted_at}")
    if not register.payouts:
        print("Utbetalningar: inga")
        return
    print(f"Utbetalningar: {len(register.payouts)}, sammanlagt {format_kronor(register.paid)}")
    for payout in register.payouts:
        paid_at = format_instant_sv(payout.paid_at) if payout.paid_at else "–"
        # The bank-file export writes its id here, also after the case was archived.
        where = (f"utbetald med bankfil {payout.bank_file_id}" if payout.bank_file_id is not None
                 else "väntar på bankfil")
        number = payout.request_number if payout.request_number is not None else "–"
        print(f"  nr {number} {_kind(payout.kind)}  {_kronor(payout.amount)}  beordrad {paid_at}  {where}")


def cmd_replay(args: argparse.Namespace) -> int:
    archive.check_case_number(args.case)
    # A run that does not replay is reported below; the SDK's own log of the failed workflow
    # task (with its traceback) would only repeat it.
    sdk_log = logging.getLogger("temporalio")
    level = sdk_log.level
    sdk_log.setLevel(logging.CRITICAL)
    try:
        report = run_command(archive.replay(client_settings(), args.case))
    finally:
        sdk_log.setLevel(level)  # the command may run inside a longer-lived process (the tests)
    for index, run in enumerate(report.runs, start=1):
        label = f"{report.case_number} run {index}/{len(report.runs)} {run.run_id}"
        if run.ok:
            print(f"{label}: ok")
        else:
            kind = "nondeterminism" if run.nondeterminism else "replay failed"
            print(f"{label}: {kind}: {run.problem}")
    if not report.complete:
        print(f"{report.case_number}: the archive lacks the oldest runs (gone from Temporal when archived)",
              file=sys.stderr)
    if not report.ok:
        failed = sum(not run.ok for run in report.runs)
        print(f"{report.case_number}: {failed} of {len(report.runs)} runs did not replay", file=sys.stderr)
        return EXIT_REPLAY_FAILED
    runs = len(report.runs)
    print(f"{report.case_number}: ok, {runs} {'run' if runs == 1 else 'runs'} replayed")
    return EXIT_OK


def add_commands(commands: Any) -> None:
    archived = commands.add_parser("archive", help="closed cases in the archive: show them, replay their workflows")
    archive_commands = archived.add_subparsers(dest="archive_command", required=True)

    show = archive_commands.add_parser("show", help="what the archive holds for a case")
    show.add_argument("case", metavar="NUMBER")
    show.add_argument("--json", action="store_true")
    show.set_defaults(run=cmd_show)

    replay = archive_commands.add_parser(
        "replay", help="replay every archived run of a case with this version's workflow code (no Temporal needed)",
        description="Exit codes: 0 every run replays, 1 a run does not (e.g. nondeterminism), 2 bad input.",
    )
    replay.add_argument("case", metavar="NUMBER")
    replay.set_defaults(run=cmd_replay)


__all__ = ["add_commands"]
