"""Applicants: submit an application (with its attachments), and follow their own organisation's cases.

What they do in a case afterwards (completions, replies, payment requests, the final report,
withdrawal) are the case's actions, at `POST /cases/{number}/actions/{action}`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request
from pydantic import BaseModel
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.app import Ctx
from api.auth import ApiRole, Principal, allowed
from api.problems import ProblemError, problem_answer
from domain.findings import Finding
from infra.errors import InputError, InputProblem
from services.applicants import ApplicantCase, organisation_cases_with_letters
from services.applications import MAX_APPLICATION_BYTES
from services.submissions import (
    IDEMPOTENCY_HEADER,
    AttachmentReceived,
    NotOwnOrganisation,
    UploadedFile,
    submit_application,
)

router = APIRouter(tags=["applicants"])

Applicant = Annotated[Principal, Depends(allowed(ApiRole.APPLICANT))]

APPLICATION_PART = "application"
MAX_FILES = 200  # as many as the form may name


class SubmissionReceipt(BaseModel):
    """What the applicant is told at once (FL 22 §: received is when it reached the agency's system)."""

    case_number: str
    received_at: datetime
    eligible: bool  # no finding of the kind that makes the application ineligible as it stands
    findings: list[Finding]  # in Swedish; an ineligible application is registered all the same
    attachments: list[AttachmentReceived]


_REQUEST_BODY = {
    "required": True,
    "description": "The application form as JSON, or multipart/form-data with the form in a part named "
                   "`application` and each attachment as a file whose name and SHA-256 the form gives.",
    "content": {
        "application/json": {"schema": {"type": "object", "description": "The application form (see examples/)"}},
        "multipart/form-data": {"schema": {
            "type": "object", "required": [APPLICATION_PART],
            "properties": {APPLICATION_PART: {"type": "string", "description": "The application form (JSON)"},
                           "files": {"type": "array", "items": {"type": "string", "format": "binary"}}},
        }},
    },
}


async def _multipart(request: Request) -> tuple[bytes, list[UploadedFile]]:
    try:
        async with request.form(max_files=MAX_FILES, max_fields=10, max_part_size=MAX_APPLICATION_BYTES) as form:
            application: bytes | None = None
            files: list[UploadedFile] = []
            problems: list[InputProblem] = []
            for name, value in form.multi_items():
                if name == APPLICATION_PART:
                    if application is not None:
                        problems.append(InputProblem(field=name, reason="får bara finnas en gång"))
                    application = (await value.read()) if isinstance(value, UploadFile) else value.encode()
                elif isinstance(value, UploadFile):
                    files.append(UploadedFile(filename=value.filename or "", media_type=value.content_type,
                                              content=await value.read()))
                else:
                    problems.append(InputProblem(field=name, reason=f"okänd del; skicka ansökan i delen "
                                                 f"{APPLICATION_PART!r} och bilagorna som filer"))
    except StarletteHTTPException as exc:
        raise InputError.one("multipart/form-data", f"delarna kan inte läsas ({exc.detail})") from None
    if application is None:
        problems.append(InputProblem(field=APPLICATION_PART, reason="saknas; ansökan skickas som JSON i den delen"))
    if problems:
        raise InputError(problems)
    assert application is not None
    return application, files


@router.post("/applications", status_code=201, summary="Submit an application, with or without its attachments",
             openapi_extra={"requestBody": _REQUEST_BODY},
             responses={415: problem_answer("Neither JSON nor multipart/form-data")})
async def submit(
    request: Request,
    ctx: Ctx,
    principal: Applicant,
    idempotency_key: Annotated[str | None, Header(alias=IDEMPOTENCY_HEADER, description=(
        "The client's key for this submission: sending it again returns the same case, never a second one"))] = None,
) -> SubmissionReceipt:
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    files: list[UploadedFile] | None = None
    if media_type == "multipart/form-data":
        raw, files = await _multipart(request)
    elif media_type in ("application/json", ""):
        raw = await request.body()
    else:
        raise ProblemError(415, "Unsupported media type", "Skicka ansökan som application/json, eller som "
                           "multipart/form-data med bilagorna.",
                           [InputProblem(field="Content-Type", reason=f"{media_type!r} stöds inte")])
    try:
        submitted = await submit_application(
            ctx.client, ctx.pool, ctx.catalog, raw, task_queue=ctx.settings.task_queue,
            org_number=principal.org_number, idempotency_key=idempotency_key, files=files)
    except NotOwnOrganisation as exc:
        raise ProblemError(403, "Not the applicant's organisation", str(exc), exc.problems) from None
    return SubmissionReceipt(case_number=submitted.case_number, received_at=submitted.received_at,
                             eligible=submitted.verdict.eligible, findings=submitted.verdict.findings,
                             attachments=submitted.attachments)


@router.get("/my/cases", summary="The cases of the signed-in applicant's organisation")
async def my_cases(ctx: Ctx, principal: Applicant) -> list[ApplicantCase]:
    return await organisation_cases_with_letters(ctx.pool, principal.org_number)
