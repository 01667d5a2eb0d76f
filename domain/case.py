"""One case from receipt to decision: its state, the actions people take, and the rules for each.

Everything here is pure: the case workflow asks `refusal(...)` in an update's validator (a
refused action writes nothing to history) and calls `apply(...)` in its handler. What an
action causes outside the case (a register entry, a letter, a budget grant) is queued in
`CaseState.outbox` as `Effect`s that the workflow carries out through activities, so that
an officer's action is answered as soon as the case has recorded it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from domain.application import Application
from domain.call import Call, SharedCall
from domain.clock import format_instant_sv
from domain.findings import Verdict
from domain.lifecycle import Outcome, Stage, transition
from domain.money import Kronor
from domain.paths import resolve, section_parts, walk
from domain.payment import Bankgiro, Payments, PayoutKind
from domain.privacy import mask_text
from domain.reclaim import Hearing, Reclaim, Revocation
from domain.state_aid import CaseStateAid, GrantedAid
from domain.text import Clean

CaseNumber = Annotated[str, StringConstraints(pattern=r"^\d{4}-\d{5}$")]
ActionId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:@-]{1,100}$")]


def _not_a_personnummer(value: str) -> str:
    # A person's id is written to the case's history, the register and search attributes, none secret.
    if _LOOKS_PERSONAL.fullmatch(value):
        raise ValueError("ett aktörs-id är myndighetens användar-id, aldrig ett personnummer")
    return value


_LOOKS_PERSONAL = re.compile(r"(\d{2})?\d{6}[-+]?\d{4}")
PersonId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._@-]{1,100}$"), AfterValidator(_not_a_personnummer)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000), Clean]

# How many receipts a case keeps for re-sent actions: more than any case collects.
MAX_RECEIPTS = 500


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Role(StrEnum):
    APPLICANT = "applicant"
    OFFICER = "officer"
    DECISION_MAKER = "decision_maker"
    FINANCE = "finance"
    OPERATIONS = "operations"
    AUDITOR = "auditor"
    ADMINISTRATOR = "administrator"  # assigns cases to officers
    # Anyone, without an account, asking for a public document (TF 2 kap.): may stay anonymous.
    PUBLIC = "public"


class Actor(Model):
    """Who acts. The id is the agency's user id (or the applicant's e-service account), never a personnummer."""

    id: PersonId
    role: Role


class Action(Model):
    """What every human action carries: who, and an id that makes re-sending it harmless."""

    action_id: ActionId
    actor: Actor


class RequestCompletion(Action):
    missing: Annotated[list[Text], Field(min_length=1, max_length=50)]
    reply_days: Annotated[int, Field(ge=1, le=120)] | None = None


class SubmitCompletion(Action):
    application: Application


class AcceptForReview(Action):
    """The officer finds the application complete (e.g. accepts a late one) and moves it on."""

    note: Text | None = None


class SectionRuling(Model):
    section: Annotated[str, StringConstraints(max_length=200), Clean]
    secret: bool
    legal_ground: Text | None = None  # e.g. "OSL 30 kap. 23 §"
    reason: Text


class RecordSecrecyReview(Action):
    rulings: Annotated[list[SectionRuling], Field(max_length=200)] = []


class DeclareNoConflict(Action):
    pass


class CriterionScore(Model):
    criterion: Annotated[str, StringConstraints(max_length=40), Clean]
    score: int
    motivation: Text


class ScoreApplication(Action):
    scores: Annotated[list[CriterionScore], Field(min_length=1, max_length=50)]


class DecisionKind(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    DISMISS = "dismiss"


class PrepareDecision(Action):
    kind: DecisionKind
    # A standing proposal is replaced only on purpose, and the history says whose replaced whose.
    replaces_proposal: bool = False
    amount: Kronor | None = None
    period_start: date | None = None
    period_end: date | None = None
    conditions: Annotated[list[Text], Field(max_length=50)] = []
    reasons: Text | None = None
    # FL 25 §: material the applicant has not seen that the decision rests on.
    unseen_material: Text | None = None
    # An advance needs special reasons (SFS 2003:596) and somewhere to pay it.
    advance: Annotated[Decimal, Field(gt=0, max_digits=14, decimal_places=2)] | None = None
    advance_reasons: Text | None = None
    payee_bankgiro: Bankgiro | None = None
    # The call's date unless the decision sets another (e.g. a case decided after it).
    final_report_due: date | None = None


class Communicate(Action):
    reply_days: Annotated[int, Field(ge=14, le=120)] | None = None


class ReplyToCommunication(Action):
    text: Text


class Decide(Action):
    pass


class Withdraw(Action):
    reason: Text | None = None


class RequestDecision(Action):
    """FL 12 §: after six months without a decision, the applicant asks for one in writing."""

    text: Text


class Resume(Action):
    """Operations have fixed what stopped a step of the case (see `Stall`): carry it out again."""

    note: Text | None = None


class Assign(Action):
    """An administrator gives the case to a case officer, who is then its officer in the register and
    in Temporal UI; until then the case's officer is the one who assessed it."""

    officer: PersonId


