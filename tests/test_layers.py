"""Every package's imports point one way: down towards the domain.

Plumbing (`infra/`: settings, the Temporal connection, the data converter, the call files) sits
below the activities and the worker that use it; what people can do (`services/`) sits above the
workflows it starts; the API, the embedded stack of `up` and the CLI sit on top.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Lowest first: a package may import itself and what stands before it, never what comes after.
LAYERS = ["domain", "infra", "activities", "workflows", "worker", "services", "api", "stack", "cli"]
MAY_IMPORT = {package: set(LAYERS[: i + 1]) for i, package in enumerate(LAYERS)}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & set(MAY_IMPORT)


@pytest.mark.parametrize("package", sorted(MAY_IMPORT))
def test_imports_point_down(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files or package == "api", f"{package}/ has no modules"
    upward = {str(f.relative_to(ROOT)): sorted(_imports(f) - MAY_IMPORT[package]) for f in files}
    assert {f: up for f, up in upward.items() if up} == {}
