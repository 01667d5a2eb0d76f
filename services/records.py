"""Requests for public documents: anyone asks, the case registers and answers (domain.records).

A request is an action on the case, taken as the public (`Role.PUBLIC`), so it lands in the
case's history with its time and cannot be lost. What the requester sees of it (`RecordsAnswer`)
never holds their own name or address, nor anything the secrecy review withheld.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from temporalio.client import Client

from domain.case import PublicDocument, RecordsRequest, RecordsStatus, Role
from domain.letters import RECORDS_APPEAL
from domain.lifecycle import Stage
from domain.records import (
    PUBLIC_ACTOR_ID,
    STATUS_LABELS_SV,
    find_request,
    released,
    secrecy_note,
    withheld_sections,
)
from services import cases

CLOSED_CASE = ("Ärendet är avslutat och arkiverat. En begäran om allmän handling i ett avslutat ärende prövas av"
               " myndighetens registratur; kontakta den och ange diarienumret.")


class RecordsRefusalView(BaseModel):
    in_part: bool
    withheld: list[str]
    reasons: str
    legal_ground: str
    decided_at: datetime
    appeal: str  # Swedish: kammarrätten, within three weeks


class RecordsAnswer(BaseModel):
    """Where a request stands, as the requester may see it."""

    case_number: str
    request_id: str
    document: PublicDocument
    status: RecordsStatus
    status_text: str  # Swedish
    requested_at: datetime
    deadline: datetime  # the end of the day it came in (Stockholm): the target for an answer
    answered_at: datetime | None
    public_version: dict[str, Any] | None  # the document as released; None until then
    secrecy_note: str | None  # Swedish: which parts were withheld, and the right to a written decision
    refusal: RecordsRefusalView | None


async def request(client: Client, case_number: str, document: str, *, requester_name: str | None = None,
                  requester_email: str | None = None) -> RecordsAnswer:
    """Register a request in the case; the answer has the document when it could be released at once."""
    cases.check_case_number(case_number, "case_number")
    payload: dict[str, Any] = {"document": document}
    if requester_name is not None:
        payload["requester_name"] = requester_name
    if requester_email is not None:
        payload["requester_email"] = requester_email
    command = cases.build_command("request-public-document", {"id": PUBLIC_ACTOR_ID, "role": Role.PUBLIC.value},
                                  payload, uuid.uuid4().hex)
    try:
        await cases.act(client, case_number, "request-public-document", command)
    except cases.ActionRefused:
        if (await cases.case_state(client, case_number)).stage is Stage.CLOSED:
            # Its workflow has ended (docs/decisions/0024-records-requests-in-the-case.md).
            raise cases.ActionRefused(CLOSED_CASE) from None
        raise
    return await status(client, case_number, command.action_id)


async def status(client: Client, case_number: str, request_id: str) -> RecordsAnswer:
    """Where a request stands; CaseNotFound for a case or a request that does not exist."""
    cases.check_case_number(case_number, "case_number")
    state = await cases.case_state(client, case_number)
    found = find_request(state, request_id)
    if found is None:
        raise cases.CaseNotFound.one("request_id", f"det finns ingen begäran {request_id!r} i ärendet")
    document = released(state, found)
    return RecordsAnswer(
        case_number=state.case_number, request_id=found.request_id, document=found.document, status=found.status,
        status_text=STATUS_LABELS_SV[found.status], requested_at=found.requested_at, deadline=found.deadline,
        answered_at=found.answered_at, public_version=document,
        secrecy_note=secrecy_note(state) if document is not None and withheld_sections(state) else None,
        refusal=_refusal(found),
    )


def _refusal(request: RecordsRequest) -> RecordsRefusalView | None:
    refusal = request.refusal
    if refusal is None:
        return None
    return RecordsRefusalView(in_part=refusal.in_part, withheld=refusal.withheld, reasons=refusal.reasons,
                              legal_ground=refusal.legal_ground, decided_at=refusal.refused_at, appeal=RECORDS_APPEAL)
