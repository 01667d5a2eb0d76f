from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.db import open_pool
from activities.letters import list_letters
from activities.register import (
    CaseDocument,
    CaseEvent,
    CaseSnapshot,
    Register,
    RegisterApplication,
    RegisterWrite,
    case_events,
    list_cases,
)
from domain.application import Application
from domain.case import new_case
from domain.lifecycle import Outcome, Stage
from infra.calls import load_catalog
from tests.activities.support import CrashAfterCommit, SimulatedCrash, scalar
from tests.factories import RECEIVED_2021, application_2021, check

REGION = "232100-0016"
PERSONNUMMER = "850101-1236"  # fictitious, valid check digit


def application(submission_id: str = "sub-1", *, received_at: datetime | None = None, **changes) -> RegisterApplication:
    fields = {
        "submission_id": submission_id,
        "call_id": "export-samverkan-2021",
        "received_at": received_at or datetime(2021, 3, 4, 13, 32, tzinfo=UTC),
        "imported": False,
        "sender_name": "Region Exempel",
        "sender_org_number": REGION,
        "subject": "Exportsamverkan för livsmedel i Östergötland",
        "requested_amount": Decimal("1250000.00"),
    }
    return RegisterApplication(**(fields | changes))


async def allocated(pool, year: int) -> int | None:
    async with pool.connection() as conn:
        cursor = await conn.execute("SELECT last FROM case_numbers WHERE year = %s", (year,))
        row = await cursor.fetchone()
    return None if row is None else row[0]


async def test_first_case_of_the_year(pool):
    registered = await Register(pool).register_application(application())
    assert registered.case_number == "2021-00001"
    assert registered.already_registered is False
    assert registered.received_at == datetime(2021, 3, 4, 13, 32, tzinfo=UTC)
    [row] = await list_cases(pool)
    assert (row.case_number, row.stage, row.outcome, row.officer) == ("2021-00001", "received", None, None)
    assert row.requested_amount == Decimal("1250000.00")
    assert row.sender_org_number == REGION
    assert row.subject == "Exportsamverkan för livsmedel i Östergötland"


async def test_fifty_concurrent_registrations_get_numbers_without_gaps(pool):
    register = Register(pool)
    results = await asyncio.gather(*(register.register_application(application(f"sub-{i}")) for i in range(50)))
    assert sorted(r.case_number for r in results) == [f"2021-{n:05d}" for n in range(1, 51)]
    assert await allocated(pool, 2021) == 50


async def test_numbering_restarts_each_year(pool):
    register = Register(pool)
    first = datetime(2021, 5, 1, 8, 0, tzinfo=UTC)
    assert (await register.register_application(application("a", received_at=first))).case_number == "2021-00001"
    assert (await register.register_application(application("b", received_at=first))).case_number == "2021-00002"
    next_year = datetime(2022, 2, 1, 8, 0, tzinfo=UTC)
    assert (await register.register_application(application("c", received_at=next_year))).case_number == "2022-00001"
    assert (await register.register_application(application("d", received_at=first))).case_number == "2021-00003"


async def test_the_hundred_thousandth_case_of_a_year_gets_six_digits(pool):
    async with pool.connection() as conn:
        await conn.execute("INSERT INTO case_numbers (year, last) VALUES (2021, 99998)")
    register = Register(pool)
    assert (await register.register_application(application("a"))).case_number == "2021-99999"
    assert (await register.register_application(application("b"))).case_number == "2021-100000"


async def test_the_year_is_stockholms_at_new_year(pool):
    register = Register(pool)
    # 23:30 UTC on New Year's Eve is already 00:30 on 1 January in Stockholm.
    new_year = datetime(2021, 12, 31, 23, 30, tzinfo=UTC)
    late = await register.register_application(application("a", received_at=new_year))
    assert late.case_number == "2022-00001"
    # 22:59 UTC is 23:59 on New Year's Eve in Stockholm: still the old year.
    early = await register.register_application(application("b", received_at=new_year - timedelta(minutes=31)))
    assert early.case_number == "2021-00001"


def test_a_naive_received_at_is_refused():
    with pytest.raises(ValueError, match="time zone"):
        application(received_at=datetime(2021, 3, 4, 13, 32))  # noqa: DTZ001


