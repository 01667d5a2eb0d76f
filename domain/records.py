"""Requests for public documents (begäran om allmän handling, TF 2 kap., OSL 6 kap.).

Anyone may ask, without an account and without saying who they are (TF 2 kap. 18 §), for the
public version of a case's application or decision. The request is an action on the case, so
that it is registered with its time in the case's history and cannot be lost:

- if the secrecy review is done, the public version is released at once;
- if not, the request waits at the top of the officer's inbox (`CaseState.records_pending_since`)
  with the end of that day in Stockholm as its deadline, and the officer releases it once the
  review is done, or refuses it;
- a refusal, in whole or in part, is a written decision with reasons, legal ground and how to
  appeal to the administrative court of appeal (kammarrätten, OSL 6 kap. 8 §), sent as a letter.

A released document never contains a part the review ruled secret (`domain.case.public_version`).
Pure, like everything in domain/.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints

from domain.application import Email
from domain.case import (
    Action,
    ActionId,
    CaseState,
    PublicDocument,
    RecordsRefusal,
    RecordsRequest,
    RecordsStatus,
    SendLetter,
    Text,
    mask_personal_data,
    next_effect_id,
    note_event,
    public_version,
    save_document,
    secret_texts,
    withhold_secret_text,
)
from domain.clock import end_of_day, format_deadline_sv, format_instant_sv, stockholm_date
from domain.letters import RECORDS_APPEAL, LetterKind
from domain.text import Clean

# Who the public is in a case's history: the requester's name, if given, is personal data and stays
# out of the register.
PUBLIC_ACTOR_ID = "public"
# Requests waiting for an answer: enough for any case the press follows; bounds what a case carries
# from run to run. Each must be answered, so none is dropped: past this the registry takes them.
MAX_RECORDS_REQUESTS = 1000
# Answered requests kept in the case for their requesters to look up, the latest first to stay:
# every one is also an event in the register, and what was released a `public_release` document.
MAX_ANSWERED_RECORDS_REQUESTS = 200
# Distinct versions released (`CaseState.public_releases`): a new one comes only with a new secrecy
# review or a decision, so this is never reached; past it a version is registered again, not lost.
MAX_PUBLIC_RELEASES = 100

# Letters to the people who asked for a document, not to the applicant: never in the applicant's own views.
REQUESTER_LETTERS = frozenset({LetterKind.RECORDS_RELEASE.value, LetterKind.RECORDS_REFUSAL.value})

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300), Clean]

DOCUMENT_LABELS_SV = {PublicDocument.APPLICATION: "ansökan", PublicDocument.DECISION: "beslutet"}
STATUS_LABELS_SV = {
    RecordsStatus.PENDING: "väntar på handläggning",
    RecordsStatus.RELEASED: "utlämnad",
    RecordsStatus.REFUSED_IN_PART: "delvis avslagen (handlingen utlämnad med sekretessbelagda delar maskerade)",
    RecordsStatus.REFUSED: "avslagen",
    RecordsStatus.REFERRED: ("överlämnad till myndighetens registratur: ärendet avslutades innan begäran hann"
                             " besvaras, och registraturen besvarar den; kontakta den och ange diarienumret"),
}


class RequestPublicDocument(Action):
    """Someone asks for a public document of the case. The action id is the request's id."""

    document: PublicDocument
    # TF 2 kap. 18 §: both may be left out. An e-mail address lets a later answer be sent.
    requester_name: Name | None = None
    requester_email: Email | None = None


class ReleasePublicDocument(Action):
    """The officer releases the public version once the secrecy review is done."""

    request_id: ActionId


class RefusePublicDocument(Action):
    """The officer refuses the document in whole, or in part: released with the secret parts withheld."""

    request_id: ActionId
    in_part: bool = False
    reasons: Text
    legal_ground: Text = Field(description='The provision the refusal rests on, e.g. "OSL 30 kap. 23 §"')


RecordsAction = RequestPublicDocument | ReleasePublicDocument | RefusePublicDocument


def public_document(state: CaseState, document: PublicDocument) -> dict[str, object] | None:
    """The document as the public may see it; None when the case has no such document yet.

    The decision is released with the case's public particulars; any text the secrecy review
    withheld from the application is withheld from it too, should the decision repeat it.
    """
    if document is PublicDocument.APPLICATION:
        return public_version(state)
    if state.decision is None:
        return None
    decision: dict[str, object] = {
        "case_number": state.case_number,
        "call": state.call.title,
        "applicant": state.application.applicant.name,
        "project_title": state.application.project.title,
        "decision": state.decision.model_dump(mode="json"),
    }
    return mask_personal_data(withhold_secret_text(decision, secret_texts(state)))


def withheld_sections(state: CaseState) -> list[str]:
    """The parts of the application the secrecy review ruled secret."""
    return [r.section for r in (state.secrecy.rulings if state.secrecy else []) if r.secret]


