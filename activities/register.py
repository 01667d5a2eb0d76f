"""The case register (diarium): registration, case events, documents.

Every activity here is idempotent, because Temporal may run an activity again after
a crash that came after its write: registration looks the submission up before it
allocates a number, and events and documents are keyed by ids the workflow chose,
so a second insert finds the first and does nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

import psycopg
import structlog
from psycopg.rows import class_row
from psycopg_pool import AsyncConnectionPool
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import to_json
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.db import fails_for_good
from activities.letters import LetterRequest
from domain.application import Application
from domain.case import CaseState, RecordEvent, SaveDocument, SendLetter, received_document
from domain.clock import STOCKHOLM, require_utc
from domain.identity import InvalidIdentityNumber, parse_identity_number
from domain.inbox import Deadline, DeadlineKind, deadlines, nearest
from domain.lifecycle import Outcome, Stage
from domain.money import Kronor
from domain.privacy import mask_text

_log = structlog.get_logger(__name__)

# Before the decision: a case in these stages may still be ranked and funded.
IN_RUNNING = (Stage.RECEIVED, Stage.COMPLETENESS, Stage.SECRECY_REVIEW, Stage.ASSESSMENT, Stage.DECISION)

Instant = Annotated[datetime, AfterValidator(require_utc)]
Text = Annotated[str, Field(min_length=1, max_length=500)]
# What the applicant wrote may be empty or odd; the register takes it as it is
# rather than fail the workflow that builds the request.
Written = Annotated[str, Field(max_length=500)]
# The register is public: what the applicant wrote is shown there with any personnummer masked,
# as in the logs (the application document keeps what was written).
Public = Annotated[Written, AfterValidator(mask_text)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RegisterApplication(_Model):
    submission_id: Text
    call_id: Text
    received_at: Instant = Field(description="When the application reached the agency's system (FL 22 §)")
    imported: bool = Field(description="Taken over from another system rather than submitted here")
    sender_name: Public
    sender_org_number: str | None = Field(
        description="The sender's organisation number; None for a natural person (never a personnummer)"
    )
    subject: Public = Field(description="The project title")
    requested_amount: Kronor

    @classmethod
    def received(cls, submission_id: str, call_id: str, application: Application, received_at: datetime,
                 imported: bool) -> RegisterApplication:
        """The register's row of an application received: what the intake registers, and what the audit
        expects of the row (services/audit_history.py)."""
        return cls(submission_id=submission_id, call_id=call_id, received_at=received_at, imported=imported,
                   sender_name=application.applicant.name, sender_org_number=application.applicant.org_number,
                   subject=application.project.title, requested_amount=application.requested_amount)

    @field_validator("sender_org_number")
    @classmethod
    def _only_organisation_numbers(cls, value: str | None) -> str | None:
        # The register is public. A personnummer becomes None here, when the workflow
        # builds the request, so it never reaches the activity's input in the
        # workflow history either. A number that does not parse may be a mistyped
        # personnummer: it is left out too (the application document keeps what was
        # written). A valid organisation number is stored normalised, NNNNNN-NNNN.
        if value is None:
            return None
        try:
            number = parse_identity_number(value)
        except InvalidIdentityNumber:
            return None
        return None if number.is_personal else number.formatted()


class Registered(_Model):
    case_number: str
    received_at: datetime
    already_registered: bool


class CaseEvent(_Model):
    case_number: Text
    event_id: Text
    at: Instant
    actor_id: Text
    actor_role: Text
    kind: Text
    stage: Stage
    summary: str = Field(max_length=5000, description="In Swedish: what happened, as an officer reads it")


class CaseSnapshot(_Model):
    case_number: Text
    stage: Stage
    outcome: Outcome | None = None
    officer: str | None = None
    granted_amount: Kronor | None = None
    next_deadline: Instant | None = None
    # The oldest unanswered request for a public document: it puts the case at the top of the inbox.
    records_pending_since: Instant | None = None
    # What the officers' inbox shows and sorts by (domain/inbox.py): every deadline the case waits on,
    # passed or not, and the nearest. Defaults, so that a write built by older code still reads.
    deadlines: list[Deadline] = []
    deadline_at: Instant | None = None
    deadline_kind: DeadlineKind | None = None

    @classmethod
    def of(cls, case: CaseState) -> CaseSnapshot:
        waiting = deadlines(case)
        first = nearest(waiting)
        return cls(case_number=case.case_number, stage=case.stage, outcome=case.outcome, officer=case.officer,
                   # The case's own deadline: a records request's is the officer's, marked by records_pending_since.
                   granted_amount=case.granted, next_deadline=case.case_deadline,
                   records_pending_since=case.records_pending_since, deadlines=waiting,
                   deadline_at=first.at if first else None, deadline_kind=first.kind if first else None)


class CaseDocument(_Model):
    case_number: Text
    document_id: Text
    kind: Text
    title: str = Field(max_length=500)
    registered_at: Instant
    content: dict[str, Any]


class RegisterWrite(_Model):
    """What one case has to tell the register at one point: new events, documents and letters, and where it stands."""

    case_number: Text
    events: list[CaseEvent] = []
    documents: list[CaseDocument] = []
    letters: list[LetterRequest] = []  # stored in the outbox; e-mailing one is Letters.send_letter's
    snapshot: CaseSnapshot | None = None  # None: the row already says where the case stands

    @classmethod
    def of(cls, case: CaseState, entries: Sequence[RecordEvent | SaveDocument], snapshot: CaseSnapshot | None,
           letters: Sequence[SendLetter] = ()) -> RegisterWrite:
        number = case.case_number
        return cls(
            case_number=number,
            events=[CaseEvent(
                case_number=number, event_id=e.event_id, at=e.at, actor_id=e.actor_id, actor_role=e.actor_role,
                kind=e.event, stage=e.stage or case.stage, summary=e.summary,
            ) for e in entries if isinstance(e, RecordEvent)],
            documents=[CaseDocument(
                case_number=number, document_id=e.document_id, kind=e.document, title=e.title,
                registered_at=e.at, content=e.content,
            ) for e in entries if isinstance(e, SaveDocument)],
            letters=[LetterRequest.of(case, letter) for letter in letters],
            snapshot=snapshot,
        )

    @classmethod
    def opening(cls, case: CaseState) -> RegisterWrite:
        """All that a new case opens with: the application as received, its events and documents, its
        letters and where it stands."""
        entries = [received_document(case), *(e for e in case.outbox if isinstance(e, RecordEvent | SaveDocument))]
        letters = [e for e in case.outbox if isinstance(e, SendLetter)]
        return cls.of(case, entries, CaseSnapshot.of(case), letters)

    @model_validator(mode="after")
    def _one_case(self) -> RegisterWrite:
        numbers = ({e.case_number for e in self.events} | {d.case_number for d in self.documents}
                   | {letter.case_number for letter in self.letters})
        if self.snapshot is not None:
            numbers.add(self.snapshot.case_number)
        if numbers - {self.case_number}:
            raise ValueError(f"every entry must belong to case {self.case_number}")
        return self


class Opened(_Model):
    by_email: list[str] = Field(
        description="The ids of the letters stored that are still to be e-mailed: the worker mails letters "
                    "and the recipient has an address"
    )


class RegisterRow(BaseModel):
    """One line of the register, as the CLI shows it."""

    case_number: str
    submission_id: str
    call_id: str
    received_at: datetime
    imported: bool
    sender_name: str
    sender_org_number: str | None
    subject: str
    requested_amount: Decimal
    stage: str
    outcome: str | None
    officer: str | None
    granted_amount: Decimal | None
    next_deadline: datetime | None
    updated_at: datetime


def _case_not_found(case_number: str) -> ApplicationError:
    # Not retryable: the case is registered before anything else is done with it, so
    # a missing case is a bug that another attempt cannot fix.
    return ApplicationError(f"case {case_number} is not in the register", type="CaseNotFound", non_retryable=True)


class Register:
    def __init__(self, pool: AsyncConnectionPool, *, mails_letters: bool = False) -> None:
        self._pool = pool
        # Whether this agency's letters go by e-mail (an SMTP server is configured): a new case's
        # receipt is stored here, and only a letter that is to be mailed needs a trip to Letters.
        self._mails_letters = mails_letters

    @activity.defn
    @fails_for_good
    async def register_application(self, request: RegisterApplication) -> Registered:
        """Give the application its case number and put it in the register, once."""
        year = request.received_at.astimezone(STOCKHOLM).year
        for _ in range(3):
            try:
                return await self._register(request, year)
            except psycopg.errors.UniqueViolation as error:
                # Two attempts for the same submission raced past the lookup (an attempt
                # that timed out may still be running). The loser's whole transaction,
                # its number included, rolled back, so there is no gap; look again.
                if error.diag.constraint_name != "cases_submission_id_key":
                    raise
        raise RuntimeError(f"could not register submission {request.submission_id}: kept colliding")

    async def _register(self, request: RegisterApplication, year: int) -> Registered:
        # One statement, so one trip to the database: every intake makes it, and a burst of
        # applications at a call's deadline waits on it. It is atomic as a transaction is:
        # the counter row it increments stays locked until it ends, so numbers are handed out
        # one at a time per year, and a failed insert takes its number back with it.
        async with self._pool.connection() as conn:
            cursor = await conn.execute(
                """
                WITH existing AS (
                    SELECT case_number, received_at FROM cases WHERE submission_id = %(submission_id)s
                ), allocated AS (
                    INSERT INTO case_numbers (year, last)
                    SELECT %(year)s, 1 WHERE NOT EXISTS (SELECT FROM existing)
                    ON CONFLICT (year) DO UPDATE SET last = case_numbers.last + 1
                    RETURNING last
                ), registered AS (
                    INSERT INTO cases (case_number, submission_id, call_id, received_at, imported, sender_name,
                                       sender_org_number, subject, requested_amount, stage)
                    -- Five digits as agencies write them; a 100 000th case in one year just gets six.
                    SELECT %(year)s::text || '-' || lpad(last::text, greatest(5, length(last::text)), '0'),
                           %(submission_id)s, %(call_id)s, %(received_at)s, %(imported)s, %(sender_name)s,
                           %(sender_org_number)s, %(subject)s, %(requested_amount)s, %(stage)s
                    FROM allocated
                    RETURNING case_number, received_at
                )
                SELECT case_number, received_at, true FROM existing
                UNION ALL
                SELECT case_number, received_at, false FROM registered
                """,
                {
                    "submission_id": request.submission_id, "year": year, "call_id": request.call_id,
                    "received_at": request.received_at, "imported": request.imported,
                    "sender_name": request.sender_name, "sender_org_number": request.sender_org_number,
                    "subject": request.subject, "requested_amount": request.requested_amount,
                    "stage": Stage.RECEIVED.value,
                },
            )
            row = await cursor.fetchone()
        assert row is not None
        number, received_at, already = row
        if already:
            _log.info("application already registered", case_number=number)
        else:
            _log.info("application registered", case_number=number, call_id=request.call_id)
        return Registered(case_number=number, received_at=received_at, already_registered=already)

    @activity.defn
    @fails_for_good
    async def cases_in_running(self, call_id: str) -> list[str]:
        """The call's cases that no decision, dismissal or withdrawal has yet taken out of the running."""
        async with self._pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT case_number FROM cases WHERE call_id = %s AND stage = ANY(%s) ORDER BY case_number",
                (call_id, [stage.value for stage in IN_RUNNING]),
            )
            return [row[0] for row in await cursor.fetchall()]

    @activity.defn
    @fails_for_good
    async def open_case(self, opening: RegisterWrite) -> Opened:
        """Record what a new case opens with, as soon as it has its number: the application as
        received, the events, the stage and the receipt, in one write.

        The intake writes it before it starts the case, so that a case's first workflow task
        waits on nothing: the receipt is stored with the registration it confirms, and the case
        only e-mails it, where letters go by e-mail.
        """
        await self.write(opening)
        mailed = self._mails_letters
        return Opened(by_email=[letter.letter_id for letter in opening.letters if mailed and letter.recipient_email])

    @activity.defn
    @fails_for_good
    async def write(self, batch: RegisterWrite) -> None:
        """Record a case's new events, documents and letters and set its row, in one transaction.

        One write for everything a case has to tell the register at one point, so that an
        officer never sees an event without the stage it led to, and so that a case pays one
        trip to the database for it. Events, documents and letters are keyed by the ids the
        workflow chose, and the row is set, not added to: a retry after a crash writes nothing twice.
        """
        snapshot = batch.snapshot
        letters = [(letter, letter.render()) for letter in batch.letters]
        # One statement, so one trip to the database, and atomic as a transaction is. The arrays go
        # in binary (%b): as text, psycopg would quote and escape each element in Python, character
        # by character, and the application's JSON is full of quotes (decision 18).
        async with self._pool.connection() as conn:
            try:
                cursor = await conn.execute(
                    """
                    WITH RECURSIVE updated AS (
                        UPDATE cases
                        SET stage = %(stage)s, outcome = %(outcome)s, officer = %(officer)s,
                            granted_amount = %(granted_amount)s, next_deadline = %(next_deadline)s,
                            records_pending_since = %(records_pending_since)s,
                            deadline_at = %(deadline_at)s, deadline_kind = %(deadline_kind)s,
                            deadline_kinds = %(deadline_kinds)s::text[], deadline_ats = %(deadline_ats)s::timestamptz[],
                            updated_at = now()
                        WHERE %(has_snapshot)s AND case_number = %(case_number)s
                        RETURNING case_number
                    ), new_events AS (
                        -- The events not yet written (a retry finds its first attempt's), in the given order,
                        -- each chained to the one before it: the case's head first (migration 0010).
                        SELECT row_number() OVER (ORDER BY u.place) AS n, u.*
                        FROM unnest(%(e_case)b::text[], %(e_id)b::text[], %(e_at)b::timestamptz[],
                                    %(e_actor)b::text[], %(e_role)b::text[], %(e_kind)b::text[],
                                    %(e_stage)b::text[], %(e_summary)b::text[])
                             WITH ORDINALITY AS u(case_number, event_id, at, actor_id, actor_role, kind, stage,
                                                  summary, place)
                        WHERE NOT EXISTS (SELECT FROM case_events x
                                          WHERE x.case_number = u.case_number AND x.event_id = u.event_id)
                    ), head AS (
                        SELECT seq, hash FROM case_events
                        WHERE case_number = %(case_number)s AND seq IS NOT NULL ORDER BY seq DESC LIMIT 1
                    ), chained AS (
                        SELECT p.n, s.seq, s.prev_hash,
                               case_event_hash(s.prev_hash, p.case_number, s.seq, p.event_id, p.at, p.actor_id,
                                               p.actor_role, p.kind, p.stage, p.summary) AS hash
                        FROM new_events p,
                             LATERAL (SELECT COALESCE((SELECT seq FROM head), 0) + 1 AS seq,
                                             COALESCE((SELECT hash FROM head), '') AS prev_hash) s
                        WHERE p.n = 1
                        UNION ALL
                        SELECT p.n, c.seq + 1, c.hash,
                               case_event_hash(c.hash, p.case_number, c.seq + 1, p.event_id, p.at, p.actor_id,
                                               p.actor_role, p.kind, p.stage, p.summary)
                        FROM chained c JOIN new_events p ON p.n = c.n + 1
                    ), events AS (
                        INSERT INTO case_events (case_number, event_id, at, actor_id, actor_role, kind, stage, summary,
                                                 seq, prev_hash, hash)
                        SELECT e.case_number, e.event_id, e.at, e.actor_id, e.actor_role, e.kind, e.stage, e.summary,
                               c.seq, c.prev_hash, c.hash
                        FROM new_events e JOIN chained c USING (n)
                        ON CONFLICT (case_number, event_id) DO NOTHING
                    ), documents AS (
                        INSERT INTO case_documents (case_number, document_id, kind, title, registered_at, content)
                        SELECT * FROM unnest(%(d_case)b::text[], %(d_id)b::text[], %(d_kind)b::text[],
                                             %(d_title)b::text[], %(d_at)b::timestamptz[], %(d_content)b::jsonb[])
                        ON CONFLICT (case_number, document_id) DO NOTHING
                    ), stored_letters AS (  -- not "letters": under RECURSIVE that name would be itself
                        INSERT INTO letters (case_number, letter_id, kind, recipient_name, recipient_email, subject,
                                             body)
                        SELECT * FROM unnest(%(l_case)b::text[], %(l_id)b::text[], %(l_kind)b::text[],
                                             %(l_name)b::text[], %(l_email)b::text[], %(l_subject)b::text[],
                                             %(l_body)b::text[])
                        ON CONFLICT (case_number, letter_id) DO NOTHING
                    )
                    SELECT count(*) FROM updated
                    """,
                    {
                        "case_number": batch.case_number,
                        "has_snapshot": snapshot is not None,
                        "stage": snapshot.stage.value if snapshot else None,
                        "outcome": snapshot.outcome.value if snapshot and snapshot.outcome else None,
                        "officer": snapshot.officer if snapshot else None,
                        "granted_amount": snapshot.granted_amount if snapshot else None,
                        "next_deadline": snapshot.next_deadline if snapshot else None,
                        "records_pending_since": snapshot.records_pending_since if snapshot else None,
                        "deadline_at": snapshot.deadline_at if snapshot else None,
                        "deadline_kind": snapshot.deadline_kind.value if snapshot and snapshot.deadline_kind else None,
                        "deadline_kinds": [d.kind.value for d in snapshot.deadlines] if snapshot else [],
                        "deadline_ats": [d.at for d in snapshot.deadlines] if snapshot else [],
                        "e_case": [e.case_number for e in batch.events],
                        "e_id": [e.event_id for e in batch.events],
                        "e_at": [e.at for e in batch.events],
                        "e_actor": [e.actor_id for e in batch.events],
                        "e_role": [e.actor_role for e in batch.events],
                        "e_kind": [e.kind for e in batch.events],
                        "e_stage": [e.stage.value for e in batch.events],
                        "e_summary": [e.summary for e in batch.events],
                        "d_case": [d.case_number for d in batch.documents],
                        "d_id": [d.document_id for d in batch.documents],
                        "d_kind": [d.kind for d in batch.documents],
                        "d_title": [d.title for d in batch.documents],
                        "d_at": [d.registered_at for d in batch.documents],
                        # pydantic's encoder: content may hold Decimal amounts and dates.
                        "d_content": [to_json(d.content).decode() for d in batch.documents],
                        "l_case": [letter.case_number for letter, _ in letters],
                        "l_id": [letter.letter_id for letter, _ in letters],
                        "l_kind": [letter.kind.value for letter, _ in letters],
                        "l_name": [letter.recipient_name for letter, _ in letters],
                        "l_email": [letter.recipient_email for letter, _ in letters],
                        "l_subject": [rendered.subject for _, rendered in letters],
                        "l_body": [rendered.body for _, rendered in letters],
                    },
                )
            except psycopg.errors.ForeignKeyViolation as error:
                # An entry of a case that is not in the register: no retry can put it there.
                raise _case_not_found(batch.case_number) from error
            row = await cursor.fetchone()
            if snapshot is not None and (row is None or row[0] == 0):
                raise _case_not_found(snapshot.case_number)