async def test_registering_the_same_submission_again_allocates_nothing(pool):
    register = Register(pool)
    first = await register.register_application(application())
    # A retry carries the same submission; even a different received_at must not move the case.
    again = await register.register_application(application(received_at=first.received_at + timedelta(hours=1)))
    assert again.case_number == first.case_number
    assert again.received_at == first.received_at
    assert again.already_registered is True
    assert await allocated(pool, 2021) == 1
    assert await scalar(pool, "SELECT count(*) FROM cases") == 1


async def test_concurrent_attempts_for_one_submission_make_one_case(pool):
    register = Register(pool)
    results = await asyncio.gather(*(register.register_application(application()) for _ in range(8)))
    assert {r.case_number for r in results} == {"2021-00001"}
    assert sum(not r.already_registered for r in results) == 1
    assert await allocated(pool, 2021) == 1


async def test_a_retry_after_a_crash_after_commit_writes_nothing_twice(pool):
    crashing = CrashAfterCommit(pool, crash_on=1)
    env = ActivityEnvironment()
    with pytest.raises(SimulatedCrash):
        await env.run(Register(crashing).register_application, application())  # type: ignore[arg-type]
    retried = await env.run(Register(crashing).register_application, application())  # type: ignore[arg-type]
    assert retried.case_number == "2021-00001"
    assert retried.already_registered is True
    assert await allocated(pool, 2021) == 1
    assert await scalar(pool, "SELECT count(*) FROM cases") == 1


@pytest.mark.parametrize("written", [PERSONNUMMER, "19850101-1236", "8501011236", "850101-1237", "not a number"])
async def test_a_personnummer_never_reaches_the_register(pool, written):
    request = application(sender_org_number=written, sender_name="Anna Andersson")
    # Dropped as the workflow builds the request, so not even the history holds it.
    assert request.sender_org_number is None
    assert "850101" not in request.model_dump_json()
    await Register(pool).register_application(request)
    [row] = await list_cases(pool)
    assert row.sender_org_number is None
    assert row.sender_name == "Anna Andersson"


async def test_organisation_numbers_are_stored_normalised(pool):
    await Register(pool).register_application(application(sender_org_number="162321000016"))
    [row] = await list_cases(pool)
    assert row.sender_org_number == REGION


async def test_the_register_table_itself_refuses_a_personnummer(pool):
    await Register(pool).register_application(application())
    async with pool.connection() as conn:
        with pytest.raises(psycopg.errors.CheckViolation):
            await conn.execute("UPDATE cases SET sender_org_number = %s", (PERSONNUMMER,))


def event(event_id: str = "ev-1", **changes) -> CaseEvent:
    fields = {
        "case_number": "2021-00001",
        "event_id": event_id,
        "at": datetime(2021, 3, 4, 13, 33, tzinfo=UTC),
        "actor_id": "system",
        "actor_role": "system",
        "kind": "registered",
        "stage": Stage.RECEIVED,
        "summary": "Ansökan registrerad och mottagningsbekräftelse skickad.",
    }
    return CaseEvent(**(fields | changes))


def write(*events: CaseEvent, documents: tuple[CaseDocument, ...] = (),
          snapshot: CaseSnapshot | None = None) -> RegisterWrite:
    return RegisterWrite(case_number="2021-00001", events=list(events), documents=list(documents), snapshot=snapshot)


def document() -> CaseDocument:
    return CaseDocument(
        case_number="2021-00001",
        document_id="application",
        kind="application",
        title="Ansökan",
        registered_at=datetime(2021, 3, 4, 13, 32, tzinfo=UTC),
        content={"requested_amount": Decimal("1250000.00"), "project": {"title": "Exportsamverkan"}},
    )


async def test_events_are_recorded_once(pool):
    register = Register(pool)
    await register.register_application(application())
    await register.write(write(event()))
    await register.write(write(event(), event("ev-2", at=datetime(2021, 3, 5, 9, 0, tzinfo=UTC),
                                              stage=Stage.COMPLETENESS)))
    events = await case_events(pool, "2021-00001")
    assert [e.event_id for e in events] == ["ev-1", "ev-2"]
    assert events[0] == event()


