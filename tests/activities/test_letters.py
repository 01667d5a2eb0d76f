from __future__ import annotations

import asyncio
import email
import email.policy
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.letters import LetterRequest, Letters, SmtpSettings, list_letters
from activities.register import Register, RegisterApplication
from domain.letters import LetterKind, appeal_text
from tests.activities.support import CrashAfterCommit, RecordingHandler, SimulatedCrash, free_port, scalar, start_smtp

CASE = "2021-00001"
EMAIL = "anna.andersson@example.se"


@pytest.fixture
async def case(pool) -> str:
    registered = await Register(pool).register_application(
        RegisterApplication(
            submission_id="sub-1",
            call_id="export-samverkan-2021",
            received_at=datetime(2021, 3, 4, 13, 32, tzinfo=UTC),
            imported=False,
            sender_name="Region Exempel",
            sender_org_number="232100-0016",
            subject="Exportsamverkan för livsmedel i Östergötland",
            requested_amount=Decimal("1250000.00"),
        )
    )
    assert registered.case_number == CASE
    return CASE


def receipt(letter_id: str = "receipt", *, recipient_email: str | None = EMAIL, **context: str) -> LetterRequest:
    return LetterRequest(
        case_number=CASE,
        letter_id=letter_id,
        kind=LetterKind.RECEIPT,
        recipient_name="Anna Andersson",
        recipient_email=recipient_email,
        context={
            "agency": "Tillväxtverket",
            "project_title": "Exportsamverkan för livsmedel i Östergötland",
            "call_title": "Exportsamverkan 2021",
            "received_at": "2021-03-04 kl. 14:32",
        }
        | context,
    )


def smtp_settings(port: int) -> SmtpSettings:
    return SmtpSettings(host="127.0.0.1", port=port, sender="Tillväxtverket <noreply@tillvaxtverket.example>")


async def test_without_smtp_the_letter_stays_in_the_outbox(pool, case):
    letters = Letters(pool, None)
    first = await letters.send_letter(receipt())
    again = await letters.send_letter(receipt())
    assert first == again
    assert first.sent is False
    assert first.subject == "Vi har tagit emot din ansökan – 2021-00001"
    [stored] = await list_letters(pool, CASE)
    assert stored.sent_at is None
    assert stored.kind == "receipt"
    assert stored.recipient_email == EMAIL
    assert stored.body.startswith("Hej Anna Andersson,")
    assert await list_letters(pool, None, unsent_only=True) == [stored]
    assert await list_letters(pool, "2021-99999") == []


async def test_a_letter_is_sent_once_and_marked_sent(pool, case, smtp_server):
    handler, port = smtp_server
    letters = Letters(pool, smtp_settings(port))
    result = await letters.send_letter(receipt())
    assert result.sent is True
    assert len(handler.messages) == 1

    again = await letters.send_letter(receipt())
    assert again.sent is True
    assert len(handler.messages) == 1, "a repeated request must not send the letter again"

    [stored] = await list_letters(pool, CASE)
    assert stored.sent_at is not None
    assert await list_letters(pool, None, unsent_only=True) == []

    received = handler.messages[0]
    assert received.rcpt_tos == [EMAIL]
    message = email.message_from_bytes(received.data, policy=email.policy.default)
    assert message["Subject"] == "Vi har tagit emot din ansökan – 2021-00001"
    assert message["To"] == f"Anna Andersson <{EMAIL}>"
    assert message["From"] == "Tillväxtverket <noreply@tillvaxtverket.example>"
    assert message["Message-ID"].endswith("@tillvaxtverket.example>")
    assert message.get_content().replace("\r\n", "\n") == stored.body


async def test_without_an_address_the_letter_waits_to_be_posted(pool, case, smtp_server):
    handler, port = smtp_server
    result = await Letters(pool, smtp_settings(port)).send_letter(receipt(recipient_email=None))
    assert result.sent is False
    assert handler.messages == []
    [stored] = await list_letters(pool, CASE, unsent_only=True)
    assert stored.recipient_email is None


async def test_a_crash_after_the_outbox_write_sends_once_on_retry(pool, case, smtp_server):
    handler, port = smtp_server
    env = ActivityEnvironment()
    with pytest.raises(SimulatedCrash):
        await env.run(Letters(CrashAfterCommit(pool, crash_on=1), smtp_settings(port)).send_letter, receipt())  # type: ignore[arg-type]
    assert handler.messages == []
    result = await env.run(Letters(pool, smtp_settings(port)).send_letter, receipt())
    assert result.sent is True
    assert len(handler.messages) == 1
    assert await scalar(pool, "SELECT count(*) FROM letters") == 1


async def test_a_crash_after_marking_sent_does_not_send_again(pool, case, smtp_server):
    handler, port = smtp_server
    env = ActivityEnvironment()
    with pytest.raises(SimulatedCrash):
        await env.run(Letters(CrashAfterCommit(pool, crash_on=2), smtp_settings(port)).send_letter, receipt())  # type: ignore[arg-type]
    assert len(handler.messages) == 1
    result = await env.run(Letters(pool, smtp_settings(port)).send_letter, receipt())
    assert result.sent is True
    assert len(handler.messages) == 1
    assert await scalar(pool, "SELECT count(*) FROM letters") == 1


