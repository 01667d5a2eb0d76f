"""The call's checks, run as an activity: they read the form rules from the installed files."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from temporalio import activity

from domain.application import Application
from domain.call import SharedCall
from domain.findings import Verdict
from domain.validation import validate
from infra.calls import default_catalog


class CheckRequest(BaseModel):
    # The call travels with the request so that the history shows which rules were applied.
    call: SharedCall
    application: Application
    received_at: datetime


@activity.defn
async def check_application(request: CheckRequest) -> Verdict:
    return validate(request.call, default_catalog().form, request.application, request.received_at)
