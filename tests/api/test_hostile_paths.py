"""What a careless or hostile client puts in a path or a query: a clear 4xx, never a 500.

PostgreSQL's text cannot hold NUL, and a lone surrogate cannot be encoded: a value that reaches a
query with either must be refused before it does, naming what was wrong.
"""

from __future__ import annotations

import pytest

from api.auth import ApiRole
from tests.api.conftest import Api

# Every path with a text parameter, asked by a role that may reach it.
PATHS = [
    (ApiRole.OFFICER, "/calls/{x}"),
    (ApiRole.OFFICER, "/calls/{x}/state-aid.csv"),
    (ApiRole.OFFICER, "/state-aid/{x}"),
    (ApiRole.OFFICER, "/cases/{x}"),
    (ApiRole.OFFICER, "/cases/{x}/history"),
    (ApiRole.AUDITOR, "/cases/{x}/story"),
    (ApiRole.OFFICER, "/cases/{x}/attachments"),
    (ApiRole.OFFICER, "/records-requests/2026-00001/{x}"),
    (ApiRole.OFFICER, "/records-requests/{x}/abc"),
    (ApiRole.FINANCE, "/bank-files/{x}"),
    (ApiRole.OFFICER, "/inbox?call={x}"),
    (ApiRole.OFFICER, "/inbox?q={x}"),
    (ApiRole.OFFICER, "/inbox?officer={x}"),
    (ApiRole.OFFICER, "/inbox?cursor={x}"),
]
VALUES = ["%00", "a%00b", "%1B%5B2J", "%ED%A0%80", "%C3%28", "x" * 5000, "..%2F..%2Fetc%2Fpasswd"]


@pytest.mark.parametrize("value", VALUES, ids=["nul", "nul-inside", "escape", "surrogate", "bad-utf8", "long", "dots"])
async def test_no_text_in_a_path_or_query_makes_a_500(api: Api, value: str) -> None:
    for role, path in PATHS:
        response = await api.as_(api.token(role), "GET", path.format(x=value))
        # A filter that matches nothing is an empty page; anything else is refused, as a problem.
        assert response.status_code < 500, (path, value, response.status_code, response.text[:300])
        if response.status_code >= 400:
            assert response.headers["content-type"].startswith("application/problem+json"), (path, value)
        else:
            assert path.startswith("/inbox?") and response.json()["cases"] == [], (path, value, response.text[:300])