class Receipt(Model):
    action_id: str
    action: str
    case_number: str
    accepted_at: datetime
    stage: Stage
    message: str  # Swedish
    # A hash of the command the receipt answers: the same action id with other content is
    # refused, not answered with this receipt. Receipts made before it have none.
    fingerprint: str | None = None


# --- what an action causes outside the case ------------------------------------------


class RecordEvent(Model):
    kind: Literal["event"] = "event"
    event_id: str
    at: datetime
    actor_id: str
    actor_role: str
    event: str
    summary: str
    stage: Stage | None = None  # where the case stood when it happened (older effects lack it)


class SendLetter(Model):
    kind: Literal["letter"] = "letter"
    letter_id: str
    letter: str  # a domain.letters.LetterKind value
    context: dict[str, str]
    # Another recipient than the applicant's contact person: someone who asked for a public document.
    recipient_name: str | None = None
    recipient_email: str | None = None


class SaveDocument(Model):
    kind: Literal["document"] = "document"
    document_id: str
    document: str
    title: str
    at: datetime
    content: dict[str, object]


class RunChecks(Model):
    kind: Literal["checks"] = "checks"


class TellCall(Model):
    """Keep the call's workflow informed for ranking: assessed, or out of the running.

    A case is not news when it is received: the call learns from the register, when it closes,
    which cases it must wait for, so that a burst of applications costs the call nothing.
    """

    kind: Literal["call"] = "call"
    news: Literal["assessed", "left"]
    score: int | None = None


class Pay(Model):
    """Order a payout from the payment ledger: exactly once per case and request number."""

    kind: Literal["pay"] = "pay"
    number: int
    payout: PayoutKind
    amount: Decimal
    bankgiro: str


class ArchiveEndedRuns(Model):
    """Copy the runs this case has continued from to the archive before retention removes them."""

    kind: Literal["archive"] = "archive"


class AdjustGrant(Model):
    """What the case holds of the call's budget is now `amount`: a revocation, a lower final
    grant, a withdrawal or a reclaim gives the rest back for other applications."""

    kind: Literal["adjust_grant"] = "adjust_grant"
    amount: Decimal


class RecordStateAid(Model):
    """Aid granted to companies the project reached, for the state-aid record (activities/state_aid.py)."""

    kind: Literal["state_aid"] = "state_aid"
    aid: list[GrantedAid]


Effect = Annotated[
    RecordEvent | SendLetter | SaveDocument | RunChecks | TellCall | Pay | AdjustGrant | ArchiveEndedRuns
    | RecordStateAid,
    Field(discriminator="kind"),
]


# --- the state of a case -------------------------------------------------------------


class CompletionRequest(Model):
    requested_by: str
    requested_at: datetime
    missing: list[str]
    deadline: datetime
    answered_at: datetime | None = None
    expired: bool = False


class SecrecyReview(Model):
    reviewed_by: str
    reviewed_at: datetime
    rulings: list[SectionRuling]


