"""One case as people read it: the whole case for staff, and what an applicant sees of their own.

Built here so that the API, a web page and the CLI show the same thing. Staff who are shown the
parts of an application that the applicant marked as business secrets (OSL 30 kap. 23 §) are
logged in `secret_readings` (who, when, which case, which parts); auditors and administrators
read that log. An applicant's view has no internal notes, scores or proposals: only where the
case stands, the deadlines, the letters, the decision and the payments.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Literal

from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel
from temporalio.client import Client

from activities.archive import archived_case
from activities.letters import StoredLetter, list_letters
from activities.payments import Payout as LedgerPayout
from activities.payments import list_payouts
from activities.readings import SecretReading, record_secret_reading, secret_readings
from activities.register import CaseEvent, DocumentEntry, RegisterRow, case_events, find_case, list_documents
from domain import inbox
from domain.case import (
    Assessment,
    CaseState,
    Declaration,
    PreparedDecision,
    PublicDocument,
    RecordsStatus,
    Role,
    SecrecyReview,
    SectionRuling,
    Stall,
)
from domain.case import Decision as CaseDecision
from domain.clock import stockholm_date
from domain.findings import Severity
from domain.interest import ClaimBalance
from domain.lifecycle import OUTCOME_LABELS_SV, STAGE_LABELS_SV, Outcome, Stage
from domain.paths import value_at
from domain.payment import Payments, PayoutKind
from domain.reclaim import Hearing, Reclaim, Revocation
from domain.records import REQUESTER_LETTERS, records_request_deadline
from domain.state_aid import CaseStateAid
from infra.calls import CallCatalog
from services.archive import final_state
from services.cases import CaseNotFound, case_state

# Who may read the log of secret readings.
READS_SECRET_READINGS = frozenset({Role.AUDITOR, Role.ADMINISTRATOR})


class Deadline(BaseModel):
    kind: str  # a domain.inbox.DeadlineKind
    label: str  # Swedish
    due: datetime
    passed: bool  # and still not met: overdue


class MarkedSection(BaseModel):
    """A part of the application the applicant marked as a business secret, and the review's ruling."""

    section: str  # JSON path, e.g. $.change_logic.planned_work
    secret_claimed: bool = True
    applicant_reason: str
    content: Any = None  # what the part says (None when the path does not lead anywhere)
    ruling: SectionRuling | None = None  # None until the secrecy review


class FindingView(BaseModel):
    rule: str
    severity: Severity
    field: str
    message: str
    rule_text: str | None  # the rule in the call's (or the form's) own words
    call_section: str | None  # the heading of the call text the rule comes from


class RecordsRequestView(BaseModel):
    """A request for a public document in the case, as the officer answering it sees it (no requester data)."""

    request_id: str
    document: PublicDocument
    requested_at: datetime
    deadline: datetime  # the same day, in Stockholm
    status: RecordsStatus
    answered_at: datetime | None
    answered_by: str | None
    overdue: bool


class Criterion(BaseModel):
    id: str
    text: str


# Where a case was read: its running (or retained) workflow, or the archive of a closed one.
ReadFrom = Literal["temporal", "archive"]


class StaffCaseView(BaseModel):
    """The whole case, for officers, decision makers, finance, auditors and administrators."""

    view: Literal["staff"] = "staff"
    read_from: ReadFrom = "temporal"
    case_number: str
    call_id: str
    call_title: str
    applicant_name: str
    project_title: str
    received_at: datetime
    late: bool
    imported: bool
    stage: Stage
    stage_label: str
    outcome: Outcome | None
    officer: str | None
    assigned_officer: str | None
    requested_amount: Decimal
    granted: Decimal | None
    application: dict[str, Any]
    application_versions: int
    secret_sections: list[MarkedSection]
    findings: list[FindingView]
    criteria: list[Criterion]
    secrecy: SecrecyReview | None
    declarations: list[Declaration]
    assessment: Assessment | None
    prepared: PreparedDecision | None
    communication: Hearing | None
    decision: CaseDecision | None
    payments: Payments | None
    payouts: list[LedgerPayout]  # the payment ledger's rows: what has gone, or waits for, a bank file
    # De minimis aid to the companies the project reached: each report's check and the aid granted.
    state_aid: CaseStateAid = CaseStateAid()
    revocation: Revocation | None
    reclaim: Reclaim | None
    claim_balance: ClaimBalance | None
    claim_balance_note: str | None
    deadlines: list[Deadline]
    stalled: Stall | None
    documents: list[DocumentEntry]
    letters: list[StoredLetter]
    history: list[CaseEvent]
    # Only for auditors and administrators; None for everyone else.
    secret_readings: list[SecretReading] | None = None
    records_requests: list[RecordsRequestView] = []


