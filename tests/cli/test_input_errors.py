"""Input errors as an applicant or officer reads them: Swedish, naming the field, and what is wrong."""

from __future__ import annotations

import asyncio
import codecs
import json
import shutil
import sys
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, field_validator
from temporalio.testing import WorkflowEnvironment

from cli.main import main
from domain.case import AcceptForReview
from infra.calls import load_catalog
from infra.errors import InputError, from_validation_error
from infra.messages import json_reason, reason
from services import cases
from services.applications import check_imported_received, parse_instant, read_application
from services.inputs import json_object
from tests.factories import application_2021
from tests.keys import CONVERTER

TEMPORAL = shutil.which("temporal") or str(Path(sys.executable).with_name("temporal"))


def run(capsys, *args: str) -> tuple[int, str, str]:
    try:
        code = main(list(args))
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 2
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(autouse=True)
def nowhere(tmp_path, monkeypatch):
    """No stack to find: commands that need one stop after reading their input (exit 3)."""
    for name in ("GRANTFLOW_DATA_DIR", "GRANTFLOW_DATABASE_URL", "GRANTFLOW_TEMPORAL_ADDRESS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")


# --- the message catalogue ------------------------------------------------------------------------


class Colour(StrEnum):
    RED = "red"
    BLUE = "blue"