def released(state: CaseState, request: RecordsRequest) -> dict[str, object] | None:
    """What the requester has been given: the public version, once released (or refused only in part)."""
    if request.status not in (RecordsStatus.RELEASED, RecordsStatus.REFUSED_IN_PART):
        return None
    return public_document(state, request.document)


def find_request(state: CaseState, request_id: str) -> RecordsRequest | None:
    return next((r for r in state.records_requests if r.request_id == request_id), None)


def refusal_records(state: CaseState, command: RecordsAction, now: datetime) -> str | None:
    """Why a records action cannot be taken now (role and stage already checked), in Swedish."""
    match command:
        case RequestPublicDocument(document=document):
            if find_request(state, command.action_id) is not None:  # registered before receipts were kept with it
                return f"Begäran {command.action_id} är redan registrerad i ärendet."
            if document is PublicDocument.DECISION and state.decision is None:
                return "Det finns inget beslut i ärendet än; begär ansökan eller fråga igen när beslut har fattats."
            # Only a request that will wait counts: one answered at once leaves nothing for the case to carry.
            if state.secrecy is None and sum(r.status is RecordsStatus.PENDING
                                             for r in state.records_requests) >= MAX_RECORDS_REQUESTS:
                return "Ärendet kan inte ta emot fler begäranden här; vänd dig till myndighetens registratur."
        case ReleasePublicDocument(request_id=request_id) | RefusePublicDocument(request_id=request_id):
            request = find_request(state, request_id)
            if request is None:
                return f"Det finns ingen begäran {request_id} i ärendet."
            whole = isinstance(command, RefusePublicDocument) and not command.in_part
            # Once released, what is left is a written decision on the parts withheld (OSL 6 kap. 7 §).
            in_part_after_release = not whole and isinstance(command, RefusePublicDocument) \
                and request.status is RecordsStatus.RELEASED
            if request.status is not RecordsStatus.PENDING and not in_part_after_release:
                return f"Begäran är redan besvarad: {STATUS_LABELS_SV[request.status]}."
            if not whole and state.secrecy is None:
                return "Sekretessprövningen ska vara gjord innan handlingen lämnas ut (record-secrecy-review)."
            if isinstance(command, RefusePublicDocument) and command.in_part and not withheld_sections(state):
                return "Sekretessprövningen har inte sekretessbelagt något avsnitt: lämna ut hela handlingen."
    return None


def apply_records(state: CaseState, command: RecordsAction, now: datetime) -> str:
    """Carry out an accepted records action; returns the receipt's message (the register's entry:
    never the requester's name or address)."""
    message = _apply_records(state, command, now)
    _forget_oldest_answered(state)
    return message


def _forget_oldest_answered(state: CaseState) -> None:
    """Keep every pending request and the latest answered ones: anyone may ask, so what the case carries
    must not grow with every request answered at once."""
    answered = [r for r in state.records_requests if r.status is not RecordsStatus.PENDING]
    if len(answered) > MAX_ANSWERED_RECORDS_REQUESTS:
        forget = {id(r) for r in answered[:len(answered) - MAX_ANSWERED_RECORDS_REQUESTS]}
        state.records_requests = [r for r in state.records_requests if id(r) not in forget]


def records_request_deadline(requested_at: datetime) -> datetime:
    """When a request that came in at `requested_at` is overdue: the end of that day in Stockholm
    (the same-day target; the one rule for the case's timer and the officers' inbox)."""
    return end_of_day(stockholm_date(requested_at))


def _apply_records(state: CaseState, command: RecordsAction, now: datetime) -> str:
    match command:
        case RequestPublicDocument(document=document):
            request = RecordsRequest(
                request_id=command.action_id, document=document, requested_at=now,
                deadline=records_request_deadline(now), requester_name=command.requester_name,
                requester_email=command.requester_email,
            )
            state.records_requests.append(request)
            what = f"Begäran om allmän handling ({DOCUMENT_LABELS_SV[document]}) registrerad som {request.request_id}"
            if state.secrecy is not None:
                _release(state, request, "system", now)
                return f"{what}; handlingen lämnades ut direkt enligt sekretessprövningen."
            return (f"{what}; sekretessprövningen är inte gjord. Begäran ska besvaras senast"
                    f" {format_deadline_sv(request.deadline)}.")
        case ReleasePublicDocument(request_id=request_id):
            found = find_request(state, request_id)
            assert found is not None
            _release(state, found, command.actor.id, now, letter=True)
            return f"Begäran {request_id} besvarad: handlingen lämnades ut enligt sekretessprövningen."
        case RefusePublicDocument(request_id=request_id, in_part=in_part):
            found = find_request(state, request_id)
            assert found is not None
            request = found
            withheld = withheld_sections(state) if in_part else []
            request.refusal = RecordsRefusal(refused_by=command.actor.id, refused_at=now, in_part=in_part,
                                             withheld=withheld, reasons=command.reasons,
                                             legal_ground=command.legal_ground)
            label = DOCUMENT_LABELS_SV[request.document]
            if in_part:
                if request.status is RecordsStatus.PENDING:
                    _release(state, request, command.actor.id, now, letter=True)
                request.status = RecordsStatus.REFUSED_IN_PART
                what = f"lämna ut {label} utom följande delar, som omfattas av sekretess: {', '.join(withheld)}"
            else:
                request.status = RecordsStatus.REFUSED
                request.answered_at, request.answered_by = now, command.actor.id
                what = f"avslå begäran om att få ta del av {label}"
            _queue_letter(state, request, LetterKind.RECORDS_REFUSAL, now, what=what, reasons=command.reasons,
                          legal_ground=command.legal_ground, appeal=RECORDS_APPEAL,
                          decided_by=f"handläggare {command.actor.id}", decision_date=format_instant_sv(now))
            return (f"Begäran {request_id} {'delvis ' if in_part else ''}avslagen ({command.legal_ground});"
                    " beslut med överklagandehänvisning skickat.")
    raise AssertionError(f"unhandled command {type(command).__name__}")


