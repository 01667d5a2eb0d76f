"""Letters to applicants: written to the outbox, then sent by e-mail when possible.

The outbox row is the letter. It is written first (once: keyed by the letter id the
workflow chose), and what is sent is the stored row, so a retried activity sends the
letter that was first written, word for word. Without SMTP settings or without an
e-mail address the letter stays in the outbox, unsent, for someone to post.
"""

from __future__ import annotations

import asyncio
import hashlib
import smtplib
import ssl
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Annotated

import structlog
from psycopg.rows import class_row
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.db import fails_for_good
from domain.case import CaseState, SendLetter
from domain.letters import LetterKind, RenderedLetter, render_letter

_log = structlog.get_logger(__name__)

_COLUMNS = "case_number, letter_id, kind, recipient_name, recipient_email, subject, body, created_at, sent_at"

Text = Annotated[str, Field(min_length=1, max_length=500)]


class SmtpSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str
    port: int = 25
    username: str | None = None
    password: SecretStr | None = None
    sender: str = Field(description="The From address, e.g. 'Tillväxtverket <noreply@example.se>'")
    starttls: bool = False
    timeout_seconds: float = 30.0


class LetterRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    case_number: Text
    letter_id: Text = Field(description="Chosen by the workflow; the same id is the same letter")
    kind: LetterKind
    recipient_name: Annotated[str, Field(max_length=500)]
    recipient_email: Annotated[str, Field(max_length=254)] | None = None
    context: dict[str, str] = Field(
        description="Formatted Swedish strings for the template; case_number and recipient_name are added from here"
    )

    @classmethod
    def of(cls, case: CaseState, effect: SendLetter) -> LetterRequest:
        """The letter a case has queued, to the applicant's contact person where there is one (or to
        the recipient the effect names: someone who asked for a public document)."""
        contact = case.application.applicant.contact
        if effect.recipient_name is not None:
            name, email = effect.recipient_name, effect.recipient_email
        else:
            name = contact.name if contact else case.application.applicant.name
            email = contact.email if contact else None
        return cls(
            case_number=case.case_number, letter_id=effect.letter_id, kind=LetterKind(effect.letter),
            recipient_name=name, recipient_email=email, context=effect.context,
        )

    def render(self) -> RenderedLetter:
        context = {**self.context, "case_number": self.case_number, "recipient_name": self.recipient_name}
        try:
            return render_letter(self.kind, context)
        except (ValueError, TypeError) as error:
            # A missing template key is a bug in the workflow: no retry will add it.
            raise ApplicationError(str(error), type="LetterTemplateError", non_retryable=True) from error


class LetterSent(BaseModel):
    letter_id: str
    subject: str
    sent: bool


class StoredLetter(BaseModel):
    case_number: str
    letter_id: str
    kind: str
    recipient_name: str
    recipient_email: str | None
    subject: str
    body: str
    created_at: datetime
    sent_at: datetime | None