class CaseHistory(BaseModel):
    case_number: str
    events: list[CaseEvent]
    # Only for auditors and administrators; None for everyone else.
    secret_readings: list[SecretReading] | None = None


class ApplicantLetter(BaseModel):
    letter_id: str
    kind: str
    subject: str
    body: str
    created_at: datetime
    sent_at: datetime | None


class ApplicantDecision(BaseModel):
    outcome: Outcome
    outcome_label: str
    decided_at: datetime
    amount: Decimal | None
    period_start: date | None
    period_end: date | None
    conditions: list[str]
    reasons: str | None
    advance: Decimal | None
    final_report_due: date | None


class ApplicantPaymentRequest(BaseModel):
    number: int
    filed_at: datetime
    period_start: date
    period_end: date
    requested: Decimal
    reviewed_at: datetime | None
    approved_costs: Decimal | None
    payable: Decimal | None


class ApplicantPayout(BaseModel):
    number: int
    kind: PayoutKind
    amount: Decimal
    ordered_at: datetime
    paid_at: datetime | None


class ApplicantPayments(BaseModel):
    granted: Decimal
    paid_or_ordered: Decimal
    period_start: date
    period_end: date
    report_due: date
    final_report_filed_at: datetime | None
    final_grant: Decimal | None
    requests: list[ApplicantPaymentRequest]
    payouts: list[ApplicantPayout]


class ApplicantClaim(BaseModel):
    principal: Decimal
    decided_at: datetime
    due_date: date
    repaid: Decimal
    settled_at: datetime | None


class ApplicantCompletion(BaseModel):
    missing: list[str]
    deadline: datetime
    answered_at: datetime | None
    expired: bool


class ApplicantCaseView(BaseModel):
    """What an applicant sees of their own case: no internal notes, scores or proposals."""

    view: Literal["applicant"] = "applicant"
    read_from: ReadFrom = "temporal"
    case_number: str
    call_id: str
    call_title: str
    project_title: str
    received_at: datetime
    stage: Stage
    stage_label: str
    outcome: Outcome | None
    requested_amount: Decimal
    completion: ApplicantCompletion | None
    deadlines: list[Deadline]
    letters: list[ApplicantLetter]
    decision: ApplicantDecision | None
    payments: ApplicantPayments | None
    claim: ApplicantClaim | None


