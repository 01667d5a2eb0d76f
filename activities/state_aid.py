"""The state-aid record and the euro rates: what a case reads and writes about aid to companies.

Rates: the ECB's EUR/SEK reference rates as this release ships them (domain/exchange_rates.toml),
or as the file GRANTFLOW_EXCHANGE_RATES_FILE names has them (`ExchangeRateReader`).
A case reads the rates of the days it needs through a local activity, so that the rates it
checked a ceiling with are in its history: a replay after a release that installs newer or
corrected rates reads the same figures, as `activities/rates.py` does for interest.

The record: one row per company and report in `state_aid` (migration 0011). The ceiling check
asks it one indexed query per reported company (`AID_TOTAL`: an index range scan on
`state_aid_company`), across every case; the approval writes the rows once under their key.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from decimal import Decimal
from functools import cache, lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Annotated

from psycopg.rows import class_row
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel, ConfigDict, Field
from temporalio import activity

from activities.db import fails_for_good
from domain.state_aid import (
    RATES_FILE,
    AidOfDay,
    AidTotal,
    ExchangeRates,
    GrantedAid,
    RateOfDay,
    StateAidQuery,
    org_digits,
    parse_exchange_rates,
)


@cache
def load_exchange_rates() -> ExchangeRates:
    """The bundled rates; read once per process, since the file only changes with a release."""
    text = files("domain").joinpath(RATES_FILE).read_text(encoding="utf-8")
    return parse_exchange_rates(text, f"domain/{RATES_FILE}")


def read_rates_file(path: Path) -> ExchangeRates:
    """An installed rates file (GRANTFLOW_EXCHANGE_RATES_FILE), read again whenever it has changed."""
    stat = path.stat()
    return _parse_rates_file(path, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=4)
def _parse_rates_file(path: Path, mtime_ns: int, size: int) -> ExchangeRates:
    return parse_exchange_rates(path.read_text(encoding="utf-8"), str(path))


class RatesRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    days: Annotated[list[date], Field(max_length=1000)]


class RatesRead(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str
    rates: list[RateOfDay] = Field(description="One per day asked that has a rate (the day's or the last earlier)")


class ExchangeRateReader:
    """The rates a worker converts aid with: the file GRANTFLOW_EXCHANGE_RATES_FILE names (newer rates
    installed between releases, or a test's own), else the bundled domain/exchange_rates.toml."""

    def __init__(self, path: Path | None = None) -> None:
        self._path = path

    def installed(self) -> ExchangeRates:
        return load_exchange_rates() if self._path is None else read_rates_file(self._path)

    @activity.defn(name="read_exchange_rates")
    async def read(self, request: RatesRequest) -> RatesRead:
        installed = self.installed()
        found = (installed.rate_for(day) for day in sorted(set(request.days)))
        return RatesRead(source=installed.source, rates=[r for r in found if r is not None])


class TotalsRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    queries: Annotated[list[StateAidQuery], Field(max_length=500)]


class TotalsRead(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    totals: list[AidTotal]


class RecordRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    case_number: str
    call_id: str
    aid: list[GrantedAid]


# One company's aid in a range of days, day by day, in every case: an index range scan of state_aid_company.
AID_TOTAL = """
SELECT granted_on, count(*) AS count, sum(value_eur) AS eur, sum(value_sek) AS sek
FROM state_aid
WHERE org_number = %(org_number)s AND granted_on BETWEEN %(first)s AND %(last)s
GROUP BY granted_on
ORDER BY granted_on
"""

_INSERT = """
INSERT INTO state_aid (case_number, aid_id, call_id, org_number, company_name, aid, granted_on, value_sek,
                       value_eur, sek_per_eur, rate_published_on, rule_id, regulation, ceiling_eur)
VALUES (%(case_number)s, %(aid_id)s, %(call_id)s, %(org_number)s, %(company_name)s, %(aid)s, %(granted_on)s,
        %(value_sek)s, %(value_eur)s, %(sek_per_eur)s, %(rate_published_on)s, %(rule_id)s, %(regulation)s,
        %(ceiling_eur)s)
ON CONFLICT (case_number, aid_id) DO NOTHING
"""


class StateAidRecord:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    @activity.defn(name="state_aid_totals")
    @fails_for_good
    async def totals(self, request: TotalsRequest) -> TotalsRead:
        """Each company's aid in its range, day by day: one indexed query per company, on one connection."""
        out = []
        async with self._pool.connection() as conn:
            for q in request.queries:
                cursor = await conn.execute(AID_TOTAL, {"org_number": q.org_number, "first": q.first,
                                                        "last": q.last})
                days = [AidOfDay(granted_on=row[0], count=row[1], eur=row[2], sek=row[3])
                        for row in await cursor.fetchall()]
                out.append(AidTotal(org_number=q.org_number, first=q.first, last=q.last,
                                    count=sum(d.count for d in days), eur=sum((d.eur for d in days), Decimal(0)),
                                    sek=sum((d.sek for d in days), Decimal(0)), days=days))
        return TotalsRead(totals=out)

    @activity.defn(name="state_aid_record")
    @fails_for_good
    async def record(self, request: RecordRequest) -> None:
        """Write the aid once under its key: a retry or a replayed effect writes nothing more."""
        async with self._pool.connection() as conn, conn.transaction():
            cursor = conn.cursor()
            await cursor.executemany(_INSERT, [{
                "case_number": request.case_number, "aid_id": a.aid_id, "call_id": request.call_id,
                "org_number": org_digits(a.org_number), "company_name": a.name, "aid": a.aid,
                "granted_on": a.granted_on, "value_sek": a.value, "value_eur": a.value_eur,
                "sek_per_eur": a.rate.sek_per_eur, "rate_published_on": a.rate.published_on, "rule_id": a.rule_id,
                "regulation": a.regulation, "ceiling_eur": a.ceiling_eur,
            } for a in request.aid])


# --- reading the record ------------------------------------------------------------------------------


class AidRow(BaseModel):
    """One row of the state-aid record, as the CLI, the API, the CSV export and the archive show it."""

    case_number: str
    aid_id: str
    call_id: str
    org_number: str
    company_name: str
    aid: str
    granted_on: date
    value_sek: Decimal
    value_eur: Decimal
    sek_per_eur: Decimal
    rate_published_on: date
    rule_id: str
    regulation: str
    ceiling_eur: Decimal
    recorded_at: datetime


_COLUMNS = ("case_number, aid_id, call_id, org_number, company_name, aid, granted_on, value_sek, value_eur,"
            " sek_per_eur, rate_published_on, rule_id, regulation, ceiling_eur, recorded_at")


async def aid_rows(pool: AsyncConnectionPool, *, org_number: str | None = None, call_id: str | None = None,
                   case_number: str | None = None) -> list[AidRow]:
    """The record's rows of one company (any written form of its number), one call or one case."""
    where, params = [], {}
    if org_number is not None:
        where.append("org_number = %(org_number)s")
        params["org_number"] = org_digits(org_number)
    if call_id is not None:
        where.append("call_id = %(call_id)s")
        params["call_id"] = call_id
    if case_number is not None:
        where.append("case_number = %(case_number)s")
        params["case_number"] = case_number
    assert where, "a company, a call or a case"
    async with pool.connection() as conn:
        cursor = conn.cursor(row_factory=class_row(AidRow))
        await cursor.execute(f"SELECT {_COLUMNS} FROM state_aid WHERE {' AND '.join(where)}"
                             " ORDER BY granted_on, case_number, aid_id", params)
        return await cursor.fetchall()


CSV_FIELDS = ("org_number", "company_name", "granted_on", "value_sek", "value_eur", "sek_per_eur",
              "rate_published_on", "regulation", "rule_id", "aid", "case_number", "call_id", "aid_id")


# Cells whose text the applicant or a call file wrote: a spreadsheet must show them, never run them.
_TEXT_FIELDS = frozenset({"company_name", "aid", "regulation", "rule_id", "case_number", "call_id", "aid_id"})
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_text(text: str) -> str:
    """A text cell a spreadsheet reads as text: one starting like a formula (=, +, -, @, tab, CR) gets a
    leading single quote, so that a company named '=HYPERLINK(...)' cannot run in the officer's sheet."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def as_csv(rows: list[AidRow]) -> str:
    """The rows as CSV for reporting to the state-aid register: organisation numbers as NNNNNN-NNNN,
    applicant-typed text made safe to open in a spreadsheet (`spreadsheet_text`)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_FIELDS)
    for row in rows:
        values = row.model_dump()
        values["org_number"] = f"{row.org_number[:6]}-{row.org_number[6:]}"
        writer.writerow([spreadsheet_text(str(values[f])) if f in _TEXT_FIELDS else str(values[f])
                         for f in CSV_FIELDS])
    return out.getvalue()