async def test_a_write_retried_after_a_crash_writes_nothing_twice(pool):
    register = Register(pool)
    await register.register_application(application())
    batch = write(event(), event("ev-2"), documents=(document(),),
                  snapshot=CaseSnapshot(case_number="2021-00001", stage=Stage.COMPLETENESS))
    env = ActivityEnvironment()
    with pytest.raises(SimulatedCrash):
        await env.run(Register(CrashAfterCommit(pool)).write, batch)  # type: ignore[arg-type]
    await env.run(register.write, batch)
    assert await scalar(pool, "SELECT count(*) FROM case_events") == 2
    assert await scalar(pool, "SELECT count(*) FROM case_documents") == 1
    [row] = await list_cases(pool)
    assert row.stage == "completeness"


async def test_documents_are_registered_once_with_exact_money(pool):
    register = Register(pool)
    await register.register_application(application())
    await register.write(write(documents=(document(),)))
    await register.write(write(documents=(document(),)))
    assert await scalar(pool, "SELECT count(*) FROM case_documents") == 1
    content = await scalar(pool, "SELECT content FROM case_documents")
    # Money keeps its exact decimal form (as a string), never a float.
    assert content == {"requested_amount": "1250000.00", "project": {"title": "Exportsamverkan"}}


async def test_text_that_an_array_literal_would_have_to_escape_comes_back_exactly(pool):
    # The entries go to PostgreSQL as arrays: quotes, backslashes, braces, commas, NULL as a word,
    # an empty string and line breaks must all arrive as they were written.
    awkward = 'Citat "så här", \\ och {klammer}, NULL, \n radbrytning; ; 100 % – klart'
    register = Register(pool)
    await register.register_application(application())
    tricky = document().model_copy(update={"title": awkward, "content": {"text": awkward, "empty": "", "null": "NULL"}})
    await register.write(write(event(summary=awkward), event("ev-2", summary=""), documents=(tricky,)))
    assert [e.summary for e in await case_events(pool, "2021-00001")] == [awkward, ""]
    async with pool.connection() as conn:
        cursor = await conn.execute("SELECT title, content FROM case_documents")
        assert await cursor.fetchone() == (awkward, {"text": awkward, "empty": "", "null": "NULL"})


async def test_a_write_sets_the_register_row(pool):
    register = Register(pool)
    await register.register_application(application())
    deadline = datetime(2021, 6, 1, 22, 0, tzinfo=UTC)
    snapshot = CaseSnapshot(
        case_number="2021-00001",
        stage=Stage.DECIDED,
        outcome=Outcome.APPROVED,
        officer="handlaggare-7",
        granted_amount=Decimal("900000.00"),
        next_deadline=deadline,
    )
    await register.write(write(snapshot=snapshot))
    await register.write(write(snapshot=snapshot))
    [row] = await list_cases(pool, stage="decided")
    assert (row.stage, row.outcome, row.officer) == ("decided", "approved", "handlaggare-7")
    assert row.granted_amount == Decimal("900000.00")
    assert row.next_deadline == deadline
    assert await list_cases(pool, stage="received") == []
    assert await list_cases(pool, call_id="other") == []
    assert len(await list_cases(pool, call_id="export-samverkan-2021", stage="decided")) == 1


async def test_a_write_is_all_or_nothing(pool):
    # The event belongs to a case that is not registered: the stage of the one that is must not
    # change without it, or an officer would see a stage with no event that led to it.
    register = Register(pool)
    await register.register_application(application())
    batch = RegisterWrite(case_number="2021-00001", snapshot=CaseSnapshot(case_number="2021-00001",
                                                                          stage=Stage.ASSESSMENT))
    broken = batch.model_copy(update={"events": [event(case_number="2021-00077")]})
    with pytest.raises(ApplicationError, match="not in the register") as failure:
        await register.write(broken)
    assert failure.value.non_retryable
    [row] = await list_cases(pool)
    assert row.stage == "received"
    assert await scalar(pool, "SELECT count(*) FROM case_events") == 0


def test_a_write_holds_one_case_only():
    with pytest.raises(ValueError, match="every entry must belong to case 2021-00001"):
        write(event(case_number="2021-00002"))


