"""`grantflow submit | case | act | cases | letters`: working with cases from a terminal."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

import psycopg

from activities.payments import Payout as LedgerPayout
from cli.inputs import read_input
from domain.case import STEP_LABELS_SV, CaseState
from domain.clock import format_instant_sv, stockholm_date
from domain.findings import Severity
from domain.lifecycle import OUTCOME_LABELS_SV, STAGE_LABELS_SV, Stage
from domain.money import format_kronor, format_share, total
from domain.payment import PAYOUT_KIND_SV
from domain.reclaim import BASIS_SV
from domain.state_aid import format_euro
from infra.calls import default_catalog
from infra.errors import InputError, Unavailable
from infra.settings import Settings, client_settings
from infra.temporal import connect, run_command
from services import cases, register
from services.applications import check_imported_received, parse_instant
from services.inputs import json_object
from services.payments import payouts as ledger_payouts

EXIT_OK, EXIT_REFUSED, EXIT_INPUT = 0, 1, 2


def _run(coroutine: Callable[[Settings], Coroutine[Any, Any, int]]) -> int:
    try:
        return run_command(coroutine(client_settings()))
    except psycopg.errors.UndefinedTable:
        raise Unavailable("database: the register's tables are missing; run `grantflow db upgrade`") from None
    except psycopg.OperationalError as exc:  # also the pool's timeout: the server is not there
        # One line: libpq adds hints on lines of their own.
        raise Unavailable(f"database: {next(iter(str(exc).splitlines()), type(exc).__name__)}") from None


def _read_json_argument(text: str | None, field: str) -> dict[str, Any]:
    """--data takes JSON inline, or @FILE; anything else is a clear error."""
    if text is None:
        return {}
    return json_object(read_input(text[1:], field) if text.startswith("@") else text, field)


def _actor(text: str) -> dict[str, str]:
    role, sep, person = text.partition(":")
    if not sep or not person:
        raise InputError.one("--as", f"{text!r} är inte ROLL:ID, t.ex. officer:anna.andersson")
    return {"role": role, "id": person}


def cmd_submit(args: argparse.Namespace) -> int:
    # The input first: what is wrong with it is said whether or not a stack runs.
    raw = read_input(args.file, "FILE")
    imported = None
    if args.imported_received is not None:
        imported = check_imported_received(parse_instant(args.imported_received, "--imported-received"),
                                           "--imported-received")

    async def run(settings: Settings) -> int:
        client = await connect(settings)
        try:
            intake = await cases.submit(client, default_catalog(settings.data_dir), raw, task_queue=settings.task_queue,
                                        submission_id=args.submission_id, imported_received_at=imported)
        except cases.NotRegistered as exc:
            print(f"fel: {exc}", file=sys.stderr)
            return EXIT_REFUSED
        print(intake.case_number)
        for f in intake.verdict.findings:
            print(f"  {'fel' if f.severity is Severity.ERROR else 'varning'}  {f.rule}  {f.field}  {f.message}",
                  file=sys.stderr)
        return EXIT_OK

    return _run(run)


def cmd_act(args: argparse.Namespace) -> int:
    cases.check_case_number(args.case, "NUMBER")
    command = cases.build_command(args.action, _actor(args.actor), _read_json_argument(args.data, "--data"),
                                  args.action_id)

    async def run(settings: Settings) -> int:
        client = await connect(settings)
        try:
            receipt = await cases.act(client, args.case, args.action, command)
        except cases.ActionRefused as exc:
            print(f"nekad: {exc}", file=sys.stderr)
            return EXIT_REFUSED
        print(json.dumps(receipt.model_dump(mode="json"), ensure_ascii=False, indent=2) if args.json
              else f"{receipt.case_number}: {receipt.message} (steg: {STAGE_LABELS_SV[receipt.stage]})")
        return EXIT_OK

    return _run(run)


def cmd_case(args: argparse.Namespace) -> int:
    cases.check_case_number(args.case, "NUMBER")

    async def run(settings: Settings) -> int:
        client = await connect(settings)
        state = await cases.case_state(client, args.case)
        letters = await register.letters(settings, args.case)
        events = await register.events(settings, args.case)
        ledger = await ledger_payouts(settings, args.case) if state.payments is not None else []
        claim = state.reclaim.claim if state.reclaim else None
        # Today's balance with the rates the case itself has read, so that it agrees with the case.
        rates = state.reclaim.rates if state.reclaim else None
        balance = claim.provisional_balance(stockholm_date(datetime.now(UTC)), rates) if claim and rates else None
        if args.json:
            print(json.dumps({
                "state": state.model_dump(mode="json", exclude={"call", "outbox", "receipts"}),
                # What the assessor scores this application on: the call's criteria that apply to it.
                "criteria": [c.model_dump(mode="json") for c in state.call.assessment.criteria
                             if c.id in state.applicable_criteria()],
                "claim_balance": balance[0].model_dump(mode="json") if balance else None,
                "claim_balance_note": balance[1] if balance else None,
                "letters": [x.model_dump(mode="json") for x in letters],
                "history": [e.model_dump(mode="json") for e in events],
            }, ensure_ascii=False, indent=2))
            return EXIT_OK
        app = state.application
        print(f"Ärende {state.case_number} – {app.project.title}")
        print(f"Sökande:   {app.applicant.name}")
        print(f"Utlysning: {state.call.id} – {state.call.title}")
        late = " (för sent)" if state.late else ""
        print(f"Mottagen:  {format_instant_sv(state.received_at)}{late}{' (importerad)' if state.imported else ''}")
        outcome = f", utfall: {OUTCOME_LABELS_SV[state.outcome]}" if state.outcome else ""
        print(f"Steg:      {STAGE_LABELS_SV[state.stage]}{outcome}")
        print(f"Sökt:      {format_kronor(app.requested_amount)}"
              + (f", beviljat: {format_kronor(state.granted)}" if state.granted is not None else ""))
        if state.officer:
            print(f"Handläggare: {state.officer}")
        if state.next_deadline:
            print(f"Nästa frist: {format_instant_sv(state.next_deadline)}")
        if state.stalled:
            step = STEP_LABELS_SV.get(state.stalled.step, state.stalled.step)
            print(f"Stoppat:   Steget {step} har stoppats {format_instant_sv(state.stalled.at)} "
                  f"({state.stalled.error}); drift behöver åtgärda orsaken och återuppta ärendet "
                  f"(grantflow act {state.case_number} resume --as operations:ID).")
        if state.verdict:
            print("\nKontroll:")
            for f in state.verdict.findings:
                print(f"  {'fel' if f.severity is Severity.ERROR else 'varning'}  {f.rule}  {f.field}  {f.message}")
            if not state.verdict.findings:
                print("  inga anmärkningar")
        if state.stage is Stage.ASSESSMENT:
            print("\nBedömningskriterier:")
            for c in state.call.assessment.criteria:
                if c.id in state.applicable_criteria():
                    print(f"  {c.id}  {c.text}")
        _print_payments(state, ledger)
        _print_state_aid(state)
        if state.reclaim and balance:
            print(f"  Skuld i dag: {format_kronor(balance[0].total_due)} (varav ränta "
                  f"{format_kronor(balance[0].interest_due)}){' – ' + balance[1] if balance[1] else ''}")
        print("\nBrev:")
        for letter in letters:
            print(f"  {format_instant_sv(letter.created_at)}  {letter.subject}")
        print("\nHändelser:")
        for event in events:
            print(f"  {format_instant_sv(event.at)}  {event.actor_id:<12}  {event.summary}")
        return EXIT_OK

    return _run(run)


def _payout_status(ordered_at: datetime | None, sent: LedgerPayout | None) -> str:
    # Money has left only when the payout is in a bank file; until then it is ordered, not paid.
    if ordered_at is None:
        return "ska beordras"
    if sent is None or sent.bank_file_id is None:
        return f"godkänd för utbetalning {format_instant_sv(ordered_at)}, väntar på bankfil"
    return f"utbetald med bankfil {sent.bank_file_id}"


def _print_state_aid(state: CaseState) -> None:
    """De minimis aid to the companies the project reached: findings still open, and the aid granted."""
    aid = state.state_aid
    granted_reports = {a.aid_id.rsplit("-", 1)[0] for a in aid.granted}
    open_findings = [c for report, check in aid.checks.items() if report not in granted_reports for c in check.over]
    if not open_findings and not aid.granted:
        return
    print("\nStöd av mindre betydelse:")
    for company in open_findings:
        print(f"  över taket: {company.finding_sv()}")
    for a in aid.granted:
        print(f"  {a.granted_on}  {a.name} ({a.org_number})  {format_kronor(a.value)} ({format_euro(a.value_eur)})"
              f"  {a.regulation}")


def _print_payments(state: CaseState, ledger: list[LedgerPayout]) -> None:
    payments = state.payments
    if payments is not None:
        in_ledger = {p.request_number: p for p in ledger}
        sent = total(p.amount for p in ledger if p.bank_file_id is not None)
        print(f"\nUtbetalningar: beviljat {format_kronor(payments.granted)}, godkänt för utbetalning"
              f" {format_kronor(payments.ordered)}, varav skickat till banken {format_kronor(sent)}"
              f" (stödandel {format_share(payments.support_rate)}), slutrapport senast {payments.report_due}")
        for r in payments.requests:
            status = f"godkänt {format_kronor(r.approved_costs)}, betalas {format_kronor(r.payable)}" \
                if r.approved_costs is not None and r.payable is not None else "väntar på prövning"
            print(f"  ansökan {r.number}: {r.request.period_start} – {r.request.period_end}, "
                  f"begärt {format_kronor(r.request.requested)}, {status}")
        for p in payments.payouts:
            status = _payout_status(p.paid_at, in_ledger.get(p.number))
            print(f"  utbetalning {p.number} ({PAYOUT_KIND_SV[p.kind]}): {format_kronor(p.amount)}, {status}")
        report = payments.final_report
        if report is not None:
            final = f", slutligt stöd {format_kronor(report.final_grant)}" if report.final_grant is not None else ""
            print(f"  slutrapport inkommen {format_instant_sv(report.filed_at)}{final}")
    reclaim = state.reclaim
    if reclaim is not None:
        print(f"\nÅterkrav ({BASIS_SV[reclaim.basis]}): föreslaget {format_kronor(reclaim.suggested)}. {reclaim.note}")
        if reclaim.prepared:
            print(f"  förberett av {reclaim.prepared.prepared_by}: {format_kronor(reclaim.prepared.amount)}")
        if reclaim.claim:
            claim = reclaim.claim
            overdue = " – FÖRFALLET, eskalerat" if claim.escalated_at else ""
            print(f"  beslutat av {claim.decided_by}: {format_kronor(claim.principal)}, förfaller {claim.due_date}"
                  f"{overdue}")


def cmd_cases(args: argparse.Namespace) -> int:
    async def run(settings: Settings) -> int:
        rows = await register.cases(settings, call_id=args.call, stage=args.stage)
        for row in rows:
            granted = format_kronor(row.granted_amount) if row.granted_amount is not None else "–"
            stage = STAGE_LABELS_SV[Stage(row.stage)]
            print(f"{row.case_number}  {row.call_id:<28}  {stage:<28}  {format_kronor(row.requested_amount):>14}"
                  f"  {granted:>14}  {row.subject}")
        return EXIT_OK

    return _run(run)


def cmd_letters(args: argparse.Namespace) -> int:
    if args.case is not None:
        cases.check_case_number(args.case, "NUMBER")

    async def run(settings: Settings) -> int:
        for letter in await register.letters(settings, args.case):
            sent = "skickat" if letter.sent_at else "i utkorgen"
            print(f"=== {letter.case_number} {letter.letter_id} ({sent}) till {letter.recipient_name}")
            print(f"Ämne: {letter.subject}\n\n{letter.body}\n")
        return EXIT_OK

    return _run(run)


def add_commands(commands: Any) -> None:
    submit = commands.add_parser("submit", help="register an application and start its case")
    submit.add_argument("file", metavar="FILE", help="application JSON file, or - for standard input")
    submit.add_argument("--submission-id", help="the e-service's id: sending it again returns the same case")
    submit.add_argument("--imported-received", metavar="ISO-8601",
                        help="import an application registered elsewhere, with its own received instant")
    submit.set_defaults(run=cmd_submit)

    case = commands.add_parser("case", help="show a case: state, findings, letters and history")
    case.add_argument("case", metavar="NUMBER")
    case.add_argument("--json", action="store_true")
    case.set_defaults(run=cmd_case)

    act = commands.add_parser("act", help="take an action on a case", description=(
        "Actions: " + ", ".join(cases.ACTIONS)))
    act.add_argument("case", metavar="NUMBER")
    act.add_argument("action", choices=list(cases.ACTIONS), metavar="ACTION")
    act.add_argument("--as", dest="actor", required=True, metavar="ROLE:ID",
                     help="who acts, e.g. officer:anna, decision_maker:bo, applicant:region-ost")
    act.add_argument("--data", metavar="JSON|@FILE", help="the action's fields")
    act.add_argument("--action-id", help="re-sending the same id returns the first receipt")
    act.add_argument("--json", action="store_true")
    act.set_defaults(run=cmd_act)

    listing = commands.add_parser("cases", help="list the case register")
    listing.add_argument("--call")
    listing.add_argument("--stage", choices=[s.value for s in Stage])
    listing.set_defaults(run=cmd_cases)

    letters = commands.add_parser("letters", help="read the letters in the outbox")
    letters.add_argument("case", metavar="NUMBER", nargs="?")
    letters.set_defaults(run=cmd_letters)


__all__ = ["add_commands"]
