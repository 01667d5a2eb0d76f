"""Requests for public documents (issue 19, section 4), as pure calls on a case's state."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import timedelta
from typing import Any

import pytest

from domain.actions import apply, deadline_passed, refusal
from domain.application import Application
from domain.case import (
    CONTACT_EMAIL_MASK,
    MAX_RECEIPTS,
    CaseState,
    PublicDocument,
    RecordEvent,
    RecordsStatus,
    SaveDocument,
    SendLetter,
    new_case,
    public_version,
)
from domain.clock import end_of_day, stockholm_date
from domain.lifecycle import Stage
from domain.privacy import PERSONNUMMER
from domain.records import MAX_ANSWERED_RECORDS_REQUESTS, STATUS_LABELS_SV, public_document, released
from infra.calls import load_catalog
from infra.errors import InputError
from services.cases import build_command
from tests.factories import check
from tests.records_examples import CASES, EXAMPLES, IDS, LEGAL_GROUND, marked, received, rulings, secret_texts

CATALOG = load_catalog()


def act(state: CaseState, action: str, actor: str, at: Any, action_id: str | None = None, **payload: Any) -> str:
    role, _, person = actor.partition(":")
    command = build_command(action, {"role": role, "id": person}, payload, action_id or uuid.uuid4().hex)
    if (reason := refusal(state, command, at)) is not None:
        raise AssertionError(reason)
    return apply(state, command, at).message


def refused(state: CaseState, action: str, actor: str, at: Any, **payload: Any) -> str:
    role, _, person = actor.partition(":")
    reason = refusal(state, build_command(action, {"role": role, "id": person}, payload, uuid.uuid4().hex), at)
    assert reason is not None, f"{action} by {actor} was accepted"
    return reason


def opened(file: str, when: str, secret: list[str], public: str) -> tuple[CaseState, dict[str, Any]]:
    data = marked(file, secret, public)
    state = new_case(case_number="2021-00001", submission_id="s-1", call=CATALOG.get(data["call_id"]),
                     application=Application.model_validate(data), received_at=received(when), imported=False,
                     verdict=check(data, received(when)))
    assert state.stage is Stage.SECRECY_REVIEW
    return state, data


def request(state: CaseState, at: Any, document: str = "application", **who: Any) -> str:
    request_id = f"r-{uuid.uuid4().hex[:8]}"
    act(state, "request-public-document", "public:public", at, action_id=request_id, document=document, **who)
    return request_id


@pytest.mark.parametrize(("file", "when", "secret", "public"), CASES, ids=IDS)
def test_a_request_after_the_review_is_answered_at_once_without_a_secret_part(file, when, secret, public):
    state, data = opened(file, when, secret, public)
    at = received(when) + timedelta(hours=1)
    act(state, "record-secrecy-review", "officer:anna", at, rulings=rulings(secret, public))
    request_id = request(state, at)
    [asked] = state.records_requests
    assert (asked.request_id, asked.status, asked.answered_at) == (request_id, RecordsStatus.RELEASED, at)
    document = released(state, asked)
    assert document is not None
    text = json.dumps(document, ensure_ascii=False)
    for secret_text in secret_texts(data, secret):
        assert secret_text not in text
    assert f"[Sekretess enligt {LEGAL_GROUND}]" in text
    # Marked by the applicant, found public by the review: released as written.
    marked_public = json.dumps(data[public.split(".")[1]][public.split(".")[2]], ensure_ascii=False)
    assert marked_public in text
    # What was released is registered in the case as it was.
    [saved] = [e for e in state.outbox if isinstance(e, SaveDocument) and e.document == "public_release"]
    assert saved.content == document


@pytest.mark.parametrize(("file", "when", "secret", "public"), CASES[:1] + CASES[2:3], ids=[IDS[0], IDS[2]])
def test_a_request_before_the_review_waits_for_it_the_same_day_and_is_then_released(file, when, secret, public):
    state, data = opened(file, when, secret, public)
    at = received(when) + timedelta(minutes=5)
    request_id = request(state, at, requester_name="Journalisten", requester_email="redaktion@tidning.example")
    [asked] = state.records_requests
    assert asked.status is RecordsStatus.PENDING
    assert asked.deadline == end_of_day(stockholm_date(at))
    assert state.records_pending_since == at and state.next_deadline == asked.deadline
    assert "Sekretessprövningen ska vara gjord" in refused(state, "release-public-document", "officer:anna", at,
                                                           request_id=request_id)
    assert "handläggare" in refused(state, "release-public-document", "public:public", at, request_id=request_id)
    act(state, "record-secrecy-review", "officer:anna", at, rulings=rulings(secret, public))
    state.outbox.clear()
    act(state, "release-public-document", "officer:anna", at, request_id=request_id)
    assert asked.status is RecordsStatus.RELEASED and state.records_pending_since is None
    [letter] = [e for e in state.outbox if isinstance(e, SendLetter)]
    assert (letter.letter, letter.recipient_email) == ("records_release", "redaktion@tidning.example")
    for secret_text in secret_texts(data, secret):
        assert secret_text not in letter.context["content"]
        assert secret_text not in json.dumps(released(state, asked), ensure_ascii=False)
    assert "Begäran är redan besvarad" in refused(state, "release-public-document", "officer:anna", at,
                                                  request_id=request_id)


def test_a_request_not_answered_the_same_day_is_recorded_as_overdue():
    state, _ = opened(*CASES[0])
    at = received(CASES[0][1])
    request(state, at)
    [asked] = state.records_requests
    deadline_passed(state, asked.deadline)
    assert asked.overdue and state.next_deadline is None
    assert state.records_pending_since == at  # still at the top of the inbox until answered


def test_a_refusal_is_a_decision_with_reasons_and_how_to_appeal_to_kammarratten():
    state, _ = opened(*CASES[0])
    at = received(CASES[0][1])
    anonymous = request(state, at)
    with pytest.raises(InputError, match=r"\$\.legal_ground: uppgiften saknas"):
        refused(state, "refuse-public-document", "officer:anna", at, request_id=anonymous, reasons="x")
    act(state, "refuse-public-document", "officer:anna", at, request_id=anonymous,
        reasons="Hela ansökan rör ett ännu inte offentliggjort samarbete.", legal_ground=LEGAL_GROUND)
    [asked] = state.records_requests
    assert asked.status is RecordsStatus.REFUSED and asked.refusal is not None
    assert released(state, asked) is None
    [letter] = [e for e in state.outbox if isinstance(e, SendLetter) and e.letter == "records_refusal"]
    assert letter.recipient_email is None  # anonymous: kept on file in the outbox
    assert "kammarrätten" in letter.context["appeal"] and "tre veckor" in letter.context["appeal"]
    assert letter.context["reasons"].startswith("Hela ansökan")


def test_a_refusal_in_part_releases_the_rest_and_names_what_is_withheld():
    file, when, secret, public = CASES[2]
    state, _ = opened(file, when, secret, public)
    at = received(when)
    act(state, "record-secrecy-review", "officer:anna", at, rulings=rulings(secret, public))
    request_id = request(state, at, requester_email="a@b.example")
    act(state, "refuse-public-document", "officer:anna", at, request_id=request_id, in_part=True,
        reasons="Uppgifterna är affärshemligheter.", legal_ground=LEGAL_GROUND)
    [asked] = state.records_requests
    assert asked.status is RecordsStatus.REFUSED_IN_PART and asked.refusal and asked.refusal.withheld == secret
    assert released(state, asked) is not None
    [letter] = [e for e in state.outbox if isinstance(e, SendLetter) and e.letter == "records_refusal"]
    assert all(s in letter.context["what"] for s in secret)
    assert "Begäran är redan besvarad" in refused(state, "refuse-public-document", "officer:anna", at,
                                                  request_id=request_id, in_part=True, reasons="x",
                                                  legal_ground=LEGAL_GROUND)


def test_the_decision_is_requested_only_once_there_is_one():
    state, _ = opened(*CASES[0])
    assert "inget beslut" in refused(state, "request-public-document", "public:public", received(CASES[0][1]),
                                     document="decision")
    assert public_document(state, PublicDocument.DECISION) is None


def test_an_unknown_request_is_named():
    state, _ = opened(*CASES[0])
    assert "ingen begäran r-nope" in refused(state, "release-public-document", "officer:anna",
                                             received(CASES[0][1]), request_id="r-nope")


# --- what anyone's requests may cost a case ---------------------------------------------------------------


def test_anonymous_requests_never_push_an_officers_receipt_out():
    """A retried officer's action is answered with its receipt however many requests came in between."""
    file, when, secret, public = CASES[0]
    state, _ = opened(file, when, secret, public)
    at = received(when)
    act(state, "record-secrecy-review", "officer:anna", at, action_id="review-1", rulings=rulings(secret, public))
    first = state.receipts["review-1"]
    for _ in range(MAX_RECEIPTS + 10):
        request(state, at)
    assert state.receipts == {"review-1": first}
    role, _, person = "officer:anna".partition(":")
    again = build_command("record-secrecy-review", {"role": role, "id": person},
                          {"rulings": rulings(secret, public)}, "review-1")
    assert refusal(state, again, at) is None and apply(state, again, at) is first
    # Answered at once, the requests are bounded, and the version released is registered once.
    assert len(state.records_requests) == MAX_ANSWERED_RECORDS_REQUESTS
    assert len([e for e in state.outbox if isinstance(e, SaveDocument) and e.document == "public_release"]) == 1
    assert len({r.release_id for r in state.records_requests}) == 1


