"""What an auditor checks: the register's chain of hashes, and the register against the recorded history.

Pure: the rows and facts are read elsewhere (activities/audit.py, services/audit_*.py) and handed in.
Every finding names its case and its row and says in Swedish what is wrong, as the auditor reads it.

The chain (migration 0010, docs/decisions/0029-a-chained-register.md): each event row of a case
has its place `seq` (1, 2, ...), the hash of the row before it (`prev_hash`, "" for the first)
and its own `hash`, over its content and `prev_hash`. `event_hash` is the one definition in
Python; the database's `case_event_hash` computes the same when the register writes the row.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict

from domain.clock import format_instant_sv
from domain.money import amounts_in, format_kronor

# The register's ids for the events the case notes itself (domain.case.next_effect_id); every other
# event id is the action id of an action a person took, which the history records as an update.
_SYSTEM_EVENT_ID = re.compile(r"^event-[0-9]+$")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def event_hash(prev_hash: str, case_number: str, seq: int, event_id: str, at: datetime, actor_id: str,
               actor_role: str, kind: str, stage: str, summary: str) -> str:
    """sha256 (hex) of each field as <length in characters>:<field>, in this order (as case_event_hash)."""
    instant = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
    fields = (prev_hash, case_number, str(seq), event_id, instant, actor_id, actor_role, kind, stage, summary)
    return hashlib.sha256("".join(f"{len(f)}:{f}" for f in fields).encode()).hexdigest()


def is_action_event(event_id: str) -> bool:
    return not _SYSTEM_EVENT_ID.fullmatch(event_id)


class ChainRow(_Model):
    """One row of case_events, with its place in the chain (None where the register did not write it)."""

    case_number: str
    event_id: str
    at: datetime
    actor_id: str
    actor_role: str
    kind: str
    stage: str
    summary: str
    seq: int | None
    prev_hash: str | None
    hash: str | None

    @property
    def recomputed(self) -> str | None:
        if self.seq is None or self.prev_hash is None:
            return None
        return event_hash(self.prev_hash, self.case_number, self.seq, self.event_id, self.at, self.actor_id,
                          self.actor_role, self.kind, self.stage, self.summary)


class Head(_Model):
    """The last row of a case's chain: what `grantflow audit heads` prints and verify compares with."""

    case_number: str
    seq: int
    hash: str


class Finding(_Model):
    case_number: str
    row: str  # the row concerned: an event id with its place, a payout, the case's row
    problem: str  # Swedish

    def line(self) -> str:
        return f"{self.case_number}: {self.row}: {self.problem}"


def head(rows: Sequence[ChainRow]) -> Head | None:
    chained = [r for r in rows if r.seq is not None and r.hash is not None]
    if not chained:
        return None
    last = max(chained, key=lambda r: r.seq or 0)
    assert last.seq is not None and last.hash is not None
    return Head(case_number=last.case_number, seq=last.seq, hash=last.hash)


def _label(row: ChainRow) -> str:
    return f"händelse {row.event_id}" + (f" (nr {row.seq})" if row.seq is not None else "")


def chain_findings(case_number: str, rows: Sequence[ChainRow], saved: Head | None = None) -> list[Finding]:
    """Every break in a case's chain: a row changed, deleted, inserted or rewritten since `saved`."""
    found: list[Finding] = []

    def finding(row: str, problem: str) -> None:
        found.append(Finding(case_number=case_number, row=row, problem=problem))

    for row in rows:
        if row.seq is None or row.hash is None or row.prev_hash is None:
            finding(_label(row), "saknar plats och hash i kedjan: raden är inte skriven av diariet (infogad för hand)")
    chained = sorted((r for r in rows if r.seq is not None and r.hash is not None and r.prev_hash is not None),
                     key=lambda r: r.seq or 0)
    expected, previous = 1, ""
    for row in chained:
        assert row.seq is not None
        if row.seq > expected:
            missing = (f"nr {expected}" if row.seq == expected + 1 else f"nr {expected}–{row.seq - 1}")
            finding(f"händelse {missing}", f"saknas i kedjan före {_label(row)} (borttagen)")
        elif row.prev_hash != previous:
            finding(_label(row), "pekar inte på hashen för raden före: en rad före den är ändrad, "
                                 "borttagen eller infogad")
        if row.recomputed != row.hash:
            finding(_label(row), "innehållet stämmer inte med radens hash: raden är ändrad efter att den skrevs")
        expected, previous = row.seq + 1, row.hash or ""
    if saved is not None:
        found += _against_saved(case_number, chained, saved)
    return found


