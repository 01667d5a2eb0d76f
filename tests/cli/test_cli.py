"""The `grantflow` command as a person runs it: exit codes, output, and no tracebacks."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.factories import application_2021

ROOT = Path(__file__).parents[2]


def grantflow(*args: str, stdin: str | None = None, env: dict[str, str] | None = None):
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        cwd=ROOT, input=stdin, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=60,
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result


@pytest.fixture
def application_file(tmp_path):
    def write(data) -> str:
        path = tmp_path / "application.json"
        path.write_text(data if isinstance(data, str) else json.dumps(data, ensure_ascii=False), encoding="utf-8")
        return str(path)

    return write


def test_calls_lists_both_calls_with_window_and_budget():
    result = grantflow("calls")
    assert result.returncode == 0
    assert "export-samverkan-2021" in result.stdout and "2021-02-05 – 2021-03-08" in result.stdout
    assert "saker-digitalisering-2022" in result.stdout and "10\u00a0000\u00a0000\u00a0kr" in result.stdout


def test_schema_is_the_application_forms_json_schema():
    result = grantflow("schema")
    schema = json.loads(result.stdout)
    assert schema["title"] == "Application"
    assert {"applicant", "budget", "requested_amount", "secret_sections"} <= set(schema["properties"])


def test_schema_advertises_money_as_a_string_with_a_pattern():
    schema = json.loads(grantflow("schema").stdout)
    for amount in (schema["properties"]["requested_amount"], schema["$defs"]["BudgetLine"]["properties"]["amount"],
                   schema["$defs"]["FinancingSource"]["properties"]["amount"]):
        assert amount["type"] == "string" and "anyOf" not in amount
        assert re.fullmatch(amount["pattern"], "400000.00") and not re.fullmatch(amount["pattern"], "6.3E+5")


def test_validate_an_eligible_application(application_file):
    result = grantflow("validate", "--call", "export-samverkan-2021", application_file(application_2021()),
                       "--received", "2021-03-01T10:00:00+01:00")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BEHÖRIG (0 fel, 0 varningar)" in result.stdout


def test_validate_an_ineligible_application_as_json(application_file):
    data = application_2021()
    data["co_applicants"] = []
    result = grantflow("validate", "--call", "export-samverkan-2021", application_file(data),
                       "--received", "2021-03-01T10:00:00+01:00", "--json")
    assert result.returncode == 1
    out = json.loads(result.stdout)
    assert out == {"eligible": False, "findings": [{
        "rule": "ES21-WHO-TOGETHER", "severity": "error", "field": "$.co_applicants",
        "message": "Ansökan har 1 sökande organisation(er); minst 2 aktörer ska söka i samverkan.",
    }]}


def test_the_table_names_rule_field_and_message(application_file):
    data = application_2021()
    data["attachments"] = []
    result = grantflow("validate", application_file(data), "--received", "2021-03-01T10:00:00+01:00")
    assert result.returncode == 1
    assert "INTE BEHÖRIG (2 fel, 0 varningar)" in result.stdout
    assert "ES21-SIGNATORY" in result.stdout and "intyg om behörig firmatecknare" in result.stdout


def test_validate_reads_standard_input():
    result = grantflow("validate", "-", "--received", "2021-03-01T10:00:00+01:00", "--json",
                       stdin=json.dumps(application_2021()))
    assert result.returncode == 0 and json.loads(result.stdout)["eligible"] is True


@pytest.mark.parametrize(
    ("content", "args", "expected"),
    [
        ("{not json", [], "error: $: ogiltig JSON: en nyckel ska vara en text inom citattecken (rad 1, kolumn 2)"),
        ('{"call_id": "export-samverkan-2021"}', [], "error: $.applicant: uppgiften saknas"),
        (None, ["--call", "no-such-call"], "error: call_id: okänd utlysning 'no-such-call'"),
        (None, ["--call", "saker-digitalisering-2022"], "error: $.call_id: ansökan gäller utlysningen"),
        (None, ["--received", "yesterday"], "error: --received: 'yesterday' är ingen tidpunkt enligt ISO 8601"),
        (None, ["--received", "2021-03-01T10:00:00"], "saknar tidszon"),
        (None, ["--received", "0001-01-01T00:30:00+01:00"], "error: --received: '0001-01-01T00:30:00+01:00' ligger "
                                                             "utanför åren 1–9999"),
        (None, ["--received", ""], "error: --received: är tom"),
        (None, ["--received", "9999-12-31T23:30:00+00:00"],
         "error: --received: '9999-12-31T23:30:00+00:00' ligger utanför"),
    ],
)
def test_unusable_input_exits_2_naming_the_field(application_file, content, args, expected):
    path = application_file(content if content is not None else application_2021())
    result = grantflow("validate", path, *args)
    assert result.returncode == 2
    assert expected in result.stderr
    assert result.stdout == ""


def test_a_missing_file_exits_2(tmp_path):
    result = grantflow("validate", str(tmp_path / "nope.json"))
    assert result.returncode == 2
    assert f"error: FILE: '{tmp_path / 'nope.json'}' kan inte läsas: filen finns inte" in result.stderr


def test_an_unknown_command_or_option_exits_2():
    assert grantflow("frobnicate").returncode == 2
    assert grantflow("validate").returncode == 2


def test_a_broken_call_file_is_named_without_a_traceback(tmp_path):
    (tmp_path / "broken-2026.toml").write_text('id = "broken-2026"\n', encoding="utf-8")
    result = grantflow("calls", env={"GRANTFLOW_CALLS_DIR": str(tmp_path)})
    assert result.returncode == 2
    assert f"error: call file {tmp_path / 'broken-2026.toml'}:" in result.stderr
    assert "window: Field required" in result.stderr


def test_ci_makes_a_fresh_environment_even_when_one_is_given(tmp_path):
    # .ci/run must not reuse a VENV the runner happens to export; a stand-in for
    # scripts/test shows which environment it was handed.
    (tmp_path / ".ci").mkdir()
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / ".ci" / "run", tmp_path / ".ci" / "run")
    (tmp_path / "scripts" / "test").write_text('#!/usr/bin/env bash\necho "$VENV"\n', encoding="utf-8")
    (tmp_path / "scripts" / "test").chmod(0o755)
    given = tmp_path / "stale-venv"
    runs = [
        subprocess.run([str(tmp_path / ".ci" / "run")], capture_output=True, text=True, timeout=60, check=True,
                       env={**os.environ, "VENV": str(given)}).stdout.strip()
        for _ in range(2)
    ]
    assert all(Path(run).name == "venv" and Path(run).parent.is_dir() for run in runs)
    assert str(given) not in runs and runs[0] != runs[1]
    for run in runs:
        shutil.rmtree(Path(run).parent)


@pytest.mark.parametrize(("where", "bad", "named"), [
    (("budget", 0, "description"), "\u0000", "$.budget[0].description"),
    (("applicant", "contact", "name"), "\u0007", "$.applicant.contact.name"),
    (("project", "title"), "\u001b", "$.project.title"),
])
def test_validate_refuses_a_text_the_register_cannot_store_naming_the_field(application_file, where, bad, named):
    data = application_2021()
    *parents, leaf = where
    node = data
    for part in parents:
        node = node[part]
    node[leaf] = f"Kontakt anna@example.se{bad} 070-123 45 67"
    result = grantflow("validate", application_file(json.dumps(data)))  # ASCII: a lone surrogate as \ud800
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"error: {named}:" in result.stderr
    assert "U+" in result.stderr and "anna@example.se" not in result.stderr and result.stdout == ""


def test_validate_refuses_a_lone_surrogate(application_file):
    data = application_2021()
    data["project"]["title"] = "Projekt \ud800"
    # JSON's reader refuses it before any field sees it (the models refuse it too, from other clients).
    result = grantflow("validate", application_file(json.dumps(data)))
    assert result.returncode == 2 and result.stderr.startswith("error: $") and "Projekt" not in result.stderr


def test_act_refuses_a_nul_in_an_actions_text_naming_the_field():
    # Refused before any connection: the model is the boundary, as it is in the case's update validator.
    result = grantflow("act", "2021-00001", "prepare-decision", "--as", "officer:anna",
                       "--data", json.dumps({"kind": "reject", "reasons": "Avslag för Tolvan\u0000 Tolvansson"}))
    assert result.returncode == 2, result.stderr
    assert "error: $.reasons:" in result.stderr and "U+0000" in result.stderr and "Tolvan" not in result.stderr
    assert "innehåller U+0000 (ett styrtecken) på position 18" in result.stderr  # in Swedish, for the officer


@pytest.mark.parametrize(("args", "swedish"), [
    (["act"], "dessa argument saknas: NUMBER"),
    (["act", "2021-00001", "no-such-action", "--as", "officer:anna"], "finns inte (välj bland"),
    (["calls", "--no-such-flag"], "okända argument: --no-such-flag"),
    (["bank-file", "show", "many"], "argument ID: 'many' är inget heltal"),
    (["up", "--port", "many"], "argument --port: 'many' är inget portnummer (1–65535)"),
])
def test_the_parsers_own_complaints_are_in_swedish(args, swedish):
    result = grantflow(*args)
    assert result.returncode == 2, result.stderr
    assert swedish in result.stderr and "Traceback" not in result.stderr