def test_a_request_sent_again_is_answered_with_its_first_receipt_and_registered_once():
    state, _ = opened(*CASES[0])
    at = received(CASES[0][1])
    command = build_command("request-public-document", {"role": "public", "id": "public"},
                            {"document": "application"}, "r-once")
    first = apply(state, command, at)
    assert refusal(state, command, at) is None and apply(state, command, at) is first
    assert [r.request_id for r in state.records_requests] == ["r-once"] and "r-once" not in state.receipts
    other = build_command("request-public-document", {"role": "public", "id": "public"},
                          {"document": "application", "requester_name": "Någon annan"}, "r-once")
    assert "redan använts" in (refusal(state, other, at) or "")
    # Nor may another action take a request's id.
    assign = build_command("assign", {"role": "administrator", "id": "admin"}, {"officer": "anna"}, "r-once")
    assert "redan använts" in (refusal(state, assign, at) or "")
    # A request registered before its receipt was kept with it is never registered twice.
    state.records_requests[0].receipt = None
    assert "redan registrerad" in (refusal(state, command, at) or "")


def test_only_waiting_requests_count_towards_the_limit(monkeypatch):
    monkeypatch.setattr("domain.records.MAX_RECORDS_REQUESTS", 2)
    file, when, secret, public = CASES[0]
    state, _ = opened(file, when, secret, public)
    at = received(when)
    request(state, at)
    request(state, at)
    assert "registratur" in refused(state, "request-public-document", "public:public", at, document="application")
    act(state, "record-secrecy-review", "officer:anna", at, rulings=rulings(secret, public))
    for _ in range(5):  # answered at once: nothing waits
        request(state, at)
    assert sum(r.status is RecordsStatus.PENDING for r in state.records_requests) == 2