def _against_saved(case_number: str, chained: Sequence[ChainRow], saved: Head) -> list[Finding]:
    at = next((r for r in chained if r.seq == saved.seq), None)
    row = f"händelse nr {saved.seq}"
    if at is None:
        return [Finding(case_number=case_number, row=row, problem=(
            "finns inte längre: kedjan är kortare än huvudet som sparades utanför databasen (rader borttagna)"))]
    if at.hash != saved.hash:
        return [Finding(case_number=case_number, row=f"{row} ({at.event_id})", problem=(
            f"har hashen {at.hash[:16] if at.hash else '–'}…, men huvudet som sparades utanför databasen "
            f"är {saved.hash[:16]}…: kedjan är omskriven"))]
    return []


# --- the register against the recorded history --------------------------------------------------


class HistoryAction(_Model):
    """An action a person took, as the case's recorded history holds it (an update and its receipt)."""

    action_id: str
    update: str  # the update's name, e.g. "decide"
    actor_id: str
    actor_role: str
    accepted_at: datetime | None  # the receipt's; None if the update did not complete (refused, or still running)
    action: str | None  # the receipt's action, e.g. "Decide": what the register records as the event's kind
    message: str | None  # the receipt's message (Swedish): what the register records as the event's summary
    details: dict[str, object] = {}  # what the action said, besides who took it


class HistoryPayout(_Model):
    """A payout as the case ordered it (the payment activity's input) and the ledger answered (its result)."""

    request_number: int
    kind: str
    amount: Decimal
    payee_name: str
    payee_bankgiro: str
    reference: str
    paid_at: datetime | None  # the ledger's, as its activity answered; None while it has not


class LedgerPayout(HistoryPayout):
    """A row of the payment ledger: what the bank file is built from. The same payout, always with its time."""

    paid_at: datetime


class LedgerGrant(_Model):
    """A row of the budget ledger: what the case holds of its call's budget (activities/budget.py)."""

    call_id: str
    amount: Decimal


class Notice(_Model):
    """A row verify could not check against the history, and why. Not a finding: nothing is known to be
    wrong (an honest case whose oldest runs left Temporal before it was archived reads so), so it does not
    fail the run; but the auditor reads that the row was not checked, rather than that it was and is fine."""

    case_number: str
    row: str
    note: str  # Swedish

    def line(self) -> str:
        return f"{self.case_number}: {self.row}: inte kontrollerad: {self.note}"


class Outcome(_Model):
    """The case's outcome and granted amount: as the history's last state has it, or the register's row.

    And where it stands: its stage (the call ranks only when no case is still being assessed) and its
    officer (whose inbox and team view show it). The history's are given only once the case has written
    the register (its outbox empty): a running case writes its row just after it answers (decision 19)."""

    outcome: str | None
    granted: Decimal | None
    stage: str | None = None
    officer: str | None = None


class Registration(_Model):
    """The case's row as the intake registered it (OSL 5 kap. 2 §, FL 22 §): as the case's recorded start
    holds it (the same application and received instant the intake registered), or as the row has it now.
    `sender_org_number` decides which applicant may see the case."""

    submission_id: str
    call_id: str
    received_at: datetime
    imported: bool
    sender_name: str
    sender_org_number: str | None  # None for a natural person: a personnummer is never in the register
    subject: str
    requested_amount: Decimal


# The fields of the case's row the history vouches for, as the auditor reads them.
_REGISTRATION_SV = {
    "received_at": "tiden då ansökan kom in", "sender_org_number": "avsändarens organisationsnummer",
    "sender_name": "avsändarens namn", "subject": "ärendemeningen (projektets titel)", "call_id": "utlysningen",
    "requested_amount": "sökt belopp", "submission_id": "inlämningens id", "imported": "importerad",
}
# The fields of a payout besides its kind and amount, which say who is paid.
_PAYEE_SV = {"payee_name": "betalningsmottagarens namn", "payee_bankgiro": "betalningsmottagarens bankgiro",
             "reference": "referensen till mottagaren"}


