"""Finance: the payouts waiting for the bank, and the bank files (ISO 20022 pain.001) that carry them.

Registering a repayment is an action on its case (`POST /cases/{number}/actions/register-repayment`).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel

from api.app import Ctx
from api.auth import ApiRole, Principal, allowed
from api.problems import ProblemError, not_found, problem_answer
from domain.payment import PAYOUT_KIND_SV, PayoutKind
from services import payments
from services.payments import PayoutStatus

router = APIRouter(tags=["finance"])

FinanceOnly = Annotated[Principal, Depends(allowed(ApiRole.FINANCE))]
FinanceOrAudit = Annotated[Principal, Depends(allowed(ApiRole.FINANCE, ApiRole.AUDITOR))]
PAIN_001_XML = "application/xml"


class PayoutView(BaseModel):
    case_number: str
    request_number: int  # 0 the advance, 1.. the payment requests, then the final payment
    kind: PayoutKind
    kind_label: str  # Swedish
    amount: Decimal
    payee_name: str
    payee_bankgiro: str
    reference: str
    approved_at: datetime  # when it entered the ledger: approved for payout
    bank_file_id: int | None  # None while it waits for a bank file


class BankFileView(BaseModel):
    id: int
    message_id: str
    created_at: datetime
    transactions: int
    control_sum: Decimal
    href: str  # the file itself, as pain.001 XML


@router.get("/payouts", summary="The payout ledger; status=waiting: approved and in no bank file yet")
async def list_payouts(ctx: Ctx, _: FinanceOrAudit,
                       status: Annotated[PayoutStatus | None, Query()] = None) -> list[PayoutView]:
    return [PayoutView(case_number=p.case_number, request_number=p.request_number, kind=p.kind,
                       kind_label=PAYOUT_KIND_SV[p.kind], amount=p.amount, payee_name=p.payee_name,
                       payee_bankgiro=p.payee_bankgiro, reference=p.reference, approved_at=p.paid_at,
                       bank_file_id=p.bank_file_id)
            for p in await payments.ledger(ctx.pool, status)]


@router.post("/bank-files", status_code=201, summary="Put every waiting payout into the next bank file")
async def create_bank_file(ctx: Ctx, _: FinanceOnly, response: Response) -> BankFileView:
    exported = await payments.export_with(ctx.pool, ctx.settings)
    if exported is None:
        raise ProblemError(409, "Nothing to export", "Inget att exportera: varje utbetalning finns redan i en bankfil.")
    href = f"/bank-files/{exported.id}"
    response.headers["Location"] = href
    return BankFileView(id=exported.id, message_id=exported.message_id, created_at=exported.created_at,
                        transactions=exported.transactions, control_sum=exported.control_sum, href=href)


@router.get("/bank-files/{file_id}", summary="A bank file as it was handed to the bank (pain.001.001.03)",
            response_class=Response,
            responses={200: {"content": {PAIN_001_XML: {}}, "description": "The file, word for word"},
                       404: problem_answer("No such bank file")})
async def download_bank_file(ctx: Ctx, _: FinanceOrAudit,
                             file_id: Annotated[int, Path(ge=1, le=2**63 - 1)]) -> Response:
    found = await payments.stored_bank_file(ctx.pool, file_id)
    if found is None:
        raise not_found(f"Det finns ingen bankfil {file_id}.")
    return Response(found.xml, media_type=PAIN_001_XML,
                    headers={"Content-Disposition": f'attachment; filename="{found.message_id}.xml"'})