def test_each_distinct_version_released_is_registered_once():
    file, when, secret, public = CASES[2]
    state, _ = opened(file, when, secret, public)
    at = received(when)
    waiting = request(state, at)
    act(state, "record-secrecy-review", "officer:anna", at, rulings=rulings(secret, public))
    request(state, at)
    act(state, "release-public-document", "officer:anna", at, request_id=waiting)
    saved = [e for e in state.outbox if isinstance(e, SaveDocument) and e.document == "public_release"]
    assert len(saved) == 1 and all(r.release_id == saved[0].document_id for r in state.records_requests)
    assert saved[0].content == released(state, state.records_requests[0])


# --- a case that closes with requests waiting ------------------------------------------------------------


def test_a_request_waiting_when_the_case_closes_is_referred_to_the_registry():
    state, _ = opened(*CASES[0])
    at = received(CASES[0][1])
    waiting = request(state, at)
    state.outbox.clear()
    act(state, "withdraw", "applicant:sokande", at + timedelta(hours=1))
    assert state.stage is Stage.CLOSED
    [asked] = state.records_requests
    assert (asked.request_id, asked.status, asked.answered_by) == (waiting, RecordsStatus.REFERRED, "system")
    assert state.records_pending_since is None and state.next_deadline is None
    [event] = [e for e in state.outbox if isinstance(e, RecordEvent) and e.event == "records_request_referred"]
    assert waiting in event.summary and "registraturen" in event.summary
    assert "registratur" in STATUS_LABELS_SV[RecordsStatus.REFERRED]


