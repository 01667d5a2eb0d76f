"""What a careless or hostile client sends: a clear error naming the field, never a traceback."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from pydantic_core import to_json

from domain.application import Application
from infra.calls import load_catalog
from infra.errors import InputError
from services.applications import MAX_APPLICATION_BYTES, check_application, parse_instant, read_application
from tests.factories import application_2021, application_2022


def problems(raw) -> dict[str, str]:
    with pytest.raises(InputError) as caught:
        read_application(raw if isinstance(raw, str | bytes) else json.dumps(raw))
    return {p.field: p.reason for p in caught.value.problems}


def test_a_valid_application_reads_with_exact_money():
    application = read_application(json.dumps(application_2021()))
    assert application.requested_amount == Decimal("570000.00")
    assert isinstance(application.budget[0].amount, Decimal)


def test_a_json_integer_is_read_exactly():
    data = application_2022()
    raw = json.dumps(data).replace('"377500.00"', "377500", 1)
    assert read_application(raw).requested_amount == Decimal("377500")


@pytest.mark.parametrize("number", ["100.000000000000000001", "377500.10", "377500.0", "3.775e5"])
def test_a_json_number_with_decimals_is_refused_not_read_through_a_float(number):
    # 100.000000000000000001 would otherwise silently become 100 kr.
    raw = json.dumps(application_2022()).replace('"377500.00"', number, 1)
    found = problems(raw)
    assert list(found) == ["$.requested_amount"]
    assert 'skriv belopp som en text, t.ex. "400000.00"' in found["$.requested_amount"]


@pytest.mark.parametrize("raw", ["", "{", "[]", "null", '"text"', b"\xff\xfe"])
def test_not_json_or_not_an_object(raw):
    found = problems(raw)
    assert list(found) == ["$"]


def test_unknown_fields_are_named_not_ignored():
    data = application_2021()
    data["project"]["titel"] = "Stavfel"
    assert problems(data) == {"$.project.titel": "okänt fält (ingår inte i ansökningsformuläret)"}


def test_missing_required_fields_are_named():
    data = application_2021()
    del data["applicant"]["name"]
    del data["requested_amount"]
    assert set(problems(data)) == {"$.applicant.name", "$.requested_amount"}


@pytest.mark.parametrize(
    ("amount", "why"),
    [
        ("-1.00", "ska vara minst 0"),
        ("NaN", "inget belopp i kronor"),
        ("Infinity", "inget belopp i kronor"),
        ("1e999999", "ingen exponent"),
        ("6.3E+5", "ingen exponent"),
        ("12.345", "högst två decimaler"),
        ("tusen kronor", "inget belopp i kronor"),
        ("1000000000000", "inget belopp i kronor"),
        (True, "kan inte vara true eller false"),
        (12.5, "ett JSON-tal med decimaler"),
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
    assert "'cash' eller 'in_kind'" in found["$.financing[0].form"]


def test_impossible_dates():
    data = application_2021()
    data["project"]["start"] = "2021-02-30"
    assert list(problems(data)) == ["$.project.start"]


def test_absurd_sizes_are_refused():
    data = application_2021()
    data["descriptions"]["activities"] = "x" * 20_001
    assert "högst 20000 tecken" in problems(data)["$.descriptions.activities"]
    data = application_2021()
    data["co_applicants"] = data["co_applicants"] * 101
    assert list(problems(data)) == ["$.co_applicants"]


def test_an_oversized_body_is_refused_before_parsing():
    found = problems(b" " * (MAX_APPLICATION_BYTES + 1))
    assert "högst" in found["$"]


def test_a_bad_checksum_is_named():
    data = application_2021()
    data["attachments"][0]["sha256"] = "abc"
    assert list(problems(data)) == ["$.attachments[0].sha256"]


@pytest.mark.parametrize(
    ("place", "value"),
    [
        (("project", "start"), 0),  # would be 1970-01-01
        (("project", "start"), "0"),  # a Unix timestamp, even in pydantic's strict mode
        (("project", "start"), "1615766400"),
        (("project", "start"), "2021-03-15T00:00:00"),
        (("project", "start"), "20210315"),
        (("project", "end"), "2021-11-30 "),
        (("project", "regional"), "yes"),
        (("project", "regional"), 1),
        (("project", "collaboration_project"), "false"),
        (("budget", 0, "ordinary_operations"), 0),
        (("budget", 0, "year"), 2021.0),
        (("budget", 0, "year"), "2021"),
        (("applies_for_group",), "no"),
    ],
)
def test_the_form_takes_types_as_written_2021(place, value):
    data = application_2021()
    *parents, name = place
    target = data
    for key in parents:
        target = target[key]
    target[name] = value
    assert list(problems(data)) == ["$." + ".".join(str(k) for k in place).replace(".0.", "[0].")]


@pytest.mark.parametrize(
    ("name", "value"),
    [("employees", 12.0), ("employees", "12"), ("employees", True), ("growth_ambitions", "yes"),
     ("basic_digital_competence", 1)],
)
def test_the_form_takes_company_details_as_written(name, value):
    data = application_2022()
    data["participating_companies"]["companies"][0][name] = value
    assert list(problems(data)) == [f"$.participating_companies.companies[0].{name}"]


@pytest.mark.parametrize("name", ["expected_count", "expected_hours_per_company", "share_women_percent"])
def test_the_form_takes_counts_as_whole_numbers(name):
    data = application_2022()
    data["participating_companies"][name] = 8.0
    assert list(problems(data)) == [f"$.participating_companies.{name}"]


def test_a_date_says_how_to_write_it():
    data = application_2021()
    data["project"]["start"] = "15/3/2021"
    assert "ÅÅÅÅ-MM-DD" in problems(data)["$.project.start"]


def test_an_application_survives_a_temporal_payload_and_python_objects():
    # The case workflow carries the application in JSON payloads (dates and amounts as
    # strings) and passes it around as python objects (date, Decimal): both must read back.
    application = read_application(json.dumps(application_2022()))
    assert Application.model_validate_json(to_json(application)) == application
    assert Application.model_validate_json(application.model_dump_json()) == application
    assert Application.model_validate(application.model_dump()) == application
    assert application.project.start == date(2022, 6, 13)


def test_received_must_be_an_instant_with_an_offset():
    assert parse_instant("2021-03-01T10:00:00+01:00") == datetime(2021, 3, 1, 9, 0, tzinfo=UTC)
    with pytest.raises(InputError, match="received: '2021-03-01T10:00:00' saknar tidszon"):
        parse_instant("2021-03-01T10:00:00")
    with pytest.raises(InputError, match="är ingen tidpunkt enligt ISO 8601"):
        parse_instant("igår")


def test_an_unknown_call_is_an_input_error():
    data = application_2021()
    data["call_id"] = "no-such-call"
    with pytest.raises(InputError) as caught:
        check_application(load_catalog(), json.dumps(data))
    assert caught.value.problems[0].field == "call_id"
    assert "export-samverkan-2021" in caught.value.problems[0].reason


def test_the_call_given_must_match_the_application():
    with pytest.raises(InputError, match=r"\$.call_id: ansökan gäller utlysningen 'export-samverkan-2021'"):
        check_application(load_catalog(), json.dumps(application_2021()), call_id="saker-digitalisering-2022")


@pytest.mark.parametrize("text", ["0001-01-01T00:30:00+01:00", "9999-12-31T23:30:00+00:00"])
def test_an_instant_outside_the_calendar_is_an_input_error(text):
    with pytest.raises(InputError) as caught:
        parse_instant(text, "--received")
    assert caught.value.problems[0].field == "--received"
    assert "utanför åren 1–9999" in caught.value.problems[0].reason


@pytest.mark.parametrize("text", ["", "   "])
def test_an_empty_instant_is_an_input_error_not_now(text):
    with pytest.raises(InputError, match="--received: är tom"):
        parse_instant(text, "--received")
