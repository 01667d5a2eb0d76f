"""Calls for staff: what came in against the budget, the ranking with its scores, what was granted and paid."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path

from api.app import Ctx
from api.auth import READERS, Principal, allowed
from api.problems import not_found
from services.calls_overview import CallOverview, CallSummary, overview, summaries

router = APIRouter(tags=["calls"])

Staff = Annotated[Principal, Depends(allowed(*READERS))]


@router.get("/calls", summary="Every call: applications, amounts applied for, granted and paid against the budget")
async def list_calls(ctx: Ctx, _: Staff) -> list[CallSummary]:
    return await summaries(ctx.pool, ctx.catalog, now=datetime.now(UTC))


@router.get("/calls/{call_id}", summary="One call, with the ranking of its assessed cases and their scores")
async def show_call(ctx: Ctx, _: Staff, call_id: Annotated[str, Path(max_length=100)]) -> CallOverview:
    if call_id not in ctx.catalog.calls:
        raise not_found(f"Det finns ingen utlysning {call_id!r}.")
    return await overview(ctx.client, ctx.pool, ctx.catalog, call_id, now=datetime.now(UTC))
