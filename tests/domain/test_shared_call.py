"""A call carried in a message is decoded once per content and then shared, never mixed up."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel, ValidationError

from domain.call import SharedCall
from infra.calls import load_catalog


class Carrier(BaseModel):
    call: SharedCall


@pytest.fixture(scope="module")
def call():
    return load_catalog().get("export-samverkan-2021")


def test_messages_with_the_same_call_share_one_decoded_call(call):
    text = Carrier(call=call).model_dump_json()
    first, second = Carrier.model_validate_json(text), Carrier.model_validate_json(text)
    assert first.call is second.call
    assert first.call == call
    spaced = json.dumps(json.loads(text), indent=2)  # spacing is not content
    assert Carrier.model_validate_json(spaced).call is first.call


def test_a_call_that_differs_in_anything_gets_its_own_instance(call):
    raw = json.loads(Carrier(call=call).model_dump_json())
    raw["call"]["funding"]["budget"] = "1.00"
    changed = Carrier.model_validate(raw).call
    assert changed.funding.budget == 1
    assert Carrier.model_validate_json(Carrier(call=call).model_dump_json()).call.funding.budget == call.funding.budget


def test_a_call_instance_is_kept_as_it_is(call):
    assert Carrier(call=call).call is call


def test_a_broken_call_is_refused_with_the_field_and_the_reason_and_not_remembered(call):
    raw = json.loads(Carrier(call=call).model_dump_json())
    raw["call"]["funding"]["budget"] = "abc"
    for _ in range(2):
        with pytest.raises(ValidationError) as caught:
            Carrier.model_validate(raw)
        (error,) = caught.value.errors()
        assert error["loc"] == ("call", "funding", "budget")
        assert "inget belopp i kronor" in error["msg"]
    with pytest.raises(ValidationError) as caught:
        Carrier.model_validate({"call": object()})
    assert caught.value.errors()[0]["loc"] == ("call",)


def test_the_shared_call_cannot_be_changed_through_one_message(call):
    shared = Carrier.model_validate_json(Carrier(call=call).model_dump_json()).call
    with pytest.raises(ValidationError):
        shared.id = "another-call"  # type: ignore[misc]  # mypy knows it is read-only; this proves it at run time
