"""The Temporal client, and registering the custom search attributes.

The attribute keys themselves are defined once, in workflows/search_attributes.py beside the
workflow code that sets them, and re-exported here. They are indexed in plain text and shown to
everyone with access to the namespace: never personal data (no names, no personnummer; Officer is a
staff login). Money is never a float: amounts are whole öre as integers.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.service import RPCError, RPCStatusCode, TLSConfig

from services.converter import DATA_CONVERTER
from services.errors import Unavailable
from services.settings import Settings
from workflows.search_attributes import (
    ALL,
    CALL_ID,
    CASE_STAGE,
    GRANTED_AMOUNT_ORE,
    NEXT_DEADLINE,
    OFFICER,
    REQUESTED_AMOUNT_ORE,
)

SEARCH_ATTRIBUTES: tuple[SearchAttributeKey[Any], ...] = ALL

T = TypeVar("T")

__all__ = [
    "CALL_ID",
    "CASE_STAGE",
    "GRANTED_AMOUNT_ORE",
    "NEXT_DEADLINE",
    "OFFICER",
    "REQUESTED_AMOUNT_ORE",
    "SEARCH_ATTRIBUTES",
    "SearchAttributeConflict",
    "TemporalUnavailable",
    "collect_clients",
    "connect",
    "register_search_attributes",
    "run_command",
    "tls_config",
]


class SearchAttributeConflict(RuntimeError):
    """The namespace already has one of our attribute names with another type.

    The server accepts such a request silently and keeps the old type (seen with Server 1.32), so
    grantflow checks it itself: a wrong type would fail every workflow task that upserts the value.
    """


def tls_config(settings: Settings) -> TLSConfig | bool:
    if not settings.tls_enabled:
        return False

    def read(path: Path | None) -> bytes | None:
        return path.read_bytes() if path is not None else None

    if settings.temporal_tls_cert is None and settings.temporal_tls_ca is None:
        return True  # TLS with the system's root certificates, no client certificate
    return TLSConfig(
        server_root_ca_cert=read(settings.temporal_tls_ca),
        client_cert=read(settings.temporal_tls_cert),
        client_private_key=read(settings.temporal_tls_key),
    )


def collect_clients() -> None:
    """Free Temporal clients that are no longer referenced, now, while the event loop still runs.

    A Client sits in a reference cycle, so plain reference counting never frees it; left to the
    interpreter's shutdown, the SDK's Rust threads then crash the process (SIGABRT or SIGSEGV) after
    its work is done: about one short client run in five here (temporalio 1.35, Python 3.11;
    temporalio/sdk-python#300). Call it last thing in the coroutine that asyncio.run runs.
    """
    gc.collect()


def run_command(main: Coroutine[Any, Any, T]) -> T:
    """asyncio.run(main) for a command that uses a Temporal client: exits cleanly (see collect_clients)."""

    async def runner() -> T:
        try:
            return await main
        finally:
            collect_clients()

    return asyncio.run(runner())


class TemporalUnavailable(Unavailable):
    """No connection to the Temporal frontend (down, wrong address, or a TLS problem)."""


async def connect(settings: Settings) -> Client:
    try:
        # Always grantflow's converter (services/converter.py): pydantic models, Decimal, tz-aware datetimes.
        return await Client.connect(
            settings.temporal_address,
            namespace=settings.temporal_namespace,
            tls=tls_config(settings),
            data_converter=DATA_CONVERTER,
        )
    except RuntimeError as exc:  # what the SDK raises for any failed connect
        raise TemporalUnavailable(f"cannot connect to Temporal at {settings.temporal_address}: {exc}") from exc


def _type_name(kind: IndexedValueType.ValueType) -> str:
    return IndexedValueType.Name(kind).removeprefix("INDEXED_VALUE_TYPE_").capitalize()


async def _custom_attributes(client: Client, namespace: str) -> dict[str, IndexedValueType.ValueType]:
    listed = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace=namespace))
    return dict(listed.custom_attributes)


async def register_search_attributes(
    client: Client, namespace: str, keys: Sequence[SearchAttributeKey[Any]] = SEARCH_ATTRIBUTES
) -> list[str]:
    """Make sure the namespace has grantflow's search attributes; return the names it added.

    Idempotent: attributes already registered with the right type are left alone, so every worker
    start and every deployment can call it. An attribute registered with another type raises
    SearchAttributeConflict instead of being silently kept.
    """
    wanted = {key.name: IndexedValueType.ValueType(key.indexed_value_type) for key in keys}
    existing = await _custom_attributes(client, namespace)
    missing = {name: kind for name, kind in wanted.items() if name not in existing}
    if missing:
        try:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
            )
        except RPCError as exc:
            # Another worker may have added them between our list and our add.
            if exc.status != RPCStatusCode.ALREADY_EXISTS:
                raise
        existing = await _custom_attributes(client, namespace)
    conflicts = [
        f"{name} is {_type_name(existing[name])}, grantflow needs {_type_name(kind)}"
        for name, kind in wanted.items()
        if name in existing and existing[name] != kind
    ]
    if conflicts:
        raise SearchAttributeConflict(f"namespace {namespace!r}: " + "; ".join(conflicts))
    return sorted(missing)
