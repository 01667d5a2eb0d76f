"""Finance's side of payouts: reading the ledger, and exporting and reading bank files.

Payouts themselves are written only by the case workflows' `payment_pay` activity; what
happens here is reading them and handing them to the bank in pain.001 files.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from psycopg_pool import AsyncConnectionPool
from pydantic import ValidationError

from activities.payments import BankFile, Debtor, Payout, bank_file, export_bank_file, list_payouts
from infra.errors import InputError, InputProblem
from infra.settings import Settings, env_name
from services.register import read_pool

_DEBTOR_FIELDS = {"name": "agency_name", "bankgiro": "agency_bankgiro", "bic": "agency_bic"}


def debtor(settings: Settings) -> Debtor:
    """The agency as payer, from GRANTFLOW_AGENCY_*; an unusable value names its variable."""
    try:
        return Debtor(name=settings.agency_name, bankgiro=settings.agency_bankgiro, bic=settings.agency_bic)
    except ValidationError as exc:
        raise InputError([
            InputProblem(field=env_name([_DEBTOR_FIELDS.get(str(error["loc"][0]), str(error["loc"][0]))]),
                         reason=error["msg"].removeprefix("Value error, "))
            for error in exc.errors(include_url=False)
        ]) from None


class PayoutStatus(StrEnum):
    WAITING = "waiting"  # approved for payout, in no bank file yet
    IN_BANK_FILE = "in_bank_file"  # gone out in a bank file


async def ledger(pool: AsyncConnectionPool, status: PayoutStatus | None = None) -> list[Payout]:
    """The payout ledger, oldest first; only the payouts waiting for a bank file, or only those in one."""
    rows = await list_payouts(pool)
    if status is None:
        return rows
    return [p for p in rows if (p.bank_file_id is None) == (status is PayoutStatus.WAITING)]


async def export_with(pool: AsyncConnectionPool, settings: Settings, *, now: datetime | None = None) -> BankFile | None:
    """`export` with the caller's pool (the API's)."""
    return await export_bank_file(pool, debtor(settings), now=now if now is not None else datetime.now(UTC))


async def stored_bank_file(pool: AsyncConnectionPool, file_id: int) -> BankFile | None:
    return await bank_file(pool, file_id)


async def payouts(settings: Settings, case_number: str | None = None) -> list[Payout]:
    async with read_pool(settings) as pool:
        return await list_payouts(pool, case_number)


async def export(settings: Settings, *, now: datetime | None = None) -> BankFile | None:
    """The next bank file with every payout not yet in one; None when none waits."""
    payer = debtor(settings)
    async with read_pool(settings) as pool:
        return await export_bank_file(pool, payer, now=now if now is not None else datetime.now(UTC))


async def show(settings: Settings, file_id: int) -> tuple[BankFile, list[Payout]] | None:
    """A stored bank file and the payouts it carries; None when there is no such file."""
    async with read_pool(settings) as pool:
        found = await bank_file(pool, file_id)
        if found is None:
            return None
        return found, await list_payouts(pool, bank_file_id=file_id)


__all__ = ["PayoutStatus", "debtor", "export", "export_with", "ledger", "payouts", "show", "stored_bank_file"]