class Declaration(Model):
    """A person's declaration that no conflict of interest (jäv, FL 16–18 §§) keeps them from the case."""

    person: str
    role: str
    declared_at: datetime


class Assessment(Model):
    assessor: str
    conflict_declared_at: datetime
    scores: list[CriterionScore] = []
    total: int | None = None
    scored_at: datetime | None = None


class FundingProposal(Model):
    rank: int
    amount: Decimal  # zero when the budget ran out above this case


class PreparedDecision(Model):
    kind: DecisionKind
    prepared_by: str
    prepared_at: datetime
    amount: Decimal | None
    period_start: date | None
    period_end: date | None
    conditions: list[str]
    reasons: str | None
    unseen_material: str | None
    advance: Decimal | None = None
    advance_reasons: str | None = None
    payee_bankgiro: str | None = None
    final_report_due: date | None = None


class Decision(Model):
    outcome: Outcome
    decided_by: str
    prepared_by: str
    decided_at: datetime
    amount: Decimal | None
    period_start: date | None
    period_end: date | None
    conditions: list[str]
    reasons: str | None
    advance: Decimal | None = None
    final_report_due: date | None = None


class DecisionRequest(Model):
    requested_at: datetime
    deadline: datetime
    overdue: bool = False


# What each outbox step does, as operations read it beside a stopped case.
STEP_LABELS_SV = {
    "register": "diarieföringen",
    "letter": "brevutskicket",
    "checks": "kontrollen av ansökan",
    "call": "beskedet till utlysningen",
    "pay": "utbetalningen",
    "adjust_grant": "justeringen av utlysningens budget",
    "archive": "arkiveringen",
    "state_aid": "registreringen av stöd av mindre betydelse",
}


class PublicDocument(StrEnum):
    """What the public may ask for in a case (TF 2 kap.): the application or the decision."""

    APPLICATION = "application"
    DECISION = "decision"


class RecordsStatus(StrEnum):
    PENDING = "pending"  # waiting for the secrecy review or the officer
    RELEASED = "released"
    REFUSED_IN_PART = "refused_in_part"  # released with the secret parts withheld, by a written decision
    REFUSED = "refused"
    # The case closed before the request was answered: its workflow ends, so the request is handed
    # to the registry (registraturen), which answers requests for a closed case's documents.
    REFERRED = "referred"


class RecordsRefusal(Model):
    """A written decision to refuse a public document in whole or in part (OSL 6 kap. 7-8 §§)."""

    refused_by: str
    refused_at: datetime
    in_part: bool
    withheld: list[str] = []  # in part: the sections the secrecy review ruled secret
    reasons: str
    legal_ground: str


class RecordsRequest(Model):
    """A request for a public document (begäran om allmän handling), answered the same day if it can be."""

    request_id: str
    document: PublicDocument
    requested_at: datetime
    deadline: datetime  # the end of the day it came in, in Stockholm
    # TF 2 kap. 18 §: the requester need not say who they are. Personal data: never in the register.
    requester_name: str | None = None
    requester_email: str | None = None
    status: RecordsStatus = RecordsStatus.PENDING
    answered_at: datetime | None = None
    answered_by: str | None = None
    overdue: bool = False
    refusal: RecordsRefusal | None = None
    # The answer to the request as an action: kept here, not in `CaseState.receipts`, so that anyone's
    # requests never push an officer's receipt out of that bounded map (decision 24).
    receipt: Receipt | None = None
    release_id: str | None = None  # the `public_release` document of the version released


class Stall(Model):
    """An outbox step failed with an error that no retry can mend (e.g. the database refused the
    write): the case has stopped it, keeps its effect in the outbox, and waits for operations to
    fix the cause and resume it. Never the error's message, which may quote what people wrote."""

    step: str  # a key of STEP_LABELS_SV
    error: str  # the error's type, e.g. "DataError"
    at: datetime