# --- personal data in a released document -------------------------------------------------------------


def contacts(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        found = [value["contact"]] if isinstance(value.get("contact"), dict) else []
        return found + [c for v in value.values() for c in contacts(v)]
    if isinstance(value, list):
        return [c for v in value for c in contacts(v)]
    return []


PERSONNUMMER_EXAMPLES = [
    *((file, when) for file, when, *_ in CASES),
    ("saker-digitalisering-2022/ineligible-enskild-naringsidkare.json", "2022-05-24T10:12:00+02:00"),
]


@pytest.mark.parametrize(("file", "when"), PERSONNUMMER_EXAMPLES, ids=[f.split("/")[1] for f, _ in
                                                                       PERSONNUMMER_EXAMPLES])
def test_a_released_document_holds_no_personnummer_and_no_contact_persons_address_or_number(file, when):
    data = json.loads((EXAMPLES / file).read_text(encoding="utf-8"))
    # A personnummer also where people write freely, e.g. a sole trader named in a description.
    data["project"]["title"] = f"{data['project']['title']} (ägare 19121212-1212)"
    state = new_case(case_number="2021-00002", submission_id="s-2", call=CATALOG.get(data["call_id"]),
                     application=Application.model_validate(data), received_at=received(when), imported=False,
                     verdict=check(data, received(when)))
    people = contacts(data)
    assert people and all(p.get("email") for p in people)
    public = public_version(state)
    text = json.dumps(public, ensure_ascii=False)
    assert not PERSONNUMMER.search(text) and "[personnummer]" in text
    for person in people:
        assert person["email"] not in text and (not person.get("phone") or person["phone"] not in text)
        assert person["name"] in text  # names stay
    assert CONTACT_EMAIL_MASK in text
    applicant = public["applicant"]
    assert isinstance(applicant, dict) and applicant["name"] == data["applicant"]["name"]
    if not PERSONNUMMER.search(data["applicant"]["org_number"]):
        assert applicant["org_number"] == data["applicant"]["org_number"]  # an organisation's own number stays
    else:
        assert applicant["org_number"] == "[personnummer]"


# --- the same result in every process -----------------------------------------------------------------------


def test_withholding_texts_of_equal_length_gives_the_same_result_in_every_process():
    """Equal lengths, overlapping: which is withheld first decides the result, so the order must be fixed."""
    script = ("from domain.case import withhold_secret_text as w;"
              "print(w({'a': 'abcdefghij'}, [('abcdefgh', '[A]'), ('cdefghij', '[B]'), ('bcdefghi', '[C]')])['a'])")
    results = {subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                              env={**os.environ, "PYTHONHASHSEED": str(seed)}).stdout.strip() for seed in range(12)}
    assert results == {"[A]ij"}