async def test_the_cases_in_the_running_are_those_before_a_decision(pool):
    register = Register(pool)
    for n in range(1, 5):
        await register.register_application(application(f"sub-{n}"))
    await register.register_application(application("other-call", call_id="saker-digitalisering-2022"))
    for number, stage in (("2021-00002", Stage.DECISION), ("2021-00003", Stage.DECIDED),
                          ("2021-00004", Stage.WITHDRAWN)):
        await register.write(RegisterWrite(case_number=number, snapshot=CaseSnapshot(case_number=number,
                                                                                     stage=stage)))
    assert await register.cases_in_running("export-samverkan-2021") == ["2021-00001", "2021-00002"]
    assert await register.cases_in_running("no-such-call") == []


async def test_events_for_an_unknown_case_fail_without_retry(pool):
    with pytest.raises(ApplicationError) as failure:
        await Register(pool).write(write(event(), snapshot=CaseSnapshot(case_number="2021-00001",
                                                                       stage=Stage.COMPLETENESS)))
    assert failure.value.non_retryable and failure.value.type == "CaseNotFound"
    assert await scalar(pool, "SELECT count(*) FROM case_events") == 0


async def test_a_write_to_an_unknown_case_fails_without_retry(pool):
    with pytest.raises(ApplicationError) as failure:
        await Register(pool).write(RegisterWrite(
            case_number="2021-99999", snapshot=CaseSnapshot(case_number="2021-99999", stage=Stage.COMPLETENESS)))
    assert failure.value.non_retryable
    assert failure.value.type == "CaseNotFound"


# --- a new case's opening, written by the intake -----------------------------------------------


def opening(data: dict | None = None, number: str = "2021-00001") -> RegisterWrite:
    """What the 2021 example opens with: registered, checked, in secrecy review, with its receipt."""
    data = data or application_2021()
    case = new_case(case_number=number, submission_id="sub-1", call=load_catalog().get("export-samverkan-2021"),
                    application=Application.model_validate(data), received_at=RECEIVED_2021, imported=False,
                    verdict=check(data))
    return RegisterWrite.opening(case)


async def test_a_case_opens_with_its_events_its_stage_and_its_receipt_in_one_write(pool):
    register = Register(pool)
    await register.register_application(application(received_at=RECEIVED_2021))
    opened = await register.open_case(opening())
    assert opened.by_email == []  # letters do not go by e-mail here: nothing for the case to send
    assert [(e.kind, e.stage) for e in await case_events(pool, "2021-00001")] == [
        ("registered", "received"), ("checked", "completeness")]
    [row] = await list_cases(pool)
    assert row.stage == "secrecy_review"
    # The application itself, as received, is the case's first registered document.
    async with pool.connection() as conn:
        cursor = await conn.execute("SELECT document_id, kind, registered_at, content FROM case_documents")
        [(document_id, kind, registered_at, content)] = await cursor.fetchall()
    assert (document_id, kind, registered_at) == ("application-v1", "application", RECEIVED_2021)
    assert Application.model_validate(content) == Application.model_validate(application_2021())
    [letter] = await list_letters(pool, "2021-00001")
    assert letter.kind == "receipt" and letter.sent_at is None
    assert letter.recipient_email == "anna.andersson@example.se"
    # Rendered with the number the register gave it, in Swedish.
    assert letter.subject == "Vi har tagit emot din ansökan – 2021-00001"
    assert "Hej Anna Andersson," in letter.body and "diarienummer 2021-00001" in letter.body


async def test_the_receipt_is_left_for_e_mail_only_where_letters_go_by_e_mail_and_there_is_an_address(pool):
    register = Register(pool, mails_letters=True)
    await register.register_application(application(received_at=RECEIVED_2021))
    batch = opening()
    assert (await register.open_case(batch)).by_email == [batch.letters[0].letter_id]

    no_address = application_2021()
    no_address["applicant"]["contact"] = None
    await register.register_application(application("sub-2", received_at=RECEIVED_2021))
    batch = opening(no_address, "2021-00002")
    assert batch.letters[0].recipient_email is None
    assert (await register.open_case(batch)).by_email == []
    [letter] = await list_letters(pool, "2021-00002")
    assert letter.recipient_name == "Region Exempel"  # no contact person: to the organisation


