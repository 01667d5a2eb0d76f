"""What a careless or hostile client sends: a clear error naming the field, never a traceback."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from services.applications import MAX_APPLICATION_BYTES, check_application, parse_instant, read_application
from services.calls import load_catalog
from services.errors import InputError
from tests.factories import application_2021, application_2022


def problems(raw) -> dict[str, str]:
    with pytest.raises(InputError) as caught:
        read_application(raw if isinstance(raw, str | bytes) else json.dumps(raw))
    return {p.field: p.reason for p in caught.value.problems}


def test_a_valid_application_reads_with_exact_money():
    application = read_application(json.dumps(application_2021()))
    assert application.requested_amount == Decimal("570000.00")
    assert isinstance(application.budget[0].amount, Decimal)


def test_a_json_number_is_read_exactly_not_through_a_float():
    data = application_2022()
    raw = json.dumps(data).replace('"377500.00"', "377500.10", 1)
    assert read_application(raw).requested_amount == Decimal("377500.10")


@pytest.mark.parametrize("raw", ["", "{", "[]", "null", '"text"', b"\xff\xfe"])
def test_not_json_or_not_an_object(raw):
    found = problems(raw)
    assert list(found) == ["$"]


def test_unknown_fields_are_named_not_ignored():
    data = application_2021()
    data["project"]["titel"] = "Stavfel"
    assert problems(data) == {"$.project.titel": "unknown field (not part of the application form)"}


def test_missing_required_fields_are_named():
    data = application_2021()
    del data["applicant"]["name"]
    del data["requested_amount"]
    assert set(problems(data)) == {"$.applicant.name", "$.requested_amount"}


@pytest.mark.parametrize(
    ("amount", "why"),
    [
        ("-1.00", "greater than or equal to 0"),
        ("NaN", "finite"),
        ("Infinity", "finite"),
        ("1e999999", "digits"),
        ("12.345", "decimal places"),
        ("tusen kronor", "valid decimal"),
        (True, "Decimal input should be"),
    ],
)
def test_money_that_is_not_money(amount, why):
    data = application_2021()
    data["budget"][0]["amount"] = amount
    found = problems(data)
    assert list(found) == ["$.budget[0].amount"]
    assert why in found["$.budget[0].amount"]


def test_wrong_enum_values_list_the_allowed_ones():
    data = application_2021()
    data["financing"][0]["form"] = "gratis"
    found = problems(data)
    assert "'cash' or 'in_kind'" in found["$.financing[0].form"]


def test_impossible_dates():
    data = application_2021()
    data["project"]["start"] = "2021-02-30"
    assert list(problems(data)) == ["$.project.start"]


def test_absurd_sizes_are_refused():
    data = application_2021()
    data["descriptions"]["activities"] = "x" * 20_001
    assert "at most 20000 characters" in problems(data)["$.descriptions.activities"]
    data = application_2021()
    data["co_applicants"] = data["co_applicants"] * 101
    assert list(problems(data)) == ["$.co_applicants"]


def test_an_oversized_body_is_refused_before_parsing():
    found = problems(b" " * (MAX_APPLICATION_BYTES + 1))
    assert "at most" in found["$"]


def test_a_bad_checksum_is_named():
    data = application_2021()
    data["attachments"][0]["sha256"] = "abc"
    assert list(problems(data)) == ["$.attachments[0].sha256"]


def test_received_must_be_an_instant_with_an_offset():
    assert parse_instant("2021-03-01T10:00:00+01:00") == datetime(2021, 3, 1, 9, 0, tzinfo=UTC)
    with pytest.raises(InputError, match="received: '2021-03-01T10:00:00' has no UTC offset"):
        parse_instant("2021-03-01T10:00:00")
    with pytest.raises(InputError, match="not an ISO 8601"):
        parse_instant("igår")


def test_an_unknown_call_is_an_input_error():
    data = application_2021()
    data["call_id"] = "no-such-call"
    with pytest.raises(InputError) as caught:
        check_application(load_catalog(), json.dumps(data))
    assert caught.value.problems[0].field == "call_id"
    assert "export-samverkan-2021" in caught.value.problems[0].reason


def test_the_call_given_must_match_the_application():
    with pytest.raises(InputError, match=r"\$.call_id: the application is for call 'export-samverkan-2021'"):
        check_application(load_catalog(), json.dumps(application_2021()), call_id="saker-digitalisering-2022")