class CaseState(Model):
    """All of a case, in one model that continue-as-new passes whole."""

    case_number: CaseNumber
    submission_id: str
    call: SharedCall
    application: Application
    received_at: datetime
    imported: bool
    late: bool
    stage: Stage = Stage.RECEIVED
    outcome: Outcome | None = None
    verdict: Verdict | None = None
    application_versions: int = 1
    completion: CompletionRequest | None = None
    secrecy: SecrecyReview | None = None
    assessment: Assessment | None = None
    # Everyone who has declared no conflict of interest in the case (the assessor first, as a rule).
    declarations: list[Declaration] = []
    funding: FundingProposal | None = None
    # What the call's workflow last said remains of its budget: lets an approval above it be
    # refused up front. The budget ledger still decides, since two approvals may race.
    budget_remaining: Decimal | None = None
    prepared: PreparedDecision | None = None
    communication: Hearing | None = None  # kommunicering before the grant decision
    decision: Decision | None = None
    decision_request: DecisionRequest | None = None
    withdrawal_reason: str | None = None
    granted: Decimal | None = None
    payments: Payments | None = None
    revocation: Revocation | None = None  # the latest revocation prepared, heard and perhaps decided
    reclaim: Reclaim | None = None
    closed_at: datetime | None = None
    receipts: dict[str, Receipt] = {}
    outbox: list[Effect] = []
    effects_done: int = 0  # a counter for effect ids that stays unique across continue-as-new
    stalled: Stall | None = None  # a step stopped for operations to resume
    assigned_officer: str | None = None  # given the case by an administrator (`Assign`)
    assigned_before: list[str] = []  # officers the case was assigned to earlier: they handled it too
    records_requests: list[RecordsRequest] = []  # requests for public documents (domain.records)
    # The `public_release` documents registered: each distinct version released is registered once.
    public_releases: list[str] = []
    # Aid to the companies the project reached: each report's check and the aid granted (domain.state_aid).
    state_aid: CaseStateAid = CaseStateAid()

    @property
    def officer(self) -> str | None:
        """The officer the case is assigned to; else the one who assessed it."""
        if self.assigned_officer is not None:
            return self.assigned_officer
        return self.assessment.assessor if self.assessment else None

    @property
    def handled_by(self) -> set[str]:
        """Who has handled the case as its officer: every officer it was assigned to and the assessor.
        Four eyes: none of them decides it."""
        assessor = self.assessment.assessor if self.assessment else None
        return {p for p in (*self.assigned_before, self.assigned_officer, assessor) if p}

    def has_declared(self, person: str) -> bool:
        """Whether `person` has declared no conflict of interest in this case (FL 16–18 §§)."""
        if any(d.person == person for d in self.declarations):
            return True
        # An assessor who declared before declarations were listed declared all the same.
        return self.assessment is not None and self.assessment.assessor == person

    @property
    def next_deadline(self) -> datetime | None:
        """The earliest deadline still running: what operations watch and the workflow waits for."""
        # A records request is answered the same day: its end is a deadline until it is answered or overdue.
        records = [r.deadline for r in self.records_requests if r.status is RecordsStatus.PENDING and not r.overdue]
        return min((d for d in (self.case_deadline, *records) if d is not None), default=None)

    @property
    def case_deadline(self) -> datetime | None:
        """The earliest deadline of the case's own course, without records requests: what the applicant
        is shown (a stranger's request is not the applicant's deadline) and the register's `next_deadline`."""
        running: list[datetime | None] = []
        if self.completion and not self.completion.answered_at and not self.completion.expired:
            running.append(self.completion.deadline)
        if self.communication and not self.communication.settled and self.stage is Stage.DECISION:
            running.append(self.communication.deadline)
        if self.decision_request and self.decision is None and not self.decision_request.overdue:
            running.append(self.decision_request.deadline)
        if self.payments is not None and self.stage is Stage.PAYMENTS:
            running.append(self.payments.next_deadline(self.call))
        if (self.revocation is not None and self.revocation.pending and not self.revocation.hearing.settled
                and self.stage in (Stage.PAYMENTS, Stage.FINAL_REPORT)):
            running.append(self.revocation.hearing.deadline)
        if self.reclaim is not None and self.stage is Stage.RECLAIM:
            running.append(self.reclaim.next_deadline())
        return min((d for d in running if d is not None), default=None)

    @property
    def records_pending_since(self) -> datetime | None:
        """When the oldest unanswered request for a public document came in: it tops the officer's inbox."""
        return min((r.requested_at for r in self.records_requests if r.status is RecordsStatus.PENDING),
                   default=None)

    @property
    def paid_out(self) -> Decimal:
        """Paid or ordered: once a payout is ordered it counts, so that nothing is paid twice."""
        return self.payments.ordered if self.payments else Decimal(0)

    def applicable_criteria(self) -> list[str]:
        return [
            c.id
            for c in self.call.assessment.criteria
            if c.when is None or resolve(self.application, c.when) is True
        ]


