"""State aid to the companies projects reach: a company's de minimis record, and a call's aid as CSV."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from api.app import Ctx
from api.auth import READERS, Principal, allowed
from api.problems import not_found, problem_answer
from infra.errors import InputError
from services import state_aid
from services.state_aid import CompanyRecord

router = APIRouter(tags=["state aid"])

Staff = Annotated[Principal, Depends(allowed(*READERS))]
CSV = "text/csv; charset=utf-8"


@router.get("/state-aid/{org_number}", summary="A company's de minimis aid through every case, oldest first")
async def company_record(ctx: Ctx, _: Staff, org_number: Annotated[str, Path(max_length=20)]) -> CompanyRecord:
    return await state_aid.company_record_with(ctx.pool, org_number, "org_number")


@router.get("/calls/{call_id}/state-aid.csv", summary="Every de minimis aid of a call, for the state-aid register",
            response_class=Response, responses={200: {"content": {CSV: {}}, "description": "One row per aid"},
                                                404: problem_answer("No such call")})
async def call_state_aid_csv(ctx: Ctx, _: Staff, call_id: Annotated[str, Path(max_length=100)]) -> Response:
    try:
        text = await state_aid.call_csv_with(ctx.pool, ctx.catalog, call_id, "call_id")
    except InputError:
        raise not_found(f"Det finns ingen utlysning {call_id!r}.") from None
    return Response(content=text, media_type=CSV,
                    headers={"Content-Disposition": f'attachment; filename="{call_id}-state-aid.csv"'})