def _money(amount: Decimal | None) -> str:
    return format_kronor(amount) if amount is not None else "–"


def _shown(value: object, other: object) -> str:
    """A value of a finding as the auditor reads it; an instant to the microsecond where the minute is the
    same as the other's, so that the two never read alike."""
    if isinstance(value, datetime):
        minute = format_instant_sv(value)
        if isinstance(other, datetime) and format_instant_sv(other) == minute:
            return value.astimezone(UTC).isoformat(timespec="microseconds")
        return minute
    if isinstance(value, bool):
        return "ja" if value else "nej"
    if isinstance(value, Decimal):
        return _money(value)
    return "–" if value is None else repr(value)


def _differs(what: str, in_register: object, in_history: object, register: str = "diariet") -> str:
    return (f"{what} är {_shown(in_register, in_history)} i {register} men {_shown(in_history, in_register)} "
            "i historiken")


def cross_check(case_number: str, actions: Sequence[HistoryAction], events: Sequence[ChainRow], *,
                history_complete: bool, history_outcome: Outcome | None, register_outcome: Outcome | None,
                history_registration: Registration | None, register_registration: Registration | None,
                history_payouts: Sequence[HistoryPayout], ledger: Sequence[LedgerPayout],
                history_grants: Mapping[str, Decimal] | None = None,
                budget: Sequence[LedgerGrant] = ()) -> list[Finding]:
    """Where the register and the payment ledger say other than the recorded history.

    Every action in the history must be in the register as its event (same person, role, time, kind
    and text, which holds what was decided and the amounts); every action event in the register must
    be in the history (when the history is complete); the case's row must be there, with what the
    intake registered (received, sender, subject, call, amount applied for) and the outcome, granted
    amount, stage and officer of the history; every payout ordered in the history must be in the ledger with its kind,
    amount, payee and time paid, and nothing else; and the register must note each payout of the ledger.

    And the budget ledger must hold for the case, in each call, what the history's ledger activities left
    it holding (`history_grants`, by call; None where the history cannot say: see `held_grants`): a row
    deleted or shrunk by hand frees the call's budget for other cases, one raised or added takes it.
    """
    found: list[Finding] = []

    def finding(row: str, problem: str) -> None:
        found.append(Finding(case_number=case_number, row=row, problem=problem))

    by_id = {e.event_id: e for e in events}
    taken = {a.action_id: a for a in actions if a.accepted_at is not None}
    for action in taken.values():
        event = by_id.get(action.action_id)
        if event is None:
            when = f" ({format_instant_sv(action.accepted_at)})" if action.accepted_at is not None else ""
            finding(f"händelse {action.action_id}", f"åtgärden {action.action} av {action.actor_id}{when} finns i "
                                                    "historiken men inte i diariet (borttagen)")
            continue
        for what, register, history in (
            ("aktören", event.actor_id, action.actor_id), ("rollen", event.actor_role, action.actor_role),
            ("åtgärden", event.kind, action.action), ("texten", event.summary, action.message),
        ):
            if register != history:
                finding(_label(event), f"{what} är {register!r} i diariet men {history!r} i historiken")
        if action.accepted_at is not None and event.at != action.accepted_at:
            finding(_label(event), f"tiden är {format_instant_sv(event.at)} i diariet men "
                                   f"{format_instant_sv(action.accepted_at)} i historiken")
    if history_complete:
        for event in events:
            if is_action_event(event.event_id) and event.event_id not in taken:
                finding(_label(event), f"åtgärden {event.kind} av {event.actor_id} finns i diariet men inte i "
                                       "historiken (infogad)")
    if register_registration is None:
        finding("ärendets rad", "saknas i diariet, men ärendet finns i historiken (raden är borttagen)")
    elif history_registration is not None:
        for name, what in _REGISTRATION_SV.items():
            in_register, in_history = getattr(register_registration, name), getattr(history_registration, name)
            if in_register != in_history:
                finding("ärendets rad", _differs(what, in_register, in_history))
    if history_outcome is not None and register_outcome is not None:
        if history_outcome.outcome != register_outcome.outcome:
            finding("ärendets rad", f"utfallet är {register_outcome.outcome or '–'} i diariet men "
                                    f"{history_outcome.outcome or '–'} i historiken")
        if history_outcome.granted != register_outcome.granted:
            finding("ärendets rad", f"beviljat belopp är {_money(register_outcome.granted)} i diariet men "
                                    f"{_money(history_outcome.granted)} i historiken")
        if history_outcome.stage is not None:
            for name, what in (("stage", "steget"), ("officer", "handläggaren")):
                in_register, in_history = getattr(register_outcome, name), getattr(history_outcome, name)
                if in_register != in_history:
                    finding("ärendets rad", _differs(what, in_register, in_history))
    found += _payouts(case_number, history_payouts, ledger, events, history_complete=history_complete)
    if history_grants is not None:
        found += _grants(case_number, history_grants, budget)
    return found