# --- starting a case ---------------------------------------------------------------------


def new_case(
    *,
    case_number: str,
    submission_id: str,
    call: Call,
    application: Application,
    received_at: datetime,
    imported: bool,
    verdict: Verdict | None = None,
) -> CaseState:
    state = CaseState(
        case_number=case_number,
        submission_id=submission_id,
        call=call,
        application=application,
        received_at=received_at,
        imported=imported,
        late=call.window.is_late(received_at),
    )
    how = "importerad från annat diarium" if imported else "mottagen i e-tjänsten"
    note_event(state, received_at, "system", "system", "registered", f"Ansökan registrerad ({how}).")
    queue_letter(state, "receipt", received_at)
    state.stage = transition(state.stage, Stage.COMPLETENESS)
    if verdict is None:
        state.outbox.append(RunChecks())
    else:
        checks_done(state, verdict, received_at)
    return state


def resume_refusal(state: CaseState, command: Resume) -> str | None:
    """Why operations cannot resume the case now, in Swedish; None when they can."""
    if command.actor.role is not Role.OPERATIONS:
        return "Åtgärden kan bara utföras av drift."
    if state.stalled is None:
        return "Inget steg i ärendet är stoppat; det finns inget att återuppta."
    return None


def resume(state: CaseState, command: Resume, now: datetime) -> str:
    """Clear the stop, so that the case carries out the stopped step again; returns the receipt's message."""
    assert state.stalled is not None
    step = STEP_LABELS_SV.get(state.stalled.step, state.stalled.step)
    state.stalled = None
    return f"Drift återupptar {step}, som hade stoppats."


def assign_refusal(state: CaseState, command: Assign) -> str | None:
    """Why the case cannot be assigned to `command.officer` now, in Swedish; None when it can."""
    if state.assigned_officer == command.officer:
        return f"Ärendet är redan tilldelat {command.officer}."
    if state.decision is not None and command.officer == state.decision.decided_by:
        return f"{command.officer} har fattat beslutet i ärendet och kan inte bli dess handläggare."
    return None


def assign(state: CaseState, command: Assign, now: datetime) -> str:
    """Give the case to an officer; returns the receipt's message."""
    before = state.assigned_officer
    state.assigned_officer = command.officer
    if before is not None:
        state.assigned_before.append(before)
        return f"Ärendet är tilldelat handläggare {command.officer} (tidigare {before})."
    return f"Ärendet är tilldelat handläggare {command.officer}."


def checks_done(state: CaseState, verdict: Verdict, now: datetime) -> None:
    """The call's checks have run: a clean, timely application goes on by itself."""
    state.verdict = verdict
    errors = len(verdict.errors)
    summary = "Ansökan uppfyller utlysningens krav." if verdict.eligible else f"Kontrollen fann {errors} fel."
    note_event(state, now, "system", "system", "checked", f"{summary} {len(verdict.warnings)} varningar.")
    if state.stage is Stage.COMPLETENESS and verdict.eligible and not state.late:
        state.stage = transition(state.stage, Stage.SECRECY_REVIEW)


def secrecy_marker(legal_ground: str | None) -> str:
    """What stands in a public document where a part was ruled secret."""
    return f"[Sekretess enligt {legal_ground or 'OSL'}]"


