"""The example applications in examples/ say what the manifest says they say.

Each entry of examples/manifest.toml is run through the real command line
(`python -m cli.main validate ... --json`), so the examples double as an end-to-end
check of reading, validating and reporting an application.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
MANIFEST = EXAMPLES / "manifest.toml"

EXIT_CODES = {"eligible": 0, "ineligible": 1}
ENTRY_KEYS = {"file", "call", "received", "expected"}
OPTIONAL_KEYS = {"rules", "warnings"}


def _entries() -> list[dict[str, Any]]:
    with MANIFEST.open("rb") as f:
        return list(tomllib.load(f)["examples"])


ENTRIES = _entries()


def _id(entry: dict[str, Any]) -> str:
    return f"{entry['file']}@{entry['received']}"


def _validate(entry: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable,
        "-m",
        "cli.main",
        "validate",
        "--call",
        entry["call"],
        str(EXAMPLES / entry["file"]),
        "--received",
        entry["received"],
        "--json",
    ]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)


def test_manifest_is_not_empty() -> None:
    assert ENTRIES, "examples/manifest.toml lists no examples"


@pytest.mark.parametrize("entry", ENTRIES, ids=_id)
def test_example(entry: dict[str, Any]) -> None:
    # The manifest entry itself is well formed.
    assert ENTRY_KEYS <= entry.keys() <= ENTRY_KEYS | OPTIONAL_KEYS, f"unexpected keys: {sorted(entry)}"
    expected = entry["expected"]
    assert expected in EXIT_CODES
    path = Path(entry["file"])
    assert (EXAMPLES / path).is_file(), f"{path} does not exist"
    assert path.name.split("-", 1)[0] == expected, f"{path.name} does not start with {expected}-"
    assert path.parts[0] == entry["call"], f"{path} is not in the directory of call {entry['call']}"
    expected_errors = set(entry.get("rules", []))
    expected_warnings = set(entry.get("warnings", []))
    if expected == "ineligible":
        assert expected_errors, "an ineligible example must name the rule(s) it breaks"
    else:
        assert not expected_errors, "an eligible example cannot expect errors"

    result = _validate(entry)

    assert result.returncode == EXIT_CODES[expected], (
        f"exit code {result.returncode}, expected {EXIT_CODES[expected]}\n"
        f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    )
    output = json.loads(result.stdout)
    assert set(output) == {"eligible", "findings"}
    assert output["eligible"] is (expected == "eligible")
    for finding in output["findings"]:
        assert set(finding) == {"rule", "severity", "field", "message"}, finding
        assert finding["severity"] in {"error", "warning"}, finding

    errors = {f["rule"] for f in output["findings"] if f["severity"] == "error"}
    warnings = {f["rule"] for f in output["findings"] if f["severity"] == "warning"}
    if expected == "eligible":
        assert not errors, f"an eligible example has errors: {output['findings']}"
    assert expected_errors <= errors, f"missing errors {sorted(expected_errors - errors)}: {output['findings']}"
    assert expected_warnings <= warnings, (
        f"missing warnings {sorted(expected_warnings - warnings)}: {output['findings']}"
    )


def test_some_eligible_example_has_no_findings_at_all() -> None:
    clean = [e for e in ENTRIES if e["expected"] == "eligible" and not e.get("warnings")]
    assert clean, "no eligible example is expected to be free of findings"
    result = _validate(clean[0])
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["findings"] == []


def test_every_example_file_is_in_the_manifest() -> None:
    on_disk = {p.relative_to(EXAMPLES).as_posix() for p in EXAMPLES.rglob("*.json")}
    listed = {e["file"] for e in ENTRIES}
    assert on_disk - listed == set(), "example files missing from examples/manifest.toml"
    assert listed - on_disk == set(), "manifest entries without a file"