def _grants(case_number: str, held: Mapping[str, Decimal], budget: Sequence[LedgerGrant]) -> list[Finding]:
    in_ledger = {g.call_id: g.amount for g in budget}
    found: list[Finding] = []
    for call_id in sorted(held.keys() | in_ledger.keys()):
        in_register, in_history = in_ledger.get(call_id), held.get(call_id)
        if in_register != in_history:
            found.append(Finding(case_number=case_number, row=f"budgetreservationen i utlysningen {call_id}", problem=(
                f"är {_money(in_register) if in_register is not None else 'ingen (raden saknas)'} i budgetregistret "
                f"men {_money(in_history) if in_history is not None else 'ingen'} enligt historiken")))
    return found


# The budget ledger's activities (activities/budget.py), as the history names them.
BUDGET_GRANT, BUDGET_RELEASE, BUDGET_ADJUST = "budget_grant", "budget_release", "budget_adjust"


class LedgerStep(_Model):
    """One answered call of the budget ledger, as the history records it: its activity, its call, and the
    amount it sent (an adjustment's target) or got back (what a grant left the case holding; None if refused)."""

    activity: str
    call_id: str
    amount: Decimal | None = None


def held_grants(steps: Sequence[LedgerStep]) -> dict[str, Decimal]:
    """What the case holds of each call's budget after `steps`, in the order they were answered, doing what
    the ledger's activities do: a grant holds what it answered (the first grant's amount on a retry), a release
    holds nothing, an adjustment lowers to its target (never raises; 0 holds nothing)."""
    held: dict[str, Decimal] = {}
    for step in steps:
        if step.activity == BUDGET_GRANT:
            if step.amount is not None and step.amount > 0:
                held[step.call_id] = step.amount
        elif step.activity == BUDGET_RELEASE or (step.activity == BUDGET_ADJUST and not step.amount):
            held.pop(step.call_id, None)
        elif step.activity == BUDGET_ADJUST and step.amount is not None and step.call_id in held:
            held[step.call_id] = min(held[step.call_id], step.amount)
    return held


def _payouts(case_number: str, ordered: Sequence[HistoryPayout], ledger: Sequence[LedgerPayout],
             events: Sequence[ChainRow], *, history_complete: bool = True) -> list[Finding]:
    found: list[Finding] = []
    in_history = {p.request_number: p for p in ordered}
    in_ledger = {p.request_number: p for p in ledger}
    for number in sorted(in_history.keys() | in_ledger.keys()):
        row = f"utbetalning nr {number}"
        history, paid = in_history.get(number), in_ledger.get(number)
        if paid is None:
            assert history is not None
            found.append(Finding(case_number=case_number, row=row, problem=(
                f"{_money(history.amount)} beordrades enligt historiken men saknas i betalregistret")))
        elif history is None:
            if not history_complete:
                continue  # ordered, perhaps, in a run no longer recorded: a notice says so (unchecked)
            found.append(Finding(case_number=case_number, row=row, problem=(
                f"{_money(paid.amount)} finns i betalregistret men beordrades aldrig enligt historiken")))
        else:
            if (history.kind, history.amount) != (paid.kind, paid.amount):
                found.append(Finding(case_number=case_number, row=row, problem=(
                    f"betalregistret säger {paid.kind} {_money(paid.amount)}, historiken "
                    f"{history.kind} {_money(history.amount)}")))
            # Who is paid: the bank file is built from the ledger's row.
            for name, what in _PAYEE_SV.items():
                if getattr(paid, name) != getattr(history, name):
                    found.append(Finding(case_number=case_number, row=row, problem=_differs(
                        what, getattr(paid, name), getattr(history, name), "betalregistret")))
            if history.paid_at is not None and paid.paid_at != history.paid_at:
                found.append(Finding(case_number=case_number, row=row, problem=_differs(
                    "tiden då utbetalningen registrerades", paid.paid_at, history.paid_at, "betalregistret")))
    # Each payout noted by an event of its own, with its exact amount (not "1 000 kr" inside "11 000 kr").
    noted = [amounts_in(e.summary) for e in events if e.kind == "paid"]
    for paid in sorted(ledger, key=lambda p: p.request_number):
        note = next((amounts for amounts in noted if paid.amount in amounts), None)
        if note is None:
            found.append(Finding(case_number=case_number, row=f"utbetalning nr {paid.request_number}", problem=(
                f"diariet har ingen händelse om utbetalningen på {format_kronor(paid.amount)}")))
        else:
            noted.remove(note)
    return found


