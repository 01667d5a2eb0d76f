"""The register's chain, and the ledger against the history, checked without a database: each break named by its row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from domain.audit import (
    ChainRow,
    HistoryPayout,
    LedgerGrant,
    LedgerPayout,
    LedgerStep,
    chain_findings,
    cross_check,
    event_hash,
    gone_cases,
    held_grants,
    unchecked,
)
from domain.money import amounts_in, format_kronor


def test_the_chain_names_each_break_without_a_database():
    at = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)

    def row(seq: int, prev: str, summary: str = "x") -> ChainRow:
        fields = {"case_number": "2026-00001", "event_id": f"event-{seq:05d}", "at": at + timedelta(minutes=seq),
                  "actor_id": "system", "actor_role": "system", "kind": "noted", "stage": "received",
                  "summary": summary}
        digest = event_hash(prev, fields["case_number"], seq, fields["event_id"], fields["at"], "system", "system",
                            "noted", "received", summary)
        return ChainRow(**fields, seq=seq, prev_hash=prev, hash=digest)

    first = row(1, "")
    second = row(2, first.hash or "")
    third = row(3, second.hash or "")
    assert chain_findings("2026-00001", [first, second, third]) == []
    edited = second.model_copy(update={"summary": "y"})
    assert [f.row for f in chain_findings("2026-00001", [first, edited, third])] == ["händelse event-00002 (nr 2)"]
    problems = chain_findings("2026-00001", [first, third])
    assert [(f.row, f.problem.split(" (")[0]) for f in problems] == [
        ("händelse nr 2", "saknas i kedjan före händelse event-00003")]
    forged = edited.model_copy(update={"hash": event_hash("", "x", 0, "x", at, "x", "x", "x", "x", "x")})
    assert "pekar inte på hashen" in chain_findings("2026-00001", [first, forged, third])[-1].problem


def test_amounts_are_read_whole_from_a_text():
    text = (f"Utbetalning beordrad: {format_kronor(Decimal('11000'))} (förskott), "
            f"och {format_kronor(Decimal('1250.5'))}.")
    assert amounts_in(text) == [Decimal("11000.00"), Decimal("1250.50")]
    assert Decimal("1000") not in amounts_in(text)  # "1 000 kr" is not read inside "11 000 kr"
    assert amounts_in(format_kronor(Decimal("1100000"))) == [Decimal("1100000")]


def test_a_payout_is_checked_by_its_exact_amount_and_its_payee():
    at = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    ordered = HistoryPayout(request_number=0, kind="advance", amount=Decimal("1000.00"), payee_name="Region Exempel",
                            payee_bankgiro="54029681", reference="2026-00001", paid_at=at)
    ledger = LedgerPayout(**ordered.model_dump(exclude={"paid_at"}), paid_at=at)
    note = ChainRow(case_number="2026-00001", event_id="event-00009", at=at, actor_id="finance", actor_role="system",
                    kind="paid", stage="payments", seq=None, prev_hash=None, hash=None,
                    summary=f"Utbetalning beordrad: {format_kronor(Decimal('11000'))} (förskott).")

    def problems(paid: LedgerPayout) -> list[str]:
        return [f.problem for f in cross_check(
            "2026-00001", [], [note], history_complete=True, history_outcome=None, register_outcome=None,
            history_registration=None, register_registration=None, history_payouts=[ordered], ledger=[paid])
            if f.row == "utbetalning nr 0"]

    assert problems(ledger) == [f"diariet har ingen händelse om utbetalningen på {format_kronor(Decimal('1000'))}"]
    note = note.model_copy(update={"summary": f"Utbetalning beordrad: {format_kronor(Decimal('1000'))} (förskott)."})
    assert problems(ledger) == []
    moved = ledger.model_copy(update={"payee_bankgiro": "56781234", "paid_at": at + timedelta(seconds=1)})
    assert problems(moved) == [
        "betalningsmottagarens bankgiro är '56781234' i betalregistret men '54029681' i historiken",
        "tiden då utbetalningen registrerades är 2026-03-01T09:30:01.000000+00:00 i betalregistret men "
        "2026-03-01T09:30:00.000000+00:00 i historiken",
    ]


def test_the_budget_ledger_holds_what_the_history_s_ledger_steps_left_the_case():
    D = Decimal
    call = "regional-2021"
    granted = LedgerStep(activity="budget_grant", call_id=call, amount=D("400000.00"))
    # A grant, a revocation lowering it, a final grant above what is held now (never raised), a reclaim.
    steps = [granted, LedgerStep(activity="budget_adjust", call_id=call, amount=D("200000.00")),
             LedgerStep(activity="budget_adjust", call_id=call, amount=D("250000.00")),
             LedgerStep(activity="budget_adjust", call_id=call, amount=D("60000.00"))]
    assert held_grants(steps) == {call: D("60000.00")}
    # Refused over the budget; granted then released (the case changed while it was decided); withdrawn.
    assert held_grants([LedgerStep(activity="budget_grant", call_id=call, amount=None)]) == {}
    assert held_grants([granted, LedgerStep(activity="budget_release", call_id=call)]) == {}
    assert held_grants([granted, LedgerStep(activity="budget_adjust", call_id=call, amount=D(0))]) == {}

    def problems(held: dict[str, Decimal] | None, *rows: LedgerGrant) -> list[str]:
        return [f"{f.row}: {f.problem}" for f in cross_check(
            "2026-00001", [], [], history_complete=True, history_outcome=None, register_outcome=None,
            history_registration=None, register_registration=None, history_payouts=[], ledger=[],
            history_grants=held, budget=rows)
            if f.row.startswith("budget")]

    held = {call: D("400000.00")}
    assert problems(held, LedgerGrant(call_id=call, amount=D("400000"))) == []
    assert problems(held, LedgerGrant(call_id=call, amount=D("300000.00"))) == [
        f"budgetreservationen i utlysningen {call}: är {format_kronor(D(300000))} i budgetregistret men "
        f"{format_kronor(D(400000))} enligt historiken"]
    assert problems(held) == [f"budgetreservationen i utlysningen {call}: är ingen (raden saknas) i budgetregistret "
                              f"men {format_kronor(D(400000))} enligt historiken"]
    assert problems({}, LedgerGrant(call_id=call, amount=D("1.00"))) == [
        f"budgetreservationen i utlysningen {call}: är {format_kronor(D(1))} i budgetregistret men ingen enligt "
        "historiken"]
    # Where the history cannot say (not settled, a step unanswered), nothing is compared.
    assert problems(None) == []


def test_what_could_not_be_checked_is_a_notice_not_a_finding():
    assert unchecked("2026-00001", history_complete=True, row_present=True, registration_read=True,
                     ledger_read=True) == []
    incomplete = unchecked("2026-00001", history_complete=False, row_present=True, registration_read=False,
                           ledger_read=True)
    assert [n.row for n in incomplete] == ["ärendets rad", "budgetreservationen"]
    assert incomplete[0].line() == (
        "2026-00001: ärendets rad: inte kontrollerad: det som registrerades när ansökan kom in är inte jämfört "
        "med historiken: de äldsta körningarna finns varken i Temporal eller i arkivet")
    unread = unchecked("2026-00001", history_complete=True, row_present=True, registration_read=False,
                       ledger_read=True)
    assert [n.note.rsplit(": ", 1)[1] for n in unread] == ["den första körningens start kan inte läsas av denna kod"]
    # A payout ordered, perhaps, in a run no longer recorded is not checked, and not a finding.
    at = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    paid = LedgerPayout(request_number=0, kind="advance", amount=Decimal("1000.00"), payee_name="Region Exempel",
                        payee_bankgiro="54029681", reference="2026-00001", paid_at=at)
    note = ChainRow(case_number="2026-00001", event_id="event-00009", at=at, actor_id="finance", actor_role="system",
                    kind="paid", stage="payments", seq=None, prev_hash=None, hash=None,
                    summary=f"Utbetalning beordrad: {format_kronor(Decimal('1000'))} (förskott).")
    never = "1\u00a0000\u00a0kr finns i betalregistret men beordrades aldrig enligt historiken"
    for complete, found in ((True, [never]), (False, [])):
        assert [f.problem for f in cross_check(
            "2026-00001", [], [note], history_complete=complete, history_outcome=None, register_outcome=None,
            history_registration=None, register_registration=None, history_payouts=[], ledger=[paid])
            if f.row == "utbetalning nr 0"] == found
    assert [n.row for n in unchecked("2026-00001", history_complete=False, row_present=True, registration_read=True,
                                     ledger_read=True, unordered=[0])] == ["budgetreservationen", "utbetalning nr 0"]
    # A case without its row is a finding of its own (cross_check), not a row left unchecked.
    assert unchecked("2026-00001", history_complete=True, row_present=False, registration_read=False,
                     ledger_read=True) == []


def test_a_case_deleted_whole_is_named_by_what_is_kept_outside_its_rows():
    found = gone_cases(["2026-00001", "2026-00003"], counters={2026: 3}, in_temporal={"2026-00002", "2026-00003"},
                       saved={"2026-00002": None})
    assert [(f.case_number, f.row) for f in found] == [("2026-00002", "hela ärendet")]
    assert found[0].problem == ("finns inte i diariet, men numret är utdelat (räknaren för 2026 står på 3); Temporal "
                                "har ärendets arbetsflöde; ett huvud av dess kedja är sparat utanför databasen: "
                                "ärendet är borttaget")