class Letters:
    def __init__(self, pool: AsyncConnectionPool, smtp: SmtpSettings | None) -> None:
        self._pool = pool
        self._smtp = smtp

    @activity.defn
    @fails_for_good
    async def send_letter(self, request: LetterRequest) -> LetterSent:
        rendered = request.render()
        async with self._pool.connection() as conn:
            cursor = conn.cursor(row_factory=class_row(StoredLetter))
            # One statement: the letter as stored, whether this attempt stored it or an earlier one did.
            # Its parts run on one snapshot, so the second cannot also see a row the first inserts.
            await cursor.execute(
                f"""
                WITH stored AS (
                    INSERT INTO letters (case_number, letter_id, kind, recipient_name, recipient_email, subject, body)
                    VALUES (%(case_number)s, %(letter_id)s, %(kind)s, %(recipient_name)s, %(recipient_email)s,
                            %(subject)s, %(body)s)
                    ON CONFLICT (case_number, letter_id) DO NOTHING
                    RETURNING {_COLUMNS}
                )
                SELECT {_COLUMNS} FROM stored
                UNION ALL
                SELECT {_COLUMNS} FROM letters WHERE case_number = %(case_number)s AND letter_id = %(letter_id)s
                """,
                {
                    "case_number": request.case_number, "letter_id": request.letter_id, "kind": request.kind.value,
                    "recipient_name": request.recipient_name, "recipient_email": request.recipient_email,
                    "subject": rendered.subject, "body": rendered.body,
                },
            )
            letter = await cursor.fetchone()
            if letter is None:
                # A concurrent attempt inserted it after this statement began: it is there now.
                await cursor.execute(f"SELECT {_COLUMNS} FROM letters WHERE case_number = %s AND letter_id = %s",
                                     (request.case_number, request.letter_id))
                letter = await cursor.fetchone()
            assert letter is not None
        log = _log.bind(case_number=letter.case_number, letter_id=letter.letter_id, kind=letter.kind)

        if letter.sent_at is not None:
            return LetterSent(letter_id=letter.letter_id, subject=letter.subject, sent=True)
        if self._smtp is None or letter.recipient_email is None:
            log.info(
                "letter left in the outbox", smtp=self._smtp is not None, has_email=letter.recipient_email is not None
            )
            return LetterSent(letter_id=letter.letter_id, subject=letter.subject, sent=False)

        message = _message(letter, self._smtp)
        try:
            await asyncio.to_thread(_deliver, self._smtp, message)
        except smtplib.SMTPRecipientsRefused as error:
            # The server will never take this address; the letter stays in the outbox.
            raise ApplicationError(
                "the mail server refused the recipient address", type="LetterUndeliverable", non_retryable=True
            ) from error
        except smtplib.SMTPDataError as error:
            if 500 <= error.smtp_code < 600:
                # A permanent refusal of this message; sending it again gets the same answer.
                raise ApplicationError(
                    f"the mail server refused the letter ({error.smtp_code})",
                    type="LetterUndeliverable",
                    non_retryable=True,
                ) from error
            raise
        # Anything else (server down, a 4xx, bad credentials, a wrong sender) is retried:
        # those are put right by waiting or by fixing the settings, not by the applicant.
        # SMTP has no idempotency key: a crash between the send above and the mark below
        # makes the retry send the letter again, so each such crash can mean one
        # duplicate e-mail (never a lost one). The Message-ID is the same every time,
        # which lets a mail client recognise the copy.
        async with self._pool.connection() as conn:
            await conn.execute(
                "UPDATE letters SET sent_at = now() WHERE case_number = %s AND letter_id = %s AND sent_at IS NULL",
                (letter.case_number, letter.letter_id),
            )
        log.info("letter sent")
        return LetterSent(letter_id=letter.letter_id, subject=letter.subject, sent=True)


def _message(letter: StoredLetter, smtp: SmtpSettings) -> EmailMessage:
    assert letter.recipient_email is not None
    message = EmailMessage()
    message["From"] = smtp.sender
    message["To"] = formataddr((letter.recipient_name, letter.recipient_email))
    message["Subject"] = letter.subject
    message["Date"] = format_datetime(letter.created_at)
    domain = smtp.sender.rpartition("@")[2].strip(" >") or "grantflow.invalid"
    key = hashlib.sha256(f"{letter.case_number}\x00{letter.letter_id}".encode()).hexdigest()[:32]
    message["Message-ID"] = f"<{key}@{domain}>"
    message.set_content(letter.body)
    return message


def _deliver(smtp: SmtpSettings, message: EmailMessage) -> None:
    client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_seconds)
    try:
        if smtp.starttls:
            client.starttls(context=ssl.create_default_context())
        if smtp.username is not None:
            client.login(smtp.username, smtp.password.get_secret_value() if smtp.password is not None else "")
        client.send_message(message)
    finally:
        # Once send_message has returned, the server has the letter: a failing QUIT must
        # not fail the activity, or the retry would send it a second time.
        try:
            client.quit()
        except (smtplib.SMTPException, OSError):
            client.close()


async def list_letters(
    pool: AsyncConnectionPool, case_number: str | None, *, unsent_only: bool = False
) -> list[StoredLetter]:
    """The outbox: every letter (of one case, or of all), oldest first."""
    async with pool.connection() as conn:
        cursor = conn.cursor(row_factory=class_row(StoredLetter))
        await cursor.execute(
            f"""
            SELECT {_COLUMNS} FROM letters
            WHERE (%(case_number)s::text IS NULL OR case_number = %(case_number)s)
              AND (NOT %(unsent_only)s OR sent_at IS NULL)
            ORDER BY created_at, case_number, letter_id
            """,
            {"case_number": case_number, "unsent_only": unsent_only},
        )
        return await cursor.fetchall()