def public_version(state: CaseState) -> dict[str, object]:
    """The application as a public document: every part ruled secret replaced by a note of its legal ground.

    Parts the applicant marked but the review found public are released as written. The
    applicant's own reason for a mark ruled secret is withheld too, since it may describe what
    the mark protects; and the text of a secret part is withheld wherever else it is repeated
    (`withhold_secret_text`), so that the released document never contains it.
    """
    public, withheld = _redacted(state)
    return mask_personal_data(withhold_secret_text(public, withheld))


# What stands in a released document where a contact person's own address or number was. Released at once
# to anyone, a document keeps the organisations' own particulars and the people's names, not their contact data.
CONTACT_EMAIL_MASK = "[kontaktpersonens e-postadress lämnas inte ut här]"
CONTACT_PHONE_MASK = "[kontaktpersonens telefonnummer lämnas inte ut här]"


def mask_personal_data(document: dict[str, object]) -> dict[str, object]:
    """`document` with every personnummer (a sole trader's, wherever it stands) masked, and contact persons'
    e-mail addresses and telephone numbers replaced by a note; names and organisations' data stay."""
    def contact(key: str | None, masked: dict[str, object]) -> dict[str, object]:
        if key == "contact":
            for field, marker in (("email", CONTACT_EMAIL_MASK), ("phone", CONTACT_PHONE_MASK)):
                if masked.get(field):
                    masked[field] = marker
        return masked

    return _rewrite(document, mask_text, contact)


def secret_texts(state: CaseState) -> list[tuple[str, str]]:
    """Every text the secrecy review withheld, each with the note that stands in its place."""
    return _redacted(state)[1]


def _redacted(state: CaseState) -> tuple[dict[str, object], list[tuple[str, str]]]:
    public: dict[str, object] = state.application.model_dump(mode="json")
    secret = {r.section: r for r in (state.secrecy.rulings if state.secrecy else []) if r.secret}
    withheld: list[tuple[str, str]] = []
    for ruling in secret.values():
        marker = secrecy_marker(ruling.legal_ground)
        hidden = _replace_at(public, section_parts(ruling.section), marker)
        withheld += [(text, marker) for text in _texts(hidden)]
    marks = public.get("secret_sections")
    for mark in marks if isinstance(marks, list) else []:
        if isinstance(mark, dict) and (ruled := secret.get(str(mark.get("section")))) is not None:
            withheld += [(text, secrecy_marker(ruled.legal_ground)) for text in _texts(mark.get("reason"))]
            mark["reason"] = secrecy_marker(ruled.legal_ground)
    return public, withheld


# A text this short is withheld only where it is a whole value: inside longer text it says nothing of the part.
_SHORTEST_WITHHELD_INSIDE = 8
_NOTHING = object()


def withhold_secret_text(document: dict[str, object], withheld: list[tuple[str, str]]) -> dict[str, object]:
    """`document` with every text of `withheld` replaced by its note wherever it occurs, longest first."""
    # Longest first, then by text and note: the same result in every process (a set's order is not).
    ordered = sorted({(t.strip(), m) for t, m in withheld if t.strip()}, key=lambda tm: (-len(tm[0]), tm[0], tm[1]))

    def withhold(value: str) -> str:
        for text, marker in ordered:
            if value.strip() == text:
                return marker
            if len(text) >= _SHORTEST_WITHHELD_INSIDE and text in value:
                value = value.replace(text, marker)
        return value

    return _rewrite(document, withhold)


def _rewrite(document: dict[str, object], text: Callable[[str], str],
             objects: Callable[[str | None, dict[str, object]], dict[str, object]] = lambda _key, obj: obj,
             ) -> dict[str, object]:
    """A copy of a JSON `document` with every text rewritten by `text`, and every object (by the key it
    stands under) by `objects` once its own values are."""
    def clean(value: object, key: str | None = None) -> object:
        if isinstance(value, str):
            return text(value)
        if isinstance(value, dict):
            return objects(key, {k: clean(v, k) for k, v in value.items()})
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    cleaned = clean(document)
    assert isinstance(cleaned, dict)
    return cleaned