class Part(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str


class Everything(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False)

    required: str
    short: Annotated[str, Field(min_length=3)] = "abc"
    nonempty: Annotated[str, Field(min_length=1)] = "a"
    long: Annotated[str, Field(max_length=3)] = "a"
    pattern: Annotated[str, Field(pattern=r"^\d{4}$")] = "2021"
    count: int = 0
    amount: Decimal = Decimal(0)
    places: Annotated[Decimal, Field(decimal_places=2)] = Decimal(0)
    positive: Annotated[int, Field(gt=0)] = 1
    at_least: Annotated[int, Field(ge=2000)] = 2000
    below: Annotated[int, Field(lt=10)] = 1
    at_most: Annotated[int, Field(le=100)] = 1
    few: Annotated[list[int], Field(min_length=2)] = [1, 2]
    many: Annotated[list[int], Field(max_length=1)] = []
    kind: Literal["cash", "in_kind"] = "cash"
    colour: Colour = Colour.RED
    day: date = date(2021, 1, 1)
    instant: datetime = datetime(2021, 1, 1, tzinfo=UTC)
    flag: StrictBool = False
    yes: bool = False
    part: Part = Part(name="x")
    mapping: dict[str, int] = {}
    checked: str = "ok"

    @field_validator("checked")
    @classmethod
    def _ours(cls, value: str) -> str:
        if value != "ok":
            raise ValueError("vårt eget skäl, som det är skrivet")
        return value


def reasons(data: dict[str, object]) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        Everything.model_validate({"required": "x", **data})
    return {p.field: p.reason for p in from_validation_error(caught.value).problems}


@pytest.mark.parametrize(
    ("data", "field", "expected"),
    [
        ({"x": 1}, "$.x", "okänt fält (ingår inte i ansökningsformuläret)"),
        ({"short": "ab"}, "$.short", "för kort: minst 3 tecken"),
        ({"nonempty": ""}, "$.nonempty", "får inte vara tom"),
        ({"long": "abcd"}, "$.long", "för lång: högst 3 tecken"),
        ({"pattern": "21"}, "$.pattern", "har fel form (ska följa mönstret ^\\d{4}$)"),
        ({"count": "tio"}, "$.count", "ska vara ett heltal"),
        ({"amount": "tio"}, "$.amount", "ska vara ett decimaltal"),
        ({"places": "1.234"}, "$.places", "får ha högst 2 decimaler"),
        ({"positive": 0}, "$.positive", "ska vara större än 0"),
        ({"at_least": 1999}, "$.at_least", "ska vara minst 2000"),
        ({"below": 10}, "$.below", "ska vara mindre än 10"),
        ({"at_most": 101}, "$.at_most", "ska vara högst 100"),
        ({"few": [1]}, "$.few", "för få: minst 2, nu 1"),
        ({"many": [1, 2]}, "$.many", "för många: högst 1, nu 2"),
        ({"kind": "gratis"}, "$.kind", "ska vara 'cash' eller 'in_kind'"),
        ({"colour": "green"}, "$.colour", "ska vara 'red' eller 'blue'"),
        ({"day": "15/3/2021"}, "$.day", "ska vara ett datum skrivet ÅÅÅÅ-MM-DD, t.ex. 2021-03-15"),
        ({"instant": "igår"}, "$.instant", "ska vara en tidpunkt med tidszon, t.ex. 2021-03-01T10:00:00+01:00"),
        ({"flag": "yes"}, "$.flag", "ska vara true eller false"),
        ({"yes": "kanske"}, "$.yes", "ska vara true eller false"),
        ({"part": "x"}, "$.part", "ska vara ett JSON-objekt ({…})"),
        ({"part": {}}, "$.part.name", "uppgiften saknas"),
        ({"mapping": []}, "$.mapping", "ska vara ett JSON-objekt ({…})"),
        ({"checked": "no"}, "$.checked", "vårt eget skäl, som det är skrivet"),
    ],
)
def test_each_kind_of_error_has_a_swedish_reason_with_its_values(data, field, expected):
    assert reasons(data)[field] == expected


def test_a_missing_field_and_invalid_json_are_swedish():
    with pytest.raises(ValidationError) as caught:
        Everything.model_validate({})
    assert from_validation_error(caught.value).problems[0].reason == "uppgiften saknas"
    with pytest.raises(ValidationError) as caught:
        Everything.model_validate_json('{"required": "x",}')
    assert from_validation_error(caught.value).problems[0].reason == (
        "ogiltig JSON: kommatecken före slutparentes (rad 1, kolumn 18)")


def test_an_error_type_the_catalogue_does_not_know_keeps_pydantics_message():
    error = {"type": "no_such_type_yet", "loc": ("x",), "msg": "Something new", "input": 1}
    assert reason(error) == "Something new"  # type: ignore[arg-type]
    assert json_reason("a new parser message at line 3 column 4") == "a new parser message (rad 3, kolumn 4)"


# --- item 3: an unknown field names what it is not part of ------------------------------------------


def test_an_unknown_field_in_an_action_names_the_action_not_the_application_form():
    with pytest.raises(InputError) as caught:
        cases.build_command("withdraw", {"role": "applicant", "id": "org"}, {"extra": 1}, None)
    assert [(p.field, p.reason) for p in caught.value.problems] == [
        ("$.extra", "okänt fält (ingår inte i åtgärden withdraw)")]


def test_an_unknown_field_in_an_application_names_the_application_form():
    data = application_2021()
    data["extra"] = 1
    with pytest.raises(InputError) as caught:
        read_application(json.dumps(data))
    assert [(p.field, p.reason) for p in caught.value.problems] == [
        ("$.extra", "okänt fält (ingår inte i ansökningsformuläret)")]


def test_the_cli_prints_the_actions_unknown_field_in_swedish(capsys):
    code, _, err = run(capsys, "act", "2021-00001", "accept-for-review", "--as", "officer:anna",
                       "--data", '{"note": "ok", "reasons": "x"}')
    assert code == 2 and err == "error: $.reasons: okänt fält (ingår inte i åtgärden accept-for-review)\n"


# --- item 3: a byte-order mark is accepted, another encoding is named -------------------------------


def test_an_application_saved_with_a_utf8_byte_order_mark_is_read(tmp_path, capsys):
    path = tmp_path / "bom.json"
    path.write_bytes(codecs.BOM_UTF8 + json.dumps(application_2021(), ensure_ascii=False).encode())
    code, out, err = run(capsys, "validate", str(path), "--received", "2021-03-01T10:00:00+01:00")
    assert code == 0 and "BEHÖRIG (0 fel, 0 varningar)" in out, err
    assert read_application("\ufeff" + json.dumps(application_2021())).call_id == "export-samverkan-2021"


def test_action_data_saved_with_a_utf8_byte_order_mark_is_read(tmp_path, capsys):
    path = tmp_path / "data.json"
    path.write_bytes(codecs.BOM_UTF8 + b'{"note": "Komplett."}')
    assert json_object(path.read_bytes(), "--data") == {"note": "Komplett."}
    code, _, err = run(capsys, "act", "2021-00001", "accept-for-review", "--as", "officer:anna", "--data", f"@{path}")
    # Read and understood: what stops it now is that no grantflow runs here.
    assert code == 3 and "no running grantflow found" in err


@pytest.mark.parametrize(("encoding", "name"), [("utf-16", "UTF-16"), ("utf-16-be", "UTF-16"), ("utf-32", "UTF-32")])
def test_a_file_in_another_encoding_is_refused_with_what_to_do(tmp_path, capsys, encoding, name):
    path = tmp_path / "application.json"
    path.write_bytes(json.dumps(application_2021()).encode(encoding))
    code, _, err = run(capsys, "validate", str(path))
    assert code == 2 and err.startswith("error: $: texten ") and name in err and "spara den som UTF-8" in err
    code, _, err = run(capsys, "act", "2021-00001", "accept-for-review", "--as", "officer:anna", "--data", f"@{path}")
    assert code == 2 and err.startswith("error: --data: texten ") and name in err


def test_invalid_utf8_names_the_byte(tmp_path, capsys):
    path = tmp_path / "application.json"
    path.write_bytes(b'{"call_id": "\xc3("}')
    code, _, err = run(capsys, "validate", str(path))
    assert code == 2 and err == "error: $: ogiltig UTF-8 vid byte 13; spara den som UTF-8\n"


# --- item 3: an import cannot be received in the future ---------------------------------------------


def test_an_import_dated_in_the_future_is_refused_naming_the_option(tmp_path, capsys):
    path = tmp_path / "application.json"
    path.write_text(json.dumps(application_2021()), encoding="utf-8")
    code, out, err = run(capsys, "submit", "--imported-received", "2030-01-01T00:00:00+01:00", str(path))
    assert code == 2 and out == ""
    assert err == ("error: --imported-received: 2030-01-01 kl. 00:00 ligger i framtiden; "
                   "ange när ansökan faktiskt kom in\n")


def test_a_receipt_a_little_ahead_of_our_clock_is_accepted_as_clock_skew():
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert check_imported_received(now + timedelta(seconds=50), now=now) == now + timedelta(seconds=50)
    with pytest.raises(InputError) as caught:
        check_imported_received(now + timedelta(minutes=2), now=now)
    assert caught.value.problems[0].field == "imported_received_at"


async def test_the_service_refuses_a_future_import_before_any_case_is_started():
    # The same rule for every interface: the service itself refuses, not only the CLI.
    async with await WorkflowEnvironment.start_local(dev_server_existing_path=TEMPORAL,
                                                     data_converter=CONVERTER) as env:
        future = parse_instant("2030-01-01T00:00:00+01:00")
        # No worker polls "nobody": a submission that were accepted would wait for ever.
        with pytest.raises(InputError) as caught:
            async with asyncio.timeout(30):
                await cases.submit(env.client, load_catalog(), json.dumps(application_2021()),
                                   task_queue="nobody", imported_received_at=future)
        assert caught.value.problems[0].field == "imported_received_at"
        assert "ligger i framtiden" in caught.value.problems[0].reason
        assert (await env.client.count_workflows()).count == 0


def test_an_action_model_refuses_in_swedish():
    with pytest.raises(ValidationError) as caught:
        AcceptForReview.model_validate({"actor": {"role": "officer", "id": "anna"}, "action_id": "a", "note": ""})
    assert [(p.field, p.reason) for p in from_validation_error(caught.value).problems] == [
        ("$.note", "får inte vara tom")]
