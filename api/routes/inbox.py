"""The officers' inbox: `GET /inbox`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from api.app import Ctx
from api.auth import ApiRole, Principal, allowed
from services.inbox import InboxPage, InboxQuery, read_inbox

router = APIRouter(tags=["inbox"])

# Staff who work with or read cases; not applicants, and not operations (who watch Temporal).
Reader = Annotated[Principal, Depends(allowed(ApiRole.OFFICER, ApiRole.DECISION_MAKER, ApiRole.FINANCE,
                                              ApiRole.AUDITOR, ApiRole.ADMINISTRATOR))]

ME = "me"


@router.get("/inbox", summary="Cases that need attention, filtered, nearest deadline first",
            response_model=InboxPage)
async def get_inbox(ctx: Ctx, principal: Reader, query: Annotated[InboxQuery, Query()]) -> Response:
    """Cases with a waiting public-records request first, then by nearest deadline (passed ones
    first); `officer=me` for the signed-in officer's own, `team=mine` for theirs and their teams'
    (`team=NAME` for one team's). Counts per stage follow every filter but `stage`. Page on with
    `cursor=<next_cursor>`."""
    if query.officer == ME:
        query = query.model_copy(update={"officer": principal.id})
    page = await read_inbox(ctx.pool, query, ctx.clock(), principal.id)
    # Serialized here, once: given the model, FastAPI would dump it, validate the dump against
    # InboxPage again and then serialize it, a few milliseconds for a page of 200.
    return Response(page.model_dump_json(), media_type="application/json")