def deadline_passed_records(state: CaseState, now: datetime) -> None:
    """A request not answered the day it came in: recorded, so that the officer and operations see it."""
    for request in state.records_requests:
        if request.status is RecordsStatus.PENDING and not request.overdue and now >= request.deadline:
            request.overdue = True
            note_event(state, now, "system", "system", "records_request_overdue",
                       f"Begäran om allmän handling {request.request_id} besvarades inte samma dag.")


def document_text(document: object, path: str = "") -> str:
    """A released document as lines of `path: value`, for a letter."""
    if isinstance(document, dict):
        return "\n".join(line for key, value in document.items()
                         if (line := document_text(value, f"{path}.{key}" if path else str(key))))
    if isinstance(document, list):
        return "\n".join(line for i, value in enumerate(document) if (line := document_text(value, f"{path}[{i}]")))
    if document is None or document == "":
        return ""
    value = {True: "ja", False: "nej"}.get(document, document) if isinstance(document, bool) else document
    return f"{path}: {value}"


def _release(state: CaseState, request: RecordsRequest, by: str, now: datetime, *, letter: bool = False) -> None:
    """Release the public version; `letter`: also send it, where the requester gave an address (an answer
    given at once is in the requester's hands already)."""
    request.status = RecordsStatus.RELEASED
    request.answered_at, request.answered_by = now, by
    document = released(state, request)
    assert document is not None
    # What was given out, as it was, for auditors: a document of the case like any other, registered
    # once per distinct version (by a hash of its content), however many ask for it.
    request.release_id = release_id(document)
    if request.release_id not in state.public_releases:
        state.public_releases = [*state.public_releases, request.release_id][-MAX_PUBLIC_RELEASES:]
        save_document(state, request.release_id, "public_release",
                      f"Utlämnad allmän handling: {DOCUMENT_LABELS_SV[request.document]}", now, document)
    if letter and request.requester_email is not None:
        _queue_letter(state, request, LetterKind.RECORDS_RELEASE, now, content=document_text(document),
                      secrecy_note=secrecy_note(state))


def release_id(document: dict[str, object]) -> str:
    """The id of a released version's document: the same content, the same id."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return f"public-release-{hashlib.sha256(canonical.encode('utf-8')).hexdigest()[:32]}"


def secrecy_note(state: CaseState) -> str:
    sections = withheld_sections(state)
    if not sections:
        return "Inga delar av handlingen omfattas av sekretess."
    return (f"Följande delar omfattas av sekretess och har maskerats: {', '.join(sections)}. Vill du ha ett"
            " skriftligt beslut om de maskerade delarna, som du kan överklaga, så hör av dig till oss"
            " (6 kap. 7 § offentlighets- och sekretesslagen).")


def _queue_letter(state: CaseState, request: RecordsRequest, letter: LetterKind, at: datetime, **context: str) -> None:
    """A letter to the requester: by e-mail when they gave an address, else kept on file in the outbox."""
    base = {
        "case_number": state.case_number,
        "project_title": state.application.project.title,
        "agency": state.call.agency,
        "request_id": request.request_id,
        "document": DOCUMENT_LABELS_SV[request.document],
        "requested_at": format_instant_sv(request.requested_at),
    }
    state.outbox.append(SendLetter(
        letter_id=next_effect_id(state, letter.value), letter=letter.value, context=base | context,
        recipient_name=request.requester_name or "Den som begärt ut handlingen",
        recipient_email=request.requester_email,
    ))


__all__ = ["RefusePublicDocument", "ReleasePublicDocument", "RequestPublicDocument", "apply_records",
           "find_request", "public_document", "refusal_records"]
