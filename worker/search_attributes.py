"""Registering grantflow's custom search attributes in a namespace, before a worker polls it.

The attribute keys are defined once, in workflows/search_attributes.py beside the workflow code
that sets them. They are indexed in plain text and shown to everyone with access to the namespace:
never personal data (no names, no personnummer; Officer is a staff login). Money is never a float:
amounts are whole öre as integers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.service import RPCError, RPCStatusCode

from workflows.search_attributes import ALL

SEARCH_ATTRIBUTES: tuple[SearchAttributeKey[Any], ...] = ALL


class SearchAttributeConflict(RuntimeError):
    """The namespace already has one of our attribute names with another type.

    The server accepts such a request silently and keeps the old type (seen with Server 1.32), so
    grantflow checks it itself: a wrong type would fail every workflow task that upserts the value.
    """


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
