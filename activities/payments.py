"""Payouts of granted money, each exactly once, and the bank files that carry them.

The ledger's key is the case number plus the payment request number (0 the advance,
1.. the payment requests, the final payment the next number). A payout is one row under
that key, written with INSERT … ON CONFLICT DO NOTHING: a retried activity (the worker
died after the commit), or the same order sent twenty times at once, finds the row the
first one wrote and pays nothing more. The same key with other content is a bug in
whoever built the order, and it stops the workflow instead of becoming a second payout.

Money leaves the agency only through a bank file: an ISO 20022 pain.001.001.03 credit
transfer initiation holding every payout that is in no file yet. An export takes them
under a lock, so two exports at once never put one payout in two files, and a file is
checked against the official XSD before it is stored: an invalid file is never kept,
and its payouts wait for the next export.
"""

from __future__ import annotations

import asyncio
import functools
import re
import xml.etree.ElementTree as ET
from datetime import datetime
from decimal import Decimal
from importlib import resources
from typing import Annotated, Any, Self

import psycopg
import structlog
import xmlschema
from psycopg.rows import class_row
from psycopg_pool import AsyncConnectionPool
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.db import fails_for_good
from domain.bank import normalize_bankgiro
from domain.clock import STOCKHOLM, require_utc, stockholm_date
from domain.money import Kronor, total
from domain.payment import PayoutKind

_log = structlog.get_logger(__name__)

PAIN_001 = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"
# Any constant will do, as long as nothing else in the database uses it: "bankfile".
_EXPORT_LOCK = 0x62616E6B66696C65
_PAYOUT_COLUMNS = (
    "case_number, request_number, kind, amount, payee_name, payee_bankgiro, reference, paid_at, bank_file_id"
)
_BANK_FILE_COLUMNS = "id, message_id, created_at, transactions, control_sum, xml"
# The content that makes two orders under one key the same order.
_ORDER_FIELDS = ("kind", "amount", "payee_name", "payee_bankgiro", "reference")

# The archive's copy of a case's payouts, as activities/archive.py writes it, taken again from the ledger.
_ARCHIVED_PAYOUTS = """
UPDATE case_archive a
SET register_rows = jsonb_set(a.register_rows, '{payouts}',
                              COALESCE((SELECT jsonb_agg(to_jsonb(p) ORDER BY p.paid_at, p.request_number)
                                        FROM payouts p WHERE p.case_number = a.case_number), '[]'::jsonb))
WHERE a.case_number = ANY(%s::text[]) AND a.register_rows ? 'payouts'
"""

_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


def _printable(value: str) -> str:
    # A control character cannot be written in XML 1.0 at all: refused with the order,
    # not discovered in the bank file after the money was promised.
    if _CONTROL_CHARACTERS.search(value):
        raise ValueError("must not contain control characters (line breaks, tabs)")
    return value


