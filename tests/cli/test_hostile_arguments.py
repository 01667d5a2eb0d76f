"""Every command and subcommand of `grantflow`, given hostile arguments: a clear line, never a traceback.

The commands are found by walking build_parser()'s subparsers, so a new command is tried here the
day it is added. Each is run in this process (cli.main.main), with no running grantflow to find: a
command that needs one must say so in one line and exit 3, and must not make a database (or
anything else) in the folder it was started from.
"""

from __future__ import annotations

import argparse
import codecs
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cli.main import build_parser, main
from infra.settings import NO_STACK
from tests.factories import application_2021

ROOT = Path(__file__).parents[2]

# Commands that start long-running servers when their arguments are good: only what argparse
# refuses is tried in this process (`worker` is tried once, in a process of its own, below).
SERVERS = {("up",), ("worker",)}
# Commands that need no input and no stack, which may simply succeed.
READ_ONLY = {("calls",), ("schema",)}
# What a stand-in for each required argument is when another one is being tried.
NEUTRAL = {"case": "2099-99999", "action": "declare-no-conflict", "actor": "officer:anna", "id": "1"}


@dataclass(frozen=True)
class Leaf:
    path: tuple[str, ...]
    parser: argparse.ArgumentParser


def leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[Leaf]:
    subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subparsers:
        yield Leaf(path, parser)
        return
    for action in subparsers:
        for name, child in action.choices.items():
            yield from leaves(child, (*path, name))


def arguments(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions
            if not isinstance(a, argparse._HelpAction | argparse._SubParsersAction) and a.nargs != 0]


