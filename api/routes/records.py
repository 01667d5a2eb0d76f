"""Requests for public documents (TF 2 kap., OSL 6 kap.): anyone, without signing in, asks for the
public version of a case's application or decision, and follows the request by its id; an officer
releases or refuses one that could not be answered at once.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from api.access import CaseNumberPath
from api.app import Ctx
from api.problems import PROBLEM_RESPONSES, Problem, problem_answer, problem_response
from domain.application import Email
from domain.case import ActionId, CaseNumber, PublicDocument, Text
from domain.records import Name
from services import records
from services.cases import CaseNotFound

router = APIRouter(tags=["public records"], responses=PROBLEM_RESPONSES)

# Anyone may use these routes without signing in, and each request is an action on a case: a simple
# limit per client address keeps one client from flooding the cases (the case bounds what it keeps too).
REQUESTS_PER_MINUTE = 30
_LIMITED: dict[int | str, dict[str, Any]] = {429: problem_answer(
    f"Too many requests from this address (at most {REQUESTS_PER_MINUTE} a minute); Retry-After says when to try "
    "again")}


class RateLimit:
    """A token bucket per client address, in this process: `per_minute` requests a minute, as a burst or
    spread out. Addresses not seen for a while are forgotten, so the table stays small."""

    def __init__(self, per_minute: int = REQUESTS_PER_MINUTE, *, max_clients: int = 10_000) -> None:
        self.per_minute, self.max_clients = per_minute, max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # client -> (tokens, when)

    def wait(self, client: str, now: float | None = None) -> float:
        """Take a token for `client`: 0 when it may go ahead, else the seconds until it may."""
        now = time.monotonic() if now is None else now
        rate = self.per_minute / 60
        tokens, then = self._buckets.pop(client, (float(self.per_minute), now))
        tokens = min(float(self.per_minute), tokens + (now - then) * rate)
        wait = 0.0 if tokens >= 1 else (1 - tokens) / rate
        self._buckets[client] = (tokens - 1 if wait == 0 else tokens, now)
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        return wait


def too_many(request: Request) -> JSONResponse | None:
    """The 429 answer when this client has used up its requests; None when it may go ahead."""
    limit = getattr(request.app.state, "records_rate_limit", None)
    if limit is None:
        limit = request.app.state.records_rate_limit = RateLimit()
    wait = limit.wait(request.client.host if request.client else "unknown")
    if wait == 0:
        return None
    seconds = max(1, math.ceil(wait))
    return problem_response(
        Problem(title="Too many requests", status=429,
                detail=f"För många begäranden från din adress (högst {limit.per_minute} i minuten). Försök igen om"
                       f" {seconds} sekunder."),
        {"Retry-After": str(seconds)})


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


@router.post("/records-requests", status_code=201, summary="Ask for a public document (no sign-in)",
             response_model=records.RecordsAnswer, responses=_LIMITED)
async def request_public_document(body: RecordsRequestBody, ctx: Ctx,
                                  request: Request) -> records.RecordsAnswer | JSONResponse:
    """Registered in the case with its time. Released at once when the case's secrecy review is done,
    otherwise answered by an officer, the same day if possible; follow it at the address below.
    At most a number of requests a minute from one address (429 with Retry-After)."""
    if (refused := too_many(request)) is not None:
        return refused
    return await records.request(ctx.client, body.case_number, body.document.value,
                                 requester_name=body.requester_name, requester_email=body.requester_email)


@router.get("/records-requests/{case_number}/{request_id}", summary="Where a request stands (no sign-in)",
            response_model=records.RecordsAnswer, responses=_LIMITED)
async def records_request(case_number: CaseNumberPath, request_id: RequestId, ctx: Ctx,
                          request: Request) -> records.RecordsAnswer | JSONResponse:
    if (refused := too_many(request)) is not None:
        return refused
    return await records.status(ctx.client, case_number, _request_id(request_id))


def _request_id(request_id: str) -> str:
    # Any id the case could not have given is simply not found, as an unknown one is.
    try:
        return _REQUEST_ID.validate_python(request_id)
    except ValidationError:
        raise CaseNotFound.one("request_id", "ingen sådan begäran") from None