# The columns of a RegisterRow, for every read of the register's lines.
_REGISTER_ROWS = """
    SELECT case_number, submission_id, call_id, received_at, imported, sender_name, sender_org_number,
           subject, requested_amount, stage, outcome, officer, granted_amount, next_deadline, updated_at
    FROM cases"""


async def list_cases(
    pool: AsyncConnectionPool, *, call_id: str | None = None, stage: str | None = None
) -> list[RegisterRow]:
    """The register, oldest case first, optionally for one call and/or one stage."""
    async with pool.connection() as conn:
        cursor = conn.cursor(row_factory=class_row(RegisterRow))
        await cursor.execute(
            _REGISTER_ROWS + """
            WHERE (%(call_id)s::text IS NULL OR call_id = %(call_id)s)
              AND (%(stage)s::text IS NULL OR stage = %(stage)s)
            ORDER BY received_at, case_number
            """,
            {"call_id": call_id, "stage": stage},
        )
        return await cursor.fetchall()


async def case_events(pool: AsyncConnectionPool, case_number: str) -> list[CaseEvent]:
    """A case's events in the order they happened."""
    async with pool.connection() as conn:
        cursor = conn.cursor(row_factory=class_row(CaseEvent))
        await cursor.execute(
            """
            SELECT case_number, event_id, at, actor_id, actor_role, kind, stage, summary
            FROM case_events WHERE case_number = %s ORDER BY at, event_id
            """,
            (case_number,),
        )
        return await cursor.fetchall()