async def staff_view(client: Client, pool: AsyncConnectionPool, catalog: CallCatalog, case_number: str,
                     reader_id: str, reader_role: Role, *, secret_parts: bool = True) -> StaffCaseView:
    """The whole case for a member of staff. Showing it shows the secret-marked parts, so the reading is
    logged first: if the log cannot be written, nothing is shown.

    Without `secret_parts` the case comes without what the marked parts could tell (the application, and
    each marked section's content and the applicant's reason for the mark), and no reading is logged:
    for a client that needs the case's shape, not its content (the web pages, to read back a form)."""
    state, read_from = await _state(client, pool, case_number)
    marked = _marked_sections(state)
    if marked and secret_parts:
        await record_secret_reading(pool, case_number, reader_id, reader_role.value, [m.section for m in marked])
    application = state.application.model_dump(mode="json")
    if not secret_parts and marked:
        application = {}
        marked = [m.model_copy(update={"content": None, "applicant_reason": ""}) for m in marked]
    ledger = await list_payouts(pool, case_number) if state.payments is not None else []
    claim = state.reclaim.claim if state.reclaim else None
    rates = state.reclaim.rates if state.reclaim else None
    balance = claim.provisional_balance(stockholm_date(datetime.now(UTC)), rates) if claim and rates else None
    return StaffCaseView(
        read_from=read_from,
        case_number=state.case_number, call_id=state.call.id, call_title=state.call.title,
        applicant_name=state.application.applicant.name, project_title=state.application.project.title,
        received_at=state.received_at, late=state.late, imported=state.imported, stage=state.stage,
        stage_label=STAGE_LABELS_SV[state.stage], outcome=state.outcome, officer=state.officer,
        assigned_officer=state.assigned_officer, requested_amount=state.application.requested_amount,
        granted=state.granted, application=application,
        application_versions=state.application_versions, secret_sections=marked,
        findings=_findings(state, catalog),
        criteria=[Criterion(id=c.id, text=c.text) for c in state.call.assessment.criteria
                  if c.id in state.applicable_criteria()],
        secrecy=state.secrecy, declarations=state.declarations, assessment=state.assessment,
        prepared=state.prepared, communication=state.communication, decision=state.decision,
        payments=state.payments, payouts=ledger, state_aid=state.state_aid, revocation=state.revocation,
        reclaim=state.reclaim.model_copy(update={"rates": None}) if state.reclaim else None,
        claim_balance=balance[0] if balance else None, claim_balance_note=balance[1] if balance else None,
        deadlines=deadlines(state), stalled=state.stalled,
        documents=await list_documents(pool, case_number),
        letters=await list_letters(pool, case_number),
        history=await case_events(pool, case_number),
        secret_readings=await secret_readings(pool, case_number) if reader_role in READS_SECRET_READINGS else None,
        records_requests=[RecordsRequestView(
            request_id=r.request_id, document=r.document, requested_at=r.requested_at, deadline=r.deadline,
            status=r.status, answered_at=r.answered_at, answered_by=r.answered_by, overdue=r.overdue)
            for r in state.records_requests],
    )


async def _state(client: Client, pool: AsyncConnectionPool, case_number: str) -> tuple[CaseState, ReadFrom]:
    """The case as its workflow holds it; once Temporal's retention has removed a closed case, as its
    archive recorded it (the state its last run completed with)."""
    try:
        return await case_state(client, case_number), "temporal"
    except CaseNotFound:
        archive = await archived_case(pool, case_number)
        state = await final_state(archive, client.data_converter) if archive is not None else None
        if state is None:
            raise
        return state, "archive"


async def case_history(pool: AsyncConnectionPool, case_number: str, reader_role: Role) -> CaseHistory:
    """The case's register events; with the log of secret readings for auditors and administrators."""
    if await registered(pool, case_number) is None:
        raise CaseNotFound.one("case", f"det finns inget ärende {case_number!r}")
    return CaseHistory(
        case_number=case_number, events=await case_events(pool, case_number),
        secret_readings=await secret_readings(pool, case_number) if reader_role in READS_SECRET_READINGS else None,
    )