@pytest.fixture
def files(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("hostile-files")

    def write(name: str, data: bytes) -> str:
        (folder / name).write_bytes(data)
        return str(folder / name)

    (folder / "a-directory").mkdir()
    return {
        "valid": write("valid.json", json.dumps(application_2021()).encode()),
        "missing": str(folder / "does-not-exist.json"),
        "directory": str(folder / "a-directory"),
        "nested": write("nested.json", b"[" * 100_000),
        "nested-object": write("nested-object.json", b'{"a":' * 100_000),
        "nul": write("nul.json", b'{"call_id": "export\x00"}'),
        "nul-escaped": write("nul-escaped.json", json.dumps({**application_2021(), "call_id": "x\u0000"}).encode()),
        "invalid-utf8": write("invalid-utf8.json", b'{"call_id": "\xff\xfe"}'),
        "utf16": write("utf16.json", codecs.BOM_UTF16_LE + json.dumps(application_2021()).encode("utf-16-le")),
        "empty": write("empty.json", b""),
        "array": write("array.json", b"[1, 2]"),
    }


def hostile_values(action: argparse.Action, files: dict[str, str]) -> list[str]:
    """What a careless or hostile person types for this argument."""
    if action.type is int:
        return ["", "abc", "1.5", "-1", "99999999999999999999999"]
    if action.choices is not None:
        return ["", "no-such-choice"]
    if action.dest == "data":
        return ["", "[" * 100_000, '{"a":' * 50_000, "[1, 2]", "{not json", '{"unknown": 1}', "@",
                *(f"@{path}" for name, path in files.items() if name != "valid")]
    if action.dest == "case":
        return ["", " ", "x", "2025-42", "../../etc/passwd", "2099-99999\n"]
    if action.dest == "actor":
        return ["", "officer", "officer:", ":anna", "officer:19121212-1212"]
    if action.dest in ("received", "imported_received"):
        return ["", "yesterday", "2021-03-01T10:00:00", "9999-12-31T23:30:00+00:00", "2030-01-01T00:00:00+01:00"]
    if action.dest in ("file", "out"):
        return ["", *(path for name, path in files.items() if name != "valid")]
    return ["", "x" * 10_000, "\u202e", "-"]


def baseline(parser: argparse.ArgumentParser, files: dict[str, str]) -> dict[argparse.Action, str]:
    """A stand-in for every required argument."""
    required = {}
    for action in arguments(parser):
        if action.required or (not action.option_strings and action.nargs is None):
            required[action] = files["valid"] if action.dest == "file" else NEUTRAL.get(action.dest, "x")
    return required


def argv(path: tuple[str, ...], values: dict[argparse.Action, str]) -> list[str]:
    args = list(path)
    positionals = [(a, v) for a, v in values.items() if not a.option_strings]
    for action, value in values.items():
        if action.option_strings:
            args += [f"{action.option_strings[0]}={value}"]  # "=": a value may begin with "-"
    # After "--", a positional that begins with "-" is still a value, not an option.
    return [*args, "--", *(v for _, v in positionals)] if positionals else args


def runs(files: dict[str, str]) -> Iterator[tuple[tuple[str, ...], list[str]]]:
    for leaf in leaves(build_parser()):
        yield leaf.path, list(leaf.path)  # bare: missing arguments
        required = baseline(leaf.parser, files)
        for action in arguments(leaf.parser):
            for value in hostile_values(action, files):
                # A positional with nargs="?" and others: keep the order of the parser's own list.
                values = {a: (value if a is action else required[a])
                          for a in arguments(leaf.parser) if a is action or a in required}
                yield leaf.path, argv(leaf.path, values)


def run_in_process(args: list[str], capsys) -> tuple[int, str, str]:
    try:
        code = main(args)
    except SystemExit as exit_:  # argparse's own refusal
        code = exit_.code if isinstance(exit_.code, int) else 2
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def nowhere(tmp_path, monkeypatch) -> Path:
    """An empty folder to run from, no GRANTFLOW_* settings, and no running grantflow recorded."""
    for name in list(os.environ):
        if name.startswith("GRANTFLOW_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return cwd


def test_the_walk_finds_every_command():
    found = {leaf.path for leaf in leaves(build_parser())}
    assert {("act",), ("submit",), ("case",), ("cases",), ("letters",), ("validate",), ("bank-file", "export"),
            ("bank-file", "show"), ("archive", "show"), ("archive", "replay"), ("db", "upgrade"), ("up",)} <= found


def test_no_hostile_argument_gets_a_traceback_or_makes_anything_where_it_is_run(nowhere, files, capsys):
    failures = []
    tried = 0
    for path, args in runs(files):
        if path in SERVERS:
            try:
                build_parser().parse_args(args)
            except SystemExit:
                pass  # refused by argparse: safe to run
            else:
                continue
        code, out, err = run_in_process(args, capsys)
        tried += 1
        allowed = {0, 1, 2, 3} if path in READ_ONLY or args == list(path) else {1, 2, 3}
        lines = [line for line in err.splitlines() if line.startswith("error:")]
        problem = None
        if "Traceback" in out + err:
            problem = "a traceback"
        elif code not in allowed:
            problem = f"exit {code}"
        elif code == 3 and lines != [f"error: {NO_STACK}"]:
            problem = "not the one line that says there is no running grantflow"
        elif code == 2 and not err.strip():
            problem = "exit 2 without saying why"
        if problem:
            shown = [a if len(a) < 60 else a[:40] + f"…({len(a)} chars)" for a in args]
            failures.append(f"{shown}: {problem}, exit {code}\n{err[-800:]}")
    assert tried > 150
    assert not failures, f"{len(failures)} of {tried}:\n" + "\n".join(failures[:20])
    assert list(nowhere.iterdir()) == [], "a command made something in the folder it was run from"


def test_the_worker_without_a_database_says_so_in_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRANTFLOW_")}
    result = subprocess.run([sys.executable, "-m", "cli.main", "worker"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=60, env=env | {"XDG_STATE_HOME": str(tmp_path / "state"),
                                                              "PYTHONPATH": str(ROOT)})
    assert "Traceback" not in result.stderr
    assert result.returncode in (2, 3) and "GRANTFLOW_DATABASE_URL" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["act", "2021-00001", "score", "--as", "officer:anna", "--data", "[" * 100_000],
         "error: --data: ogiltig JSON: för djupt nästlad (rad 1, kolumn 202)"),
        (["act", "", "score", "--as", "officer:anna"],
         "error: NUMBER: '' är inget ärendenummer (ÅÅÅÅ-NNNNN, t.ex. 2025-00042)"),
        (["case", ""], "error: NUMBER: '' är inget ärendenummer"),
        (["letters", ""], "error: NUMBER: '' är inget ärendenummer"),
        (["payouts", "--case", ""], "error: --case: '' är inget ärendenummer"),
        (["submit", "/nonexistent.json"], "error: FILE: '/nonexistent.json' kan inte läsas: filen finns inte"),
        (["cases"], f"error: {NO_STACK}"),
    ],
)
def test_what_issue_18_saw_from_a_real_terminal(tmp_path, args, expected):
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRANTFLOW_")}
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    result = subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=cwd, capture_output=True, text=True,
                            timeout=60, env=env | {"XDG_STATE_HOME": str(tmp_path / "state"),
                                                   "PYTHONPATH": str(ROOT)})
    assert "Traceback" not in result.stderr
    assert result.returncode in (2, 3)
    assert result.stderr.splitlines() == [result.stderr.strip()] and expected in result.stderr, result.stderr
    assert list(cwd.iterdir()) == []


def test_an_unexpected_fault_is_one_line_and_its_traceback_goes_to_the_error_log(nowhere, monkeypatch, capsys):
    def broken(args: argparse.Namespace) -> int:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr("cli.main._cmd_calls", broken)
    code, out, err = run_in_process(["calls"], capsys)
    log = nowhere.parent / "state" / "grantflow" / "errors.log"
    assert code == 4 and out == ""
    assert err == f"error: internal error (ZeroDivisionError); details in {log}\n"
    assert "Traceback" in log.read_text() and "ZeroDivisionError: a bug" in log.read_text()