# Max140Text in pain.001.001.03: the longest a name or an unstructured remittance may be.
BankText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=140), AfterValidator(_printable)
]
Bankgiro = Annotated[str, AfterValidator(normalize_bankgiro), Field(description="Stored as its 7–8 digits")]
# The case register's numbers, kept short enough that "<case>-<request>" fits the
# 35 characters of an EndToEndId.
CaseNumber = Annotated[str, Field(pattern=r"^[0-9]{4}-[0-9]{5,12}$")]
Instant = Annotated[datetime, AfterValidator(require_utc)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PayoutOrder(_Model):
    case_number: CaseNumber
    request_number: int = Field(ge=0, le=9999, description="0 the advance, 1.. payment requests, then the final")
    kind: PayoutKind
    amount: Annotated[Kronor, Field(gt=0)]
    payee_name: BankText
    payee_bankgiro: Bankgiro
    reference: BankText = Field(description="Shown on the payee's bank statement: the case number")

    @model_validator(mode="before")
    @classmethod
    def _reference_defaults_to_the_case_number(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("reference") is None and "case_number" in data:
            return {**data, "reference": data["case_number"]}
        return data

    @model_validator(mode="after")
    def _request_zero_is_the_advance(self) -> Self:
        if (self.kind is PayoutKind.ADVANCE) != (self.request_number == 0):
            raise ValueError("request number 0 is the advance, and the advance is request number 0")
        return self

    @property
    def end_to_end_id(self) -> str:
        return f"{self.case_number}-{self.request_number}"


class PayoutReceipt(_Model):
    case_number: str
    request_number: int
    amount: Decimal
    paid_at: datetime = Field(description="When the payout entered the ledger (the first time)")
    first_time: bool = Field(description="False when this order had already been recorded (a retry)")


class Payout(BaseModel):
    """A row of the ledger."""

    case_number: str
    request_number: int
    kind: PayoutKind
    amount: Decimal
    payee_name: str
    payee_bankgiro: str
    reference: str
    paid_at: datetime
    bank_file_id: int | None = Field(description="The bank file it went out in; None while it waits for one")

    @property
    def end_to_end_id(self) -> str:
        return f"{self.case_number}-{self.request_number}"


class Debtor(_Model):
    """The agency, paying: named in the bank file with the bankgiro the money leaves from."""

    name: BankText
    bankgiro: Bankgiro
    bic: Annotated[str, Field(pattern=r"^[A-Z]{6}[A-Z2-9][A-NP-Z0-9]([A-Z0-9]{3})?$")] | None = None


class BankFile(BaseModel):
    id: int
    message_id: str
    created_at: datetime
    transactions: int
    control_sum: Decimal
    xml: str = Field(repr=False)


class BankFileInvalid(RuntimeError):
    """The rendered file does not satisfy the pain.001.001.03 schema: a bug here, never stored."""


class PaymentLedger:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    @activity.defn(name="payment_pay")
    @fails_for_good
    async def pay(self, order: PayoutOrder) -> PayoutReceipt:
        """Record the payout under its key once; a repeat returns the first record."""
        try:
            async with self._pool.connection() as conn, conn.transaction():
                cursor = await conn.execute(
                    """
                    INSERT INTO payouts
                        (case_number, request_number, kind, amount, payee_name, payee_bankgiro, reference)
                    VALUES (%s, %s, %s, %s, %s, %s, %s)
                    ON CONFLICT (case_number, request_number) DO NOTHING
                    RETURNING paid_at
                    """,
                    (
                        order.case_number,
                        order.request_number,
                        order.kind.value,
                        order.amount,
                        order.payee_name,
                        order.payee_bankgiro,
                        order.reference,
                    ),
                )
                inserted = await cursor.fetchone()
                existing = None
                if inserted is None:
                    # A concurrent insert of the same key made ours wait for its commit,
                    # and under READ COMMITTED this statement sees that row.
                    rows = conn.cursor(row_factory=class_row(Payout))
                    await rows.execute(
                        f"SELECT {_PAYOUT_COLUMNS} FROM payouts WHERE case_number = %s AND request_number = %s",
                        (order.case_number, order.request_number),
                    )
                    existing = await rows.fetchone()
                    assert existing is not None
        except psycopg.errors.ForeignKeyViolation as error:
            # Cases are registered at intake, long before a payout: no retry will register it.
            raise ApplicationError(
                f"case {order.case_number} is not in the case register", type="PayoutUnknownCase", non_retryable=True
            ) from error
        log = _log.bind(case_number=order.case_number, request_number=order.request_number)

        if existing is None:
            assert inserted is not None
            log.info("payout recorded", kind=order.kind.value, amount=str(order.amount))
            return PayoutReceipt(
                case_number=order.case_number,
                request_number=order.request_number,
                amount=order.amount,
                paid_at=inserted[0],
                first_time=True,
            )
        differs = [name for name in _ORDER_FIELDS if getattr(existing, name) != getattr(order, name)]
        if differs:
            # Paying the difference, or paying again, would each be a guess about which
            # order is the right one; money that went out cannot be taken back by a retry.
            log.error("payout key reused with other content", differs=differs)
            raise ApplicationError(
                f"payout {order.end_to_end_id} was already ordered with another {', '.join(differs)}",
                type="PayoutConflict",
                non_retryable=True,
            )
        return PayoutReceipt(
            case_number=existing.case_number,
            request_number=existing.request_number,
            amount=existing.amount,
            paid_at=existing.paid_at,
            first_time=False,
        )


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attributes)
    if text is not None:
        element.text = text
    return element


def _path(parent: ET.Element, path: str, text: str) -> ET.Element:
    """`_path(x, "A/B/C", "t")` adds <A><B><C>t</C></B></A> under x."""
    element = parent
    for tag in path.split("/"):
        element = _sub(element, tag)
    element.text = text
    return element


def _amount(amount: Decimal) -> str:
    # Exactly two decimals, never an exponent: "1250000.00", "0.50".
    return f"{amount:.2f}"


def _bankgiro_account(parent: ET.Element, tag: str, bankgiro: str) -> None:
    other = _sub(_sub(_sub(parent, tag), "Id"), "Othr")
    _sub(other, "Id", bankgiro)
    _path(other, "SchmeNm/Prtry", "BGNR")


def render_pain001(debtor: Debtor, payouts: list[Payout], *, message_id: str, created_at: datetime) -> str:
    """The pain.001.001.03 document paying `payouts` from the debtor's bankgiro, as text."""
    if not payouts:
        raise ValueError("a bank file needs at least one payout")
    count, control_sum = str(len(payouts)), _amount(total(p.amount for p in payouts))
    # The bank reads the local time; the offset keeps it an instant.
    created_local = require_utc(created_at).astimezone(STOCKHOLM).replace(microsecond=0).isoformat()

    # Unqualified tags under a default namespace declared by hand: ElementTree's
    # default_namespace option refuses the unqualified Ccy attribute.
    document = ET.Element("Document", xmlns=PAIN_001)
    initiation = _sub(document, "CstmrCdtTrfInitn")
    header = _sub(initiation, "GrpHdr")
    _sub(header, "MsgId", message_id)
    _sub(header, "CreDtTm", created_local)
    _sub(header, "NbOfTxs", count)
    _sub(header, "CtrlSum", control_sum)
    _path(header, "InitgPty/Nm", debtor.name)

    batch = _sub(initiation, "PmtInf")
    _sub(batch, "PmtInfId", message_id)
    _sub(batch, "PmtMtd", "TRF")
    _sub(batch, "NbOfTxs", count)
    _sub(batch, "CtrlSum", control_sum)
    # The bank pays on this day or, if it is not a banking day, on the next one.
    _sub(batch, "ReqdExctnDt", stockholm_date(created_at).isoformat())
    _path(batch, "Dbtr/Nm", debtor.name)
    _bankgiro_account(batch, "DbtrAcct", debtor.bankgiro)
    institution = _sub(_sub(batch, "DbtrAgt"), "FinInstnId")
    if debtor.bic is not None:
        _sub(institution, "BIC", debtor.bic)
    else:
        _path(institution, "Othr/Id", "NOTPROVIDED")

    for payout in payouts:
        transfer = _sub(batch, "CdtTrfTxInf")
        _path(transfer, "PmtId/EndToEndId", payout.end_to_end_id)
        _sub(_sub(transfer, "Amt"), "InstdAmt", _amount(payout.amount), Ccy="SEK")
        _path(transfer, "Cdtr/Nm", payout.payee_name)
        _bankgiro_account(transfer, "CdtrAcct", payout.payee_bankgiro)
        _path(transfer, "RmtInf/Ustrd", payout.reference)

    ET.indent(document)
    body = ET.tostring(document, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{body}\n'


@functools.cache
def _schema() -> xmlschema.XMLSchema:
    # The official ISO 20022 schema, as shipped in the sepaxml package's data.
    source = resources.files("sepaxml").joinpath("schemas", "pain.001.001.03.xsd")
    with resources.as_file(source) as path:
        return xmlschema.XMLSchema(str(path))


def schema_errors(xml: str) -> list[str]:
    """Why `xml` is not a valid pain.001.001.03 document; empty when it is."""
    try:
        return [f"{error.path}: {error.reason}" for error in _schema().iter_errors(xml)]
    except ET.ParseError as error:  # not even well-formed
        return [f"not well-formed XML: {error}"]


def validate_pain001(xml: str) -> None:
    problems = schema_errors(xml)
    if problems:
        raise BankFileInvalid("bank file does not satisfy pain.001.001.03: " + "; ".join(problems[:5]))


async def export_bank_file(pool: AsyncConnectionPool, debtor: Debtor, *, now: datetime) -> BankFile | None:
    """Put every payout that is in no bank file yet into a new one; None when none waits.

    One export at a time (a transaction-level advisory lock): a second export that
    starts meanwhile waits, then finds the first one's payouts taken and makes a file
    of what came in since, if anything.
    """
    created_at = require_utc(now)
    async with pool.connection() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_EXPORT_LOCK,))
        # Read only after the lock: under READ COMMITTED this sees the previous export's marks.
        cursor = conn.cursor(row_factory=class_row(Payout))
        await cursor.execute(
            f"""
            SELECT {_PAYOUT_COLUMNS} FROM payouts WHERE bank_file_id IS NULL
            ORDER BY paid_at, case_number, request_number
            """
        )
        payouts = await cursor.fetchall()
        if not payouts:
            return None
        cursor_id = await conn.execute("SELECT nextval(pg_get_serial_sequence('bank_files', 'id'))")
        row = await cursor_id.fetchone()
        assert row is not None
        file_id: int = row[0]
        # Unique per agency for as long as the bank remembers: the date and the file's number.
        message_id = f"GF-{stockholm_date(created_at):%Y%m%d}-{file_id:06d}"
        xml = render_pain001(debtor, payouts, message_id=message_id, created_at=created_at)
        # Checking a large file takes a while; the event loop serves other work meanwhile.
        await asyncio.to_thread(validate_pain001, xml)
        control_sum = total(p.amount for p in payouts)
        await conn.execute(
            f"INSERT INTO bank_files ({_BANK_FILE_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s)",
            (file_id, message_id, created_at, len(payouts), control_sum, xml),
        )
        marked = await conn.execute(
            """
            UPDATE payouts SET bank_file_id = %s
            WHERE bank_file_id IS NULL
              AND (case_number, request_number) IN (SELECT * FROM unnest(%s::text[], %s::int[]))
            """,
            (file_id, [p.case_number for p in payouts], [p.request_number for p in payouts]),
        )
        if marked.rowcount != len(payouts):
            # Only an export outside this lock could have taken them: do not store a file
            # that pays what another file already pays.
            raise RuntimeError(f"bank file {message_id}: {marked.rowcount} of {len(payouts)} payouts could be marked")
        # A case is archived when it closes, usually before its last payout goes out: its archived
        # record of payouts learns the bank file in this transaction, as the ledger does.
        await conn.execute(_ARCHIVED_PAYOUTS, (sorted({p.case_number for p in payouts}),))
    _log.info(
        "bank file exported", bank_file_id=file_id, message_id=message_id, transactions=len(payouts),
        control_sum=str(control_sum),
    )
    return BankFile(
        id=file_id,
        message_id=message_id,
        created_at=created_at,
        transactions=len(payouts),
        control_sum=control_sum,
        xml=xml,
    )


async def bank_file(pool: AsyncConnectionPool, file_id: int) -> BankFile | None:
    async with pool.connection() as conn:
        cursor = conn.cursor(row_factory=class_row(BankFile))
        await cursor.execute(f"SELECT {_BANK_FILE_COLUMNS} FROM bank_files WHERE id = %s", (file_id,))
        return await cursor.fetchone()


async def list_payouts(
    pool: AsyncConnectionPool, case_number: str | None = None, *, bank_file_id: int | None = None
) -> list[Payout]:
    """The ledger (of one case, or of one bank file, or all of it), oldest first."""
    async with pool.connection() as conn:
        cursor = conn.cursor(row_factory=class_row(Payout))
        await cursor.execute(
            f"""
            SELECT {_PAYOUT_COLUMNS} FROM payouts
            WHERE (%(case_number)s::text IS NULL OR case_number = %(case_number)s)
              AND (%(bank_file_id)s::bigint IS NULL OR bank_file_id = %(bank_file_id)s)
            ORDER BY paid_at, case_number, request_number
            """,
            {"case_number": case_number, "bank_file_id": bank_file_id},
        )
        return await cursor.fetchall()