async def test_the_retry_sends_the_letter_first_written(pool, case, smtp_server):
    handler, port = smtp_server
    await Letters(pool, None).send_letter(receipt())
    # The workflow's second attempt carries other wording (say, a template changed in
    # between): the letter on file is the one that goes out.
    await Letters(pool, smtp_settings(port)).send_letter(receipt(project_title="Ett annat namn"))
    message = email.message_from_bytes(handler.messages[0].data, policy=email.policy.default)
    assert "Exportsamverkan för livsmedel i Östergötland" in message.get_content()
    assert "Ett annat namn" not in message.get_content()


async def test_an_attempt_racing_another_gets_the_letter_the_other_stored(pool, case):
    # An attempt that timed out may still be running when its retry starts. The retry's insert
    # waits for the first attempt's and then does nothing; it must still find the stored letter.
    first_attempt = await pool.getconn()
    try:
        await first_attempt.execute("BEGIN")
        await first_attempt.execute(
            "INSERT INTO letters (case_number, letter_id, kind, recipient_name, recipient_email, subject, body)"
            " VALUES (%s, 'receipt', 'receipt', 'Anna Andersson', %s, 'Först skrivet', 'Hej')", (CASE, EMAIL))
        retry = asyncio.create_task(Letters(pool, None).send_letter(receipt()))
        async with asyncio.timeout(30):
            while await scalar(pool, "SELECT count(*) FROM pg_stat_activity"
                                     " WHERE wait_event_type = 'Lock' AND query LIKE '%%INTO letters%%'") != 1:
                assert not retry.done(), retry
        await first_attempt.execute("COMMIT")
        sent = await retry
    finally:
        await pool.putconn(first_attempt)
    assert sent.subject == "Först skrivet"
    assert await scalar(pool, "SELECT count(*) FROM letters") == 1


async def test_a_server_that_is_down_leaves_the_letter_unsent_until_a_retry(pool, case):
    port = free_port()
    letters = Letters(pool, smtp_settings(port))
    with pytest.raises(OSError):
        await letters.send_letter(receipt())
    assert len(await list_letters(pool, CASE, unsent_only=True)) == 1

    handler = RecordingHandler()
    controller = start_smtp(handler, port)
    try:
        assert (await letters.send_letter(receipt())).sent is True
    finally:
        controller.stop()
    assert len(handler.messages) == 1
    assert await list_letters(pool, CASE, unsent_only=True) == []


async def test_a_refused_recipient_is_not_retried(pool, case, smtp_server):
    handler, port = smtp_server
    handler.refuse.add(EMAIL)
    with pytest.raises(ApplicationError) as failure:
        await Letters(pool, smtp_settings(port)).send_letter(receipt())
    assert failure.value.non_retryable
    assert failure.value.type == "LetterUndeliverable"
    assert EMAIL not in str(failure.value)
    assert len(await list_letters(pool, CASE, unsent_only=True)) == 1


@pytest.mark.parametrize(("reply", "retryable"), [("554 5.7.1 rejected as spam", False), ("451 4.3.0 try later", True)])
async def test_a_refused_message_is_retried_only_if_temporary(pool, case, smtp_server, reply, retryable):
    handler, port = smtp_server
    handler.data_reply = reply
    with pytest.raises(Exception) as failure:
        await Letters(pool, smtp_settings(port)).send_letter(receipt())
    assert isinstance(failure.value, ApplicationError) is not retryable
    assert len(await list_letters(pool, CASE, unsent_only=True)) == 1


async def test_a_missing_template_key_fails_without_retry_and_writes_nothing(pool, case):
    request = receipt().model_copy(update={"context": {"agency": "Tillväxtverket"}})
    with pytest.raises(ApplicationError, match="call_title, project_title, received_at") as failure:
        await Letters(pool, None).send_letter(request)
    assert failure.value.non_retryable
    assert failure.value.type == "LetterTemplateError"
    assert await list_letters(pool, CASE) == []


async def test_decision_letter_goes_through_the_outbox(pool, case):
    request = LetterRequest(
        case_number=CASE,
        letter_id="decision",
        kind=LetterKind.DECISION_REJECTED,
        recipient_name="Anna Andersson",
        recipient_email=EMAIL,
        context={
            "agency": "Tillväxtverket",
            "project_title": "Exportsamverkan för livsmedel i Östergötland",
            "call_title": "Exportsamverkan 2021",
            "reasons": "Projektet bedöms inte bidra till utlysningens syfte.",
            "decision_date": "2021-05-20",
            "decided_by": "Bo Beslut",
            "appeal": appeal_text(False),
        },
    )
    result = await Letters(pool, None).send_letter(request)
    assert result.subject == "Beslut: ansökan avslås – 2021-00001"
    [stored] = await list_letters(pool, CASE)
    assert "Beslutet kan inte överklagas." in stored.body
