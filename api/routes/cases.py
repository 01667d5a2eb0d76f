"""Reading a case: the whole case for staff, the applicant's view of their own, and the history.

The views are built in `services.case_view`; here they are only addressed and guarded. Showing staff
the whole case shows the parts the applicant marked as business secrets, and that reading is logged.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Response
from fastapi import Path as FastApiPath
from pydantic import Field

from api.access import VisibleCaseNumber
from api.app import Ctx
from api.auth import READERS, ApiRole, Principal, allowed
from api.problems import PROBLEM_RESPONSES, not_found
from domain.case import Role
from services import audit_history, case_view, submissions
from services.audit_history import Story
from services.case_view import ApplicantCaseView, CaseHistory, StaffCaseView
from services.submissions import StoredAttachment

router = APIRouter(tags=["cases"])

CaseView = Annotated[StaffCaseView | ApplicantCaseView, Field(discriminator="view")]


@router.get("/cases/{case_number}", response_model=CaseView, responses=PROBLEM_RESPONSES,
            summary="The case: all of it for staff, the applicant's view for the applicant")
async def read_case(ctx: Ctx, principal: Annotated[Principal, Depends(allowed(*READERS, ApiRole.APPLICANT))],
                    case_number: VisibleCaseNumber,
                    secret_parts: Annotated[bool, Query(description=(
                        "false: staff get the case without what its secret-marked parts could tell (no "
                        "application, no marked section's content or reason), and no reading is logged"))] = True,
                    ) -> StaffCaseView | ApplicantCaseView:
    """Staff (officers, decision makers, finance, auditors, administrators) get the whole case: the application
    with the sections the applicant marked secret (each reading of them is logged), findings with the call's
    rule text, documents, letters, payments, claim, history and deadlines. An applicant gets their own case's
    stage, deadlines, letters, decision and payments."""
    if principal.role is ApiRole.APPLICANT:
        return await case_view.applicant_view(ctx.client, ctx.pool, case_number)
    return await case_view.staff_view(ctx.client, ctx.pool, ctx.catalog, case_number, principal.id,
                                      Role(principal.role.value), secret_parts=secret_parts)


@router.get("/cases/{case_number}/history", response_model=CaseHistory, responses=PROBLEM_RESPONSES,
            summary="The case's register events; for auditors and administrators also who read its secret parts")
async def read_history(ctx: Ctx, principal: Annotated[Principal, Depends(allowed(*READERS))],
                       case_number: VisibleCaseNumber) -> CaseHistory:
    return await case_view.case_history(ctx.pool, case_number, Role(principal.role.value))


@router.get("/cases/{case_number}/story", response_model=Story, responses=PROBLEM_RESPONSES,
            summary="The story of a case for auditors: every step from the recorded history and the register, "
                    "where they disagree marked")
async def read_story(ctx: Ctx,
                     principal: Annotated[Principal, Depends(allowed(ApiRole.AUDITOR, ApiRole.ADMINISTRATOR))],
                     case_number: VisibleCaseNumber) -> Story:
    """What `grantflow audit history NUMBER --format json` prints: read from Temporal while the case is there, from
    the archive after retention has removed it (`source` says which)."""
    return await audit_history.story(ctx.client, ctx.pool, case_number)


@router.get("/cases/{case_number}/attachments", responses=PROBLEM_RESPONSES,
            summary="The files sent with the application: name, kind, SHA-256, size")
async def list_attachments(ctx: Ctx, principal: Annotated[Principal, Depends(allowed(*READERS, ApiRole.APPLICANT))],
                           case_number: VisibleCaseNumber) -> list[StoredAttachment]:
    return await submissions.attachments(ctx.pool, case_number)


@router.get("/cases/{case_number}/attachments/{position}", response_class=Response,
            responses={**PROBLEM_RESPONSES, 200: {"content": {"application/octet-stream": {}}}},
            summary="One file sent with the application, as it came (its place in the form's attachments)")
async def download_attachment(ctx: Ctx,
                              principal: Annotated[Principal, Depends(allowed(*READERS, ApiRole.APPLICANT))],
                              case_number: VisibleCaseNumber,
                              position: Annotated[int, FastApiPath(ge=0, le=199)]) -> Response:
    found = await submissions.attachment(ctx.pool, case_number, position)
    if found is None:
        raise not_found("Ärendet har ingen sådan bilaga.")
    # Downloaded, never shown in place, and never sniffed into something a browser would run.
    disposition = f"attachment; filename*=UTF-8''{quote(found.name)}"
    return Response(found.content, media_type=found.media_type,
                    headers={"Content-Disposition": disposition, "X-Content-Type-Options": "nosniff"})
