"""The state-aid record for people: a company's de minimis aid across cases, and a call's aid as CSV.

The rows are written only by the case workflows (activities/state_aid.py) when an officer approves
a report that names companies; here they are read, for the CLI and the API alike.
"""

from __future__ import annotations

from decimal import Decimal

from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel

from activities.state_aid import AidRow, aid_rows, as_csv
from domain.money import total
from domain.state_aid import organisation_number as domain_organisation_number
from domain.text import refused_character
from infra.calls import CallCatalog
from infra.errors import InputError
from infra.settings import Settings
from services.register import read_pool


class CompanyRecord(BaseModel):
    """One company's de minimis aid through every grantflow case, oldest first."""

    org_number: str  # NNNNNN-NNNN
    company_name: str | None  # as the latest report named it; None when it has no aid here
    aid: list[AidRow]

    @property
    def total_sek(self) -> Decimal:
        return total(a.value_sek for a in self.aid)

    @property
    def total_eur(self) -> Decimal:
        return total(a.value_eur for a in self.aid)


def organisation_number(text: str, field: str) -> str:
    """The company's number as NNNNNN-NNNN; one that is not an organisation number is an input error naming `field`."""
    try:
        return domain_organisation_number(text)
    except ValueError as error:
        raise InputError.one(field, str(error)) from None


async def call_aid_with(pool: AsyncConnectionPool, catalog: CallCatalog, call_id: str,
                        field: str = "call_id") -> list[AidRow]:
    """Every aid of a call, also of one no longer in the catalog; a call unknown here and without aid is an
    input error naming `field`."""
    # No call's id holds a character PostgreSQL's text cannot (NUL): such an id is no call, not a query.
    rows = [] if refused_character(call_id) is not None else await aid_rows(pool, call_id=call_id)
    if not rows and call_id not in catalog.calls:
        raise InputError.one(field, f"det finns ingen utlysning {call_id!r}")
    return rows


async def company_record_with(pool: AsyncConnectionPool, org_number: str, field: str = "orgnr") -> CompanyRecord:
    number = organisation_number(org_number, field)
    rows = await aid_rows(pool, org_number=number)
    return CompanyRecord(org_number=number, company_name=rows[-1].company_name if rows else None, aid=rows)


async def call_csv_with(pool: AsyncConnectionPool, catalog: CallCatalog, call_id: str, field: str = "call_id") -> str:
    """Every aid of a call as CSV, for reporting to the state-aid register."""
    return as_csv(await call_aid_with(pool, catalog, call_id, field))


async def company_record(settings: Settings, org_number: str, field: str) -> CompanyRecord:
    organisation_number(org_number, field)  # refused before the database is opened
    async with read_pool(settings) as pool:
        return await company_record_with(pool, org_number, field)


async def call_aid(settings: Settings, catalog: CallCatalog, call_id: str, field: str) -> list[AidRow]:
    async with read_pool(settings) as pool:
        return await call_aid_with(pool, catalog, call_id, field)


__all__ = ["CompanyRecord", "as_csv", "call_aid", "call_aid_with", "call_csv_with", "company_record",
           "company_record_with", "organisation_number"]