def unchecked(case_number: str, *, history_complete: bool, row_present: bool, registration_read: bool,
              ledger_read: bool, unordered: Iterable[int] = ()) -> list[Notice]:
    """What of the case verify could not check against its history, each with why (see Notice): the case's
    row as the intake registered it, when the first run's start is not recorded or cannot be read; the budget
    ledger, when a run that may have granted is not recorded or a ledger step cannot be read; and each payout
    of the payment ledger the recorded runs did not order (`unordered`), when the history is incomplete."""
    found: list[Notice] = []
    oldest = "de äldsta körningarna finns varken i Temporal eller i arkivet"
    if row_present and not registration_read:
        found.append(Notice(case_number=case_number, row="ärendets rad", note=(
            "det som registrerades när ansökan kom in är inte jämfört med historiken: " + (
                oldest if not history_complete else "den första körningens start kan inte läsas av denna kod"))))
    if not history_complete or not ledger_read:
        found.append(Notice(case_number=case_number, row="budgetreservationen", note=(
            "budgetregistret är inte jämfört med historiken: " + (
                oldest if not history_complete else
                "ett steg i budgetregistret står i historiken utan svar, eller kan inte läsas av denna kod"))))
    if not history_complete:
        found += [Notice(case_number=case_number, row=f"utbetalning nr {number}", note=(
            f"att den beordrades är inte jämfört med historiken: {oldest}")) for number in sorted(unordered)]
    return found


def gone_cases(listed: Iterable[str], *, counters: Mapping[int, int], in_temporal: Iterable[str],
               saved: Iterable[str]) -> list[Finding]:
    """Each case that is not in the register although something outside its rows says it was: its number
    was handed out (numbers have no gaps within a year, decision 4), Temporal has its workflow, or a head
    of it was saved outside the database. One finding a case, with every sign of it."""
    signs: dict[str, list[str]] = {}
    for year, last in counters.items():
        for n in range(1, last + 1):
            # As the register writes them: five digits, more from the 100 000th case of a year.
            signs.setdefault(f"{year}-{n:05d}", []).append(f"numret är utdelat (räknaren för {year} står på {last})")
    for number in in_temporal:
        signs.setdefault(number, []).append("Temporal har ärendets arbetsflöde")
    for number in saved:
        signs.setdefault(number, []).append("ett huvud av dess kedja är sparat utanför databasen")
    present = set(listed)
    return [Finding(case_number=number, row="hela ärendet", problem=(
        "finns inte i diariet, men " + "; ".join(why) + ": ärendet är borttaget"))
        for number, why in sorted(signs.items()) if number not in present]


def findings_by_row(findings: Iterable[Finding]) -> dict[str, list[str]]:
    by_row: dict[str, list[str]] = {}
    for f in findings:
        by_row.setdefault(f.row, []).append(f.problem)
    return by_row


__all__ = ["ChainRow", "Finding", "Head", "HistoryAction", "HistoryPayout", "LedgerGrant", "LedgerPayout", "LedgerStep",
           "Notice", "Outcome", "Registration", "chain_findings", "cross_check", "event_hash", "gone_cases", "head",
           "held_grants", "is_action_event", "unchecked"]