async def applicant_view(client: Client, pool: AsyncConnectionPool, case_number: str) -> ApplicantCaseView:
    """What the applicant sees of their own case (the caller has made sure it is theirs)."""
    state, read_from = await _state(client, pool, case_number)
    letters = await list_letters(pool, case_number)
    decision = state.decision
    payments = state.payments
    claim = state.reclaim.claim if state.reclaim else None
    completion = state.completion
    return ApplicantCaseView(
        read_from=read_from,
        case_number=state.case_number, call_id=state.call.id, call_title=state.call.title,
        project_title=state.application.project.title, received_at=state.received_at, stage=state.stage,
        stage_label=STAGE_LABELS_SV[state.stage], outcome=state.outcome,
        requested_amount=state.application.requested_amount,
        completion=ApplicantCompletion(missing=completion.missing, deadline=completion.deadline,
                                       answered_at=completion.answered_at, expired=completion.expired)
        if completion else None,
        deadlines=deadlines(state, records=False),
        letters=[ApplicantLetter(letter_id=x.letter_id, kind=x.kind, subject=x.subject, body=x.body,
                                 created_at=x.created_at, sent_at=x.sent_at)
                 for x in letters if x.kind not in REQUESTER_LETTERS],
        decision=ApplicantDecision(
            outcome=decision.outcome, outcome_label=OUTCOME_LABELS_SV[decision.outcome],
            decided_at=decision.decided_at, amount=decision.amount, period_start=decision.period_start,
            period_end=decision.period_end, conditions=decision.conditions, reasons=decision.reasons,
            advance=decision.advance, final_report_due=decision.final_report_due,
        ) if decision else None,
        payments=ApplicantPayments(
            granted=payments.granted, paid_or_ordered=payments.ordered, period_start=payments.period_start,
            period_end=payments.period_end, report_due=payments.report_due,
            final_report_filed_at=payments.final_report.filed_at if payments.final_report else None,
            final_grant=payments.final_report.final_grant if payments.final_report else None,
            requests=[ApplicantPaymentRequest(
                number=r.number, filed_at=r.filed_at, period_start=r.request.period_start,
                period_end=r.request.period_end, requested=r.request.requested, reviewed_at=r.reviewed_at,
                approved_costs=r.approved_costs, payable=r.payable) for r in payments.requests],
            payouts=[ApplicantPayout(number=p.number, kind=p.kind, amount=p.amount, ordered_at=p.ordered_at,
                                     paid_at=p.paid_at) for p in payments.payouts],
        ) if payments else None,
        claim=ApplicantClaim(
            principal=claim.principal, decided_at=claim.decided_at, due_date=claim.due_date,
            repaid=sum((r.amount for r in claim.repayments), Decimal(0)),
            settled_at=state.reclaim.settled_at if state.reclaim else None,
        ) if claim else None,
    )


async def registered(pool: AsyncConnectionPool, case_number: str) -> RegisterRow | None:
    """The case's line in the register (whose it is: `sender_org_number`); None when there is none."""
    return await find_case(pool, case_number)


def deadlines(state: CaseState, *, records: bool = True) -> list[Deadline]:
    """Every date by which someone has to have done something in the case, earliest first, passed or
    not (domain.inbox, as the officers' inbox reads it); `records=False` leaves out the requests for
    public documents, which are the agency's to answer and none of the applicant's business."""
    found = inbox.deadlines(state)
    if records and state.records_pending_since is not None:
        found.append(inbox.Deadline(kind=inbox.DeadlineKind.RECORDS_REQUEST,
                                    at=records_request_deadline(state.records_pending_since)))
    now = datetime.now(UTC)
    return [Deadline(kind=d.kind.value, label=inbox.DEADLINE_LABELS_SV[d.kind], due=d.at, passed=d.at <= now)
            for d in sorted(found, key=lambda d: (d.at, d.kind.value))]


def _marked_sections(state: CaseState) -> list[MarkedSection]:
    rulings = {r.section: r for r in state.secrecy.rulings} if state.secrecy else {}
    document = state.application.model_dump(mode="json")
    return [MarkedSection(section=mark.section, applicant_reason=mark.reason, content=value_at(document, mark.section),
                          ruling=rulings.get(mark.section))
            for mark in state.application.secret_sections]


def _findings(state: CaseState, catalog: CallCatalog) -> list[FindingView]:
    if state.verdict is None:
        return []
    rules = {r.id: r for r in [*catalog.form.rules, *state.call.rules]}
    views = []
    for f in state.verdict.findings:
        rule = rules.get(f.rule)
        views.append(FindingView(rule=f.rule, severity=f.severity, field=f.field, message=f.message,
                                 rule_text=rule.text if rule else None, call_section=rule.section if rule else None))
    return views


__all__ = ["ApplicantCaseView", "CaseHistory", "StaffCaseView", "applicant_view", "case_history", "deadlines",
           "registered", "staff_view"]