class SentLetter(BaseModel):
    """A letter of a case as its applicant lists it: what it is about and when it was written."""

    case_number: str
    letter_id: str
    kind: str
    subject: str
    created_at: datetime
    sent_at: datetime | None


async def organisation_cases(pool: AsyncConnectionPool, org_number: str) -> list[RegisterRow]:
    """The cases an organisation (its number as the register writes it, NNNNNN-NNNN) applied in, oldest first."""
    async with pool.connection() as conn:
        cursor = conn.cursor(row_factory=class_row(RegisterRow))
        await cursor.execute(
            _REGISTER_ROWS + """ WHERE sender_org_number = %s
            ORDER BY received_at, case_number
            """,
            (org_number,),
        )
        return await cursor.fetchall()


async def organisation_letters(pool: AsyncConnectionPool, org_number: str) -> list[SentLetter]:
    """The letters of an organisation's cases, oldest first (without their bodies)."""
    async with pool.connection() as conn:
        cursor = conn.cursor(row_factory=class_row(SentLetter))
        await cursor.execute(
            """
            SELECT l.case_number, l.letter_id, l.kind, l.subject, l.created_at, l.sent_at
            FROM letters l JOIN cases c ON c.case_number = l.case_number
            WHERE c.sender_org_number = %s
            ORDER BY l.created_at, l.case_number, l.letter_id
            """,
            (org_number,),
        )
        return await cursor.fetchall()


async def find_case(pool: AsyncConnectionPool, case_number: str) -> RegisterRow | None:
    """One case's line of the register; None when there is no such case."""
    async with pool.connection() as conn:
        cursor = conn.cursor(row_factory=class_row(RegisterRow))
        await cursor.execute(
            _REGISTER_ROWS + """ WHERE case_number = %s
            """,
            (case_number,),
        )
        return await cursor.fetchone()


class DocumentEntry(BaseModel):
    """A registered document of a case, without its content."""

    document_id: str
    kind: str
    title: str
    registered_at: datetime


async def list_documents(pool: AsyncConnectionPool, case_number: str) -> list[DocumentEntry]:
    """A case's registered documents in the order they were registered (titles only, no content)."""
    async with pool.connection() as conn:
        cursor = conn.cursor(row_factory=class_row(DocumentEntry))
        await cursor.execute(
            """
            SELECT document_id, kind, title, registered_at
            FROM case_documents WHERE case_number = %s ORDER BY registered_at, document_id
            """,
            (case_number,),
        )
        return await cursor.fetchall()