async def test_an_opening_retried_after_a_crash_writes_nothing_twice(pool):
    await Register(pool).register_application(application(received_at=RECEIVED_2021))
    env = ActivityEnvironment()
    with pytest.raises(SimulatedCrash):
        await env.run(Register(CrashAfterCommit(pool)).open_case, opening())  # type: ignore[arg-type]
    await env.run(Register(pool).open_case, opening())
    assert await scalar(pool, "SELECT count(*) FROM case_events") == 2
    assert await scalar(pool, "SELECT count(*) FROM case_documents") == 1
    assert await scalar(pool, "SELECT count(*) FROM letters") == 1
    [row] = await list_cases(pool)
    assert row.stage == "secrecy_review"


async def test_a_letter_of_a_case_that_is_not_registered_is_refused_without_retry(pool):
    with pytest.raises(ApplicationError, match="not in the register") as failure:
        await Register(pool).write(opening().model_copy(update={"events": [], "documents": [], "snapshot": None}))
    assert failure.value.non_retryable
    assert await scalar(pool, "SELECT count(*) FROM letters") == 0


async def _registered_case(pool) -> str:
    return (await Register(pool).register_application(application())).case_number


@pytest.mark.parametrize("field", ["summary", "actor_id"])
async def test_a_text_the_database_refuses_fails_the_write_for_good_without_quoting_it(pool, field):
    # A client that got past the boundary (the models refuse a NUL): model_construct skips validation.
    number = await _registered_case(pool)
    values = {"case_number": number, "event_id": "e-1", "at": datetime(2021, 3, 5, 9, 0, tzinfo=UTC),
              "actor_id": "anna", "actor_role": "officer", "kind": "PrepareDecision", "stage": Stage.DECISION,
              "summary": "Beslut för Tolvan Tolvansson"}
    values[field] = "Tolvan Tolvansson, 070-123 45 67\x00 och mer"
    batch = RegisterWrite.model_construct(case_number=number, events=[CaseEvent.model_construct(**values)],
                                          documents=[], letters=[], snapshot=None)
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(Register(pool).write, batch)
    error = caught.value
    assert error.non_retryable and error.type in {"DataError", "CharacterNotInRepertoire", "UntranslatableCharacter"}
    assert "Tolvan" not in str(error) and "070" not in str(error)
    # Nor in what travels with it (the SDK logs the chain, and Temporal stores the cause).
    assert error.__cause__ is None and error.__suppress_context__
    assert await case_events(pool, number) == []


async def test_a_constraint_the_data_breaks_fails_for_good_and_a_lost_connection_does_not(pool):
    number = await _registered_case(pool)
    async with pool.connection() as conn:
        await conn.execute("ALTER TABLE case_events ADD CONSTRAINT no_tolvan CHECK (summary NOT LIKE '%Tolvan%')")
    event = CaseEvent(case_number=number, event_id="e-1", at=datetime(2021, 3, 5, 9, 0, tzinfo=UTC),
                      actor_id="anna", actor_role="officer", kind="Note", stage=Stage.DECISION,
                      summary="Tolvan Tolvansson ringde")
    with pytest.raises(ApplicationError) as caught:
        await Register(pool).write(RegisterWrite(case_number=number, events=[event]))
    assert caught.value.non_retryable and caught.value.type == "CheckViolation"
    assert "SQLSTATE 23514" in caught.value.message and "Tolvan" not in caught.value.message

    # A connection the server dropped is what a retry mends: it stays retryable.
    cut = await open_pool(pool.conninfo, min_size=1, max_size=1)
    try:
        async with cut.connection() as conn:
            pid = (await (await conn.execute("SELECT pg_backend_pid()")).fetchone())[0]
        async with pool.connection() as conn:
            await conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(ApplicationError) as caught:
            await Register(cut).write(RegisterWrite(case_number=number, events=[event]))
        assert not caught.value.non_retryable and "SQLSTATE 57P01" in caught.value.message  # admin shutdown
    finally:
        await cut.close()
