"""Reading a recorded history in Temporal's JSON form, fast, for bulk replay.

protobuf's json_format reads JSON field by field in Python, and was most of the time a replay of
an archived case took (the SDK's reader adds a deep copy and an enum rewrite on top). Here each
message type's JSON names are mapped once to its fields and their conversions, and the whole
history is built by the C (upb) message constructors from nested dicts. Only the proto3 JSON that
WorkflowHistory.to_json_dict writes (and the archive holds) is read this way; anything else
raises ValueError, and the caller falls back to the SDK's reader.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import datetime
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from temporalio.api.history.v1 import History, HistoryEvent

Convert = Callable[[Any], Any]
# For each message type: JSON name (and field name) -> (field name, conversion; None: as it is).
_PLANS: dict[str, dict[str, tuple[str, Convert | None]]] = {}
_INTS = {FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_SINT64,
         FieldDescriptor.TYPE_FIXED64, FieldDescriptor.TYPE_SFIXED64, FieldDescriptor.TYPE_INT32,
         FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_FIXED32,
         FieldDescriptor.TYPE_SFIXED32}
_FLOATS = {FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT}


def events(raw: dict[str, Any]) -> list[HistoryEvent]:
    """The events of a history in proto3 JSON ({"events": [...]}); ValueError if it is in another form."""
    if not isinstance(raw, dict) or set(raw) - {"events"} or not isinstance(raw.get("events", []), list):
        raise ValueError("not a history in proto3 JSON")
    plan = _plan(HistoryEvent.DESCRIPTOR)
    try:
        fields: list[Any] = [_message(plan, event) for event in raw.get("events", [])]
        return list(History(events=fields).events)
    except (TypeError, KeyError, AttributeError, ValueError) as exc:
        raise ValueError(f"not a history in proto3 JSON: {exc}") from exc


def _message(plan: dict[str, tuple[str, Convert | None]], value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"expected an object, got {type(value).__name__}")
    fields = {}
    for key, item in value.items():
        name, convert = plan[key]  # KeyError: a field this version does not know (ParseDict may)
        # Strings, enum names and booleans go as they are: the constructor refuses a wrong type.
        fields[name] = item if convert is None else convert(item)
    return fields


def _plan(descriptor: Descriptor) -> dict[str, tuple[str, Convert | None]]:
    plan = _PLANS.get(descriptor.full_name)
    if plan is None:
        plan = _PLANS[descriptor.full_name] = {}  # before the fields: a message may contain itself
        for field in descriptor.fields:
            convert = _field(field)
            plan[field.json_name] = plan[field.name] = (field.name, convert)
    return plan


def _field(field: FieldDescriptor) -> Convert | None:
    message = field.message_type
    if message is not None and message.GetOptions().map_entry:
        key = _single(message.fields_by_name["key"]) or _same
        value = _single(message.fields_by_name["value"]) or _same
        return lambda items: {key(k): value(v) for k, v in items.items()}
    single = _single(field)
    if single is None:
        return None
    if field.is_repeated:
        return lambda items: [single(item) for item in items]
    return single


def _same(value: Any) -> Any:
    return value


def _single(field: FieldDescriptor) -> Convert | None:
    kind = field.type
    descriptor = field.message_type
    if kind == FieldDescriptor.TYPE_MESSAGE and descriptor is not None:
        name = descriptor.full_name
        if name == "google.protobuf.Timestamp":
            return _timestamp
        if name == "google.protobuf.Duration":
            return _duration
        if name.startswith("google.protobuf."):
            raise_ = name  # Struct, Any, wrappers: their JSON is not an object of fields

            def unsupported(_value: Any) -> Any:
                raise ValueError(f"{raise_} is read by json_format only")

            return unsupported
        return lambda value: _message(_plan(descriptor), value)
    if kind == FieldDescriptor.TYPE_BYTES:
        return base64.b64decode
    if kind in _INTS:
        return int
    if kind in _FLOATS:
        return float
    return None  # strings, enums (by name), booleans


def _timestamp(value: str) -> dict[str, int]:
    """RFC 3339 in UTC with up to nine fractional digits, as proto3 JSON writes it."""
    if not value.endswith("Z"):
        raise ValueError(f"not a UTC timestamp: {value}")
    whole, _, fraction = value[:-1].partition(".")
    seconds = int(datetime.fromisoformat(whole + "+00:00").timestamp())
    return {"seconds": seconds, "nanos": int(fraction.ljust(9, "0")) if fraction else 0}


def _duration(value: str) -> dict[str, int]:
    if not value.endswith("s"):
        raise ValueError(f"not a duration: {value}")
    whole, _, fraction = value[:-1].partition(".")
    seconds = int(whole)
    nanos = int(fraction.ljust(9, "0")) if fraction else 0
    return {"seconds": seconds, "nanos": -nanos if whole.startswith("-") else nanos}


__all__ = ["events"]
