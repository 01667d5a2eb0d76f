"""Riksbanken's reference rates as this release ships them (domain/reference_rates.toml).

A case reads them through a local activity, so that the rates it computed interest with are in
its history: replaying the case after a release that adds a new half-year's rate computes the
figures it computed then, and an auditor's replay of an archived case does too.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from temporalio import activity

from domain.interest import RATES_FILE, ReferenceRates, parse_reference_rates


@cache
def load_reference_rates() -> ReferenceRates:
    """The bundled rates; read once per process, since the file only changes with a release."""
    text = files("domain").joinpath(RATES_FILE).read_text(encoding="utf-8")
    return parse_reference_rates(text, f"domain/{RATES_FILE}")


@activity.defn
async def read_reference_rates() -> ReferenceRates:
    return load_reference_rates()
