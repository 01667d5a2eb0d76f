"""Activity inputs and outputs cross Temporal as JSON: they must come back as they went."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from pydantic import BaseModel
from temporalio.contrib.pydantic import PydanticPayloadConverter, pydantic_data_converter

from activities.budget import GrantRequest, GrantResult, ReleaseRequest
from activities.letters import LetterRequest, LetterSent
from activities.register import (
    CaseDocument,
    CaseEvent,
    CaseSnapshot,
    Opened,
    RegisterApplication,
    Registered,
    RegisterWrite,
)
from domain.letters import LetterKind
from domain.lifecycle import Outcome, Stage
from infra.converter import PLAIN, PayloadConverter

AT = datetime(2021, 12, 31, 23, 30, tzinfo=UTC)

MODELS: list[BaseModel] = [
    RegisterApplication(
        submission_id="s", call_id="c", received_at=AT, imported=True, sender_name="Region Exempel",
        sender_org_number="232100-0016", subject="Projekt", requested_amount=Decimal("1250000.50"),
    ),
    Registered(case_number="2022-00001", received_at=AT, already_registered=False),
    CaseEvent(case_number="2022-00001", event_id="e", at=AT, actor_id="a", actor_role="officer", kind="k",
              stage=Stage.ASSESSMENT, summary="Bedömning påbörjad."),
    CaseSnapshot(case_number="2022-00001", stage=Stage.DECIDED, outcome=Outcome.APPROVED, officer="o",
                 granted_amount=Decimal("900000.00"), next_deadline=AT),
    CaseDocument(case_number="2022-00001", document_id="d", kind="application", title="Ansökan", registered_at=AT,
                 content={"a": [1, "två"], "b": {"c": None}}),
    LetterRequest(case_number="2022-00001", letter_id="l", kind=LetterKind.RECEIPT, recipient_name="Anna",
                  recipient_email=None, context={"agency": "Tillväxtverket"}),
    LetterSent(letter_id="l", subject="Ämne", sent=True),
    RegisterWrite(case_number="2022-00001", letters=[
        LetterRequest(case_number="2022-00001", letter_id="l", kind=LetterKind.RECEIPT, recipient_name="Anna",
                      recipient_email="anna@example.se", context={"agency": "Tillväxtverket"})],
        snapshot=CaseSnapshot(case_number="2022-00001", stage=Stage.SECRECY_REVIEW)),
    Opened(by_email=["receipt-00002"]),
    GrantRequest(call_id="c", call_budget=Decimal("10000000.00"), case_number="2022-00001",
                 amount=Decimal("0.01")),
    GrantResult(granted=False, amount=Decimal("0.00"), remaining=Decimal("12.34")),
    ReleaseRequest(call_id="c", case_number="2022-00001"),
]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: type(m).__name__)
def test_round_trip_through_the_data_converter(model):
    converter = PLAIN.payload_converter
    [back] = converter.from_payloads(converter.to_payloads([model]), [type(model)])
    assert back == model


def test_an_instant_in_another_zone_is_stored_as_utc():
    event = CaseEvent.model_validate_json(
        '{"case_number": "x", "event_id": "e", "at": "2022-01-01T00:30:00+01:00", "actor_id": "a",'
        ' "actor_role": "r", "kind": "k", "stage": "received", "summary": "s"}'
    )
    assert event.at == AT
    assert event.at.tzinfo is UTC


@pytest.mark.parametrize("model", MODELS, ids=lambda m: type(m).__name__)
def test_the_wire_format_is_the_sdk_pydantic_converters(model):
    # Histories written with temporalio.contrib.pydantic's converter must replay with ours, and back.
    ours, sdks = PLAIN.payload_converter, pydantic_data_converter.payload_converter
    assert ours.to_payloads([model]) == sdks.to_payloads([model])
    [back] = ours.from_payloads(sdks.to_payloads([model]), [type(model)])
    assert back == model


def test_every_converter_the_sdk_makes_shares_one_cache_of_type_adapters():
    # The SDK makes a payload converter from the class for every workflow it runs and every
    # serialization context; each must reuse the adapters built before, not build its own.
    assert PLAIN.payload_converter_class is PayloadConverter

    def json_converter(composite):
        return composite.converters[b"json/plain"]

    assert json_converter(PayloadConverter()) is json_converter(PayloadConverter())
    # What the module is for: the SDK's own pydantic converters do not share theirs.
    assert json_converter(PydanticPayloadConverter()) is not json_converter(PydanticPayloadConverter())
