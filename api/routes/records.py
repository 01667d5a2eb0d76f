"""Requests for public documents (TF 2 kap., OSL 6 kap.): anyone, without signing in, asks for the
public version of a case's application or decision, and follows the request by its id; an officer
releases or refuses one that could not be answered at once.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from api.app import Ctx
from api.auth import ApiRole, Principal, allowed
from api.problems import PROBLEM_RESPONSES
from domain.application import Email
from domain.case import ActionId, CaseNumber, PublicDocument, Text
from domain.records import Name
from services import records
from services.cases import CaseNotFound, check_case_number

router = APIRouter(tags=["public records"], responses=PROBLEM_RESPONSES)


class RecordsRequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    case_number: CaseNumber = Field(description="Diarienummer, ÅÅÅÅ-NNNNN")
    document: PublicDocument = Field(description="The application or the decision")
    # TF 2 kap. 18 §: the requester need not say who they are. An address lets a later answer reach them.
    requester_name: Name | None = None
    requester_email: Email | None = None


class RefusalBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    in_part: bool = Field(False, description="Released with the parts the secrecy review ruled secret withheld")
    reasons: Text = Field(description="The reasons, in Swedish, as the requester will read them")
    legal_ground: Text = Field(description='e.g. "OSL 30 kap. 23 §"')


_REQUEST_ID: TypeAdapter[str] = TypeAdapter(ActionId)
RequestId = Annotated[str, Path(description="The request's id, as the answer to the request gave it")]
Officer = Annotated[Principal, Depends(allowed(ApiRole.OFFICER))]


@router.post("/records-requests", status_code=201, summary="Ask for a public document (no sign-in)")
async def request_public_document(body: RecordsRequestBody, ctx: Ctx) -> records.RecordsAnswer:
    """Registered in the case with its time. Released at once when the case's secrecy review is done,
    otherwise answered by an officer, the same day if possible; follow it at the address below."""
    return await records.request(ctx.client, body.case_number, body.document.value,
                                 requester_name=body.requester_name, requester_email=body.requester_email)


@router.get("/records-requests/{case_number}/{request_id}", summary="Where a request stands (no sign-in)")
async def records_request(case_number: str, request_id: RequestId, ctx: Ctx) -> records.RecordsAnswer:
    return await records.status(ctx.client, case_number, _request_id(request_id))


def _case(case_number: str) -> None:
    check_case_number(case_number, "case_number")


def _request_id(request_id: str) -> str:
    # Any id the case could not have given is simply not found, as an unknown one is.
    try:
        return _REQUEST_ID.validate_python(request_id)
    except ValidationError:
        raise CaseNotFound.one("request_id", "ingen sådan begäran") from None
