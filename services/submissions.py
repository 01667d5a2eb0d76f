"""An applicant's submission through the e-service (the API): the form, its files and a retry key.

The form is read and checked as `grantflow submit` reads it (services.applications), and an
ineligible application is registered all the same, with its findings: the officer decides. What
is added here is what an e-service must make sure of before the case opens: that the applicant
applies for their own organisation, that each file sent is the one the form names by its
SHA-256, and that a submission sent again (the client lost the answer) gives the same case.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from datetime import datetime

from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel
from temporalio.client import Client

from activities.attachments import (
    AttachmentFile,
    StoredAttachment,
    attachment_content,
    case_attachments,
    claim_submission,
    store_attachments,
)
from activities.register import find_case
from domain.application import Application
from domain.findings import Verdict
from domain.identity import identity_key
from infra.calls import CallCatalog
from infra.errors import InputError, InputProblem
from services import cases
from services.applications import read_application
from services.inputs import IDEMPOTENCY_KEY_PATTERN, keyed_id

IDEMPOTENCY_HEADER = "Idempotency-Key"
_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN, re.ASCII)


class NotOwnOrganisation(InputError):
    """The form's applicant is another organisation than the one the person signed in for."""


@dataclass(frozen=True)
class UploadedFile:
    filename: str
    media_type: str | None
    content: bytes


class AttachmentReceived(BaseModel):
    name: str
    sha256: str
    size: int


class Submitted(BaseModel):
    case_number: str
    received_at: datetime
    verdict: Verdict
    attachments: list[AttachmentReceived]


def check_own_organisation(application: Application, org_number: str | None) -> None:
    """An applicant applies for the organisation they signed in for, however the number is written."""
    written = application.applicant.org_number
    if org_number is None or identity_key(written) != identity_key(org_number):
        raise NotOwnOrganisation.one(
            "$.applicant.org_number",
            f"{written!r} är inte organisationen du är inloggad för"
            + (f" ({org_number})" if org_number else "") + "; du kan bara söka för din egen organisation",
        )


def submission_id(org_number: str, key: str | None) -> str:
    """The submission's id: from the client's retry key, kept apart per organisation, or a new one.

    Hashed, so that one organisation's key can never reach another's submission and no
    organisation (or personnummer) number ends up in a workflow id.
    """
    if key is None:
        return uuid.uuid4().hex
    if _KEY.fullmatch(key) is None:
        raise InputError.one(IDEMPOTENCY_HEADER, "ska vara 1–200 synliga ASCII-tecken utan mellanslag, t.ex. ett UUID")
    return keyed_id(identity_key(org_number), key)


def match_files(application: Application, files: list[UploadedFile]) -> list[AttachmentFile]:
    """Each file paired with the attachment of its name in the form, and its SHA-256 checked.

    Every attachment the form names needs its file, and every file its attachment; when two
    attachments share a name, the file goes to the one whose hash it has.
    """
    declared = application.attachments
    problems: list[InputProblem] = []
    matched: dict[int, tuple[UploadedFile, str]] = {}
    for file in files:
        digest = hashlib.sha256(file.content).hexdigest()
        candidates = [i for i, a in enumerate(declared) if a.name == file.filename and i not in matched]
        if not candidates:
            problems.append(InputProblem(
                field="$.attachments",
                reason=f"filen {file.filename!r} finns inte bland ansökans bilagor; ange den där med namn och SHA-256"))
            continue
        position = next((i for i in candidates if declared[i].sha256.lower() == digest), candidates[0])
        matched[position] = (file, digest)
        if declared[position].sha256.lower() != digest:
            problems.append(InputProblem(
                field=f"$.attachments[{position}].sha256",
                reason=f"filen {file.filename!r} har SHA-256 {digest}, inte {declared[position].sha256.lower()} "
                       "som ansökan anger; filen har ändrats eller fel fil skickades"))
    for position, attachment in enumerate(declared):
        if position not in matched:
            problems.append(InputProblem(field=f"$.attachments[{position}]",
                                         reason=f"filen {attachment.name!r} saknas i begäran"))
    if problems:
        raise InputError(problems)
    return [AttachmentFile(position=i, name=declared[i].name, kind=declared[i].kind.value, sha256=digest,
                           media_type=file.media_type, content=file.content)
            for i, (file, digest) in sorted(matched.items())]


async def submit_application(
    client: Client,
    pool: AsyncConnectionPool,
    catalog: CallCatalog,
    raw: bytes,
    *,
    task_queue: str,
    org_number: str | None,
    idempotency_key: str | None = None,
    files: list[UploadedFile] | None = None,
) -> Submitted:
    """Register an applicant's application and start its case; `files` when it came with its attachments.

    The files are stored before the case opens (keyed by the submission), so that no case names
    a file the register does not have.
    """
    application = read_application(raw)
    check_own_organisation(application, org_number)
    assert org_number is not None
    catalog.get(application.call_id)  # an unknown call is said before any file is stored
    stored = match_files(application, files) if files is not None else []
    submission = submission_id(org_number, idempotency_key)
    # The same key must say the same: the form as read (not as written: spacing and key order do not
    # count), which names every file by its hash. So the files kept under the key are this form's.
    said = hashlib.sha256(application.model_dump_json().encode()).hexdigest()
    if await claim_submission(pool, submission, said) != said:
        raise InputError.one(IDEMPOTENCY_HEADER, "nyckeln har redan använts för en annan ansökan; "
                             "använd en ny nyckel för en ny ansökan")
    await store_attachments(pool, submission, stored)
    intake = await cases.submit(client, catalog, raw, task_queue=task_queue, submission_id=submission)
    row = await find_case(pool, intake.case_number)
    assert row is not None, "the intake registers the case before it answers"
    return Submitted(case_number=intake.case_number, received_at=row.received_at, verdict=intake.verdict,
                     attachments=[AttachmentReceived(name=f.name, sha256=f.sha256, size=len(f.content))
                                  for f in stored])


# What a browser may show of an attachment itself; anything else is only downloaded.
_SHOWN = frozenset({"application/pdf", "image/png", "image/jpeg"})


class AttachmentFileOut(BaseModel):
    name: str
    media_type: str  # as served: the sender's own only when it is one a browser may show
    content: bytes


async def attachments(pool: AsyncConnectionPool, case_number: str) -> list[StoredAttachment]:
    """What was sent with the case's application (without the bytes), in the form's order."""
    return await case_attachments(pool, case_number)


async def attachment(pool: AsyncConnectionPool, case_number: str, position: int) -> AttachmentFileOut | None:
    """One attachment of the case as it was sent; None when the case has no attachment there."""
    stored = {a.position: a for a in await case_attachments(pool, case_number)}.get(position)
    content = await attachment_content(pool, case_number, position) if stored is not None else None
    if stored is None or content is None:
        return None
    media_type = stored.media_type if stored.media_type in _SHOWN else "application/octet-stream"
    return AttachmentFileOut(name=stored.name, media_type=media_type, content=content)


__all__ = [
    "IDEMPOTENCY_HEADER",
    "AttachmentFileOut",
    "NotOwnOrganisation",
    "StoredAttachment",
    "Submitted",
    "UploadedFile",
    "attachment",
    "attachments",
    "check_own_organisation",
    "match_files",
    "submission_id",
    "submit_application",
]
