"""Validate every example in manifest.toml and print one line per example (used by scripts/up)."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

from domain.findings import Severity
from infra.calls import default_catalog
from services.applications import check_application, parse_instant

HERE = Path(__file__).parent


def main() -> int:
    catalog = default_catalog()
    entries = tomllib.loads((HERE / "manifest.toml").read_text(encoding="utf-8"))["examples"]
    disagreements = 0
    for entry in entries:
        checked = check_application(
            catalog,
            (HERE / entry["file"]).read_bytes(),
            call_id=entry["call"],
            received_at=parse_instant(entry["received"]),
        )
        verdict = checked.verdict
        said = "eligible" if verdict.eligible else "ineligible"
        disagreements += said != entry["expected"]
        rules = ", ".join(f"{f.rule}{'' if f.severity is Severity.ERROR else ' (varning)'}" for f in verdict.findings)
        print(f"{said:<10}  {entry['file']}  received {entry['received']}  {rules}")
    return 1 if disagreements else 0


if __name__ == "__main__":
    sys.exit(main())
