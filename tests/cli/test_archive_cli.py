"""`grantflow archive` from a shell: bad input is exit 2 with a message, never a traceback.

(Showing and replaying archived cases, on a real database, is in tests/workflows/test_archive.py.)
"""

from __future__ import annotations

import pytest

from tests.cli.test_cli import grantflow


@pytest.mark.parametrize("command", ["show", "replay"])
def test_a_malformed_case_number_is_refused_before_anything_is_opened(command, tmp_path):
    # No database is configured: the number is refused before one would be looked for.
    result = grantflow("archive", command, "2025-42", env={"GRANTFLOW_DATA_DIR": str(tmp_path / "data")})
    assert result.returncode == 2
    assert "error: NUMBER: '2025-42' is not a case number" in result.stderr
    assert not (tmp_path / "data").exists()


def test_archive_needs_a_subcommand():
    result = grantflow("archive")
    assert result.returncode == 2 and "show" in result.stderr and "replay" in result.stderr