def _replace_at(document: object, parts: list[str | int] | None, marker: str) -> object:
    """Put `marker` where `parts` point in `document`; returns what was there (`_NOTHING` if nothing)."""
    if not parts:
        return _NOTHING
    *parents, leaf = parts
    node = walk(document, parents)
    if isinstance(leaf, str) and isinstance(node, dict) and leaf in node:
        hidden, node[leaf] = node[leaf], marker
        return hidden
    if isinstance(leaf, int) and isinstance(node, list) and leaf < len(node):
        hidden, node[leaf] = node[leaf], marker
        return hidden
    return _NOTHING


def _texts(value: object) -> list[str]:
    """Every text (and number, as text) in `value`, however deep."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, bool) or value is None or value is _NOTHING:
        return []
    if isinstance(value, int | float):
        return [str(value)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _texts(v)]
    if isinstance(value, list):
        return [t for v in value for t in _texts(v)]
    return []


# --- bookkeeping ----------------------------------------------------------------------------


def next_effect_id(state: CaseState, prefix: str) -> str:
    state.effects_done += 1
    return f"{prefix}-{state.effects_done:05d}"


def note_event(
    state: CaseState, at: datetime, actor_id: str, actor_role: str, event: str, summary: str,
    event_id: str | None = None,
) -> None:
    state.outbox.append(RecordEvent(
        event_id=event_id or next_effect_id(state, "event"), at=at, actor_id=actor_id, actor_role=actor_role,
        event=event, summary=summary, stage=state.stage,
    ))


def queue_letter(state: CaseState, letter: str, at: datetime, **context: str) -> None:
    contact = state.application.applicant.contact
    base = {
        "case_number": state.case_number,
        "project_title": state.application.project.title,
        "call_title": state.call.title,
        "agency": state.call.agency,
        "recipient_name": contact.name if contact else state.application.applicant.name,
        "received_at": format_instant_sv(state.received_at),
    }
    state.outbox.append(SendLetter(letter_id=next_effect_id(state, letter), letter=letter, context=base | context))


def received_document(state: CaseState) -> SaveDocument:
    """The application as it reached the agency: the case's first registered document (OSL 5 kap. 1 §).

    Later versions (completions) are registered as application-v2 and on."""
    return SaveDocument(document_id="application-v1", document="application", title="Ansökan",
                        at=state.received_at, content=state.application.model_dump(mode="json"))


def save_document(state: CaseState, document_id: str, document: str, title: str, at: datetime,
              content: dict[str, object]) -> None:
    state.outbox.append(SaveDocument(document_id=document_id, document=document, title=title, at=at,
                                     content=content))


def close_case(state: CaseState, now: datetime, summary: str) -> None:
    """Nothing is left to pay or repay: the case closes and the workflow archives it."""
    state.stage = transition(state.stage, Stage.CLOSED)
    state.closed_at = now
    note_event(state, now, "system", "system", "closed", f"Ärendet avslutat. {summary}")
    refer_pending_records_requests(state, now)
    if state.payments is not None:
        # A rejected or withdrawn application has had its letter; a grant's close is news.
        queue_letter(state, "case_closed", now, summary=summary)


def refer_pending_records_requests(state: CaseState, now: datetime) -> None:
    """A closing case's workflow ends: a request it has not answered goes to the registry, recorded in
    the case's history, so that it is neither lost nor shown as waiting for ever."""
    for request in state.records_requests:
        if request.status is RecordsStatus.PENDING:
            request.status = RecordsStatus.REFERRED
            request.answered_at, request.answered_by = now, "system"
            note_event(state, now, "system", "system", "records_request_referred",
                       f"Begäran om allmän handling {request.request_id} var obesvarad när ärendet avslutades;"
                       " den är överlämnad till registraturen, som besvarar den.")


__all__ = ["CaseState", "close_case", "new_case"]
