"""Schemathesis against the API's own OpenAPI document, signed in as each role and as no one.

The app is served by uvicorn on a free loopback port, over the real Temporal dev server, worker and
PostgreSQL of the `api` fixture, with one real case in the register so that generated requests reach
real data as well as made-up case numbers. The schemathesis CLI runs once per role as a subprocess
(the event loop keeps serving meanwhile); the test fails when any run finds a 5xx or an answer that
its operation does not document (status code, content type, or body).
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import schemathesis
import uvicorn
from psycopg_pool import AsyncConnectionPool

from api.app import create_app
from api.auth import ApiRole
from api.routes.records import RateLimit
from infra.settings import Settings
from tests.api.conftest import Api
from tests.api.submitting import EXPORT_2021, REGIONAL_2021, applicant, application_for, open_call, submit_json

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
MAX_EXAMPLES = 8  # per operation a role reaches, in the fuzzing phase
MAX_EXAMPLES_REFUSED = 2  # per operation that answers the role 401/403 whatever it sends
ROLES: list[ApiRole | None] = [*ApiRole, None]  # None: the public, signed in as no one
PARALLEL_RUNS = 4  # of the eight; more only queue behind the one event loop that serves them
UNKNOWN_CASE = "2026-99999"
RUN_TIMEOUT = 600  # seconds for one role's run; under a minute or two on two busy cores


def config(case_number: str, refused: list[str]) -> str:
    """A schemathesis.toml: the real case (or one that does not exist) in half of the generated case numbers;
    the operations that refuse the role whatever it sends get a few examples and no coverage phase."""
    lines = [
        "[generation]", f"max-examples = {MAX_EXAMPLES}", "",
        "[dictionaries.case-numbers]", f'values = ["{case_number}", "{UNKNOWN_CASE}"]', "",
        "[parameters]",
        '"path.case_number" = { dictionary = "case-numbers", probability = 0.5 }',
        '"body.case_number" = { dictionary = "case-numbers", probability = 0.5 }', "",
    ]
    if refused:
        lines += ["[[operations]]", f"include-operation-id = {json.dumps(refused)}",
                  f"generation.max-examples = {MAX_EXAMPLES_REFUSED}", "phases.coverage.enabled = false", ""]
    return "\n".join(lines)


def command(config_file: Path, base_url: str, token: str | None) -> list[str]:
    """One role's run. Deterministic: the same requests every time (no seed, no example database)."""
    auth = ["-H", f"Authorization: Bearer {token}"] if token else []
    return [sys.executable, "-m", "schemathesis.cli", "--config-file", str(config_file), "--no-color",
            "run", f"{base_url}/openapi.json", "--checks", CHECKS, "--phases", "examples,coverage,fuzzing",
            "--generation-deterministic", "--no-shrink", "--request-timeout", "30", *auth]


async def refused_operations(api: Api, token: str | None) -> list[str]:
    """The operation ids that answer 401 or 403 to this token for a case that does not exist and an empty body:
    the role has no business there, and one code path answers all of it."""
    auth = api.auth(token) if token else {}
    refused = []
    for path, operations in api.app.openapi()["paths"].items():
        url = re.sub(r"\{(\w+)\}", lambda m: UNKNOWN_CASE if m[1] == "case_number" else "1", path)
        for method, operation in operations.items():
            response = await api.http.request(method.upper(), url, headers=auth,
                                              json={} if method in ("post", "put", "patch") else None)
            if response.status_code in (401, 403):
                refused.append(operation["operationId"])
    return refused


async def _serve(api: Api) -> tuple[uvicorn.Server, asyncio.Task[None], str]:
    # The fixture has already run the app's lifespan (its Temporal client, pool and sign-in): uvicorn must not.
    server = uvicorn.Server(uvicorn.Config(api.app, lifespan="off", log_level="warning", access_log=False))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    return server, task, f"http://127.0.0.1:{port}"


async def _run(cmd: list[str], cwd: Path, gate: asyncio.Semaphore) -> tuple[int, str]:
    async with gate:
        started = time.monotonic()
        process = await asyncio.create_subprocess_exec(*cmd, cwd=cwd, stdout=asyncio.subprocess.PIPE,
                                                       stderr=asyncio.subprocess.STDOUT)
        try:
            output, _ = await asyncio.wait_for(process.communicate(), RUN_TIMEOUT)
        except TimeoutError:
            process.kill()
            output, _ = await process.communicate()
            return -1, f"no answer within {RUN_TIMEOUT} s; stopped\n" + output.decode(errors="replace")
    return process.returncode or 0, f"took {time.monotonic() - started:.0f} s\n" + output.decode(errors="replace")


async def test_schemathesis_finds_no_server_error_and_no_answer_outside_the_document(api: Api,
                                                                                    tmp_path: Path) -> None:
    call, days = open_call(api, EXPORT_2021)
    data = application_for(api, REGIONAL_2021, call, days)
    token = applicant(api, data)
    submitted = await submit_json(api, token, data)
    assert submitted.status_code == 201, submitted.text
    case_number = submitted.json()["case_number"]
    await api.harness.settled(case_number)

    # The applicant is the case's own organisation; staff are whoever their role makes them.
    tokens = {role: token if role is ApiRole.APPLICANT else api.token(role) if role else None for role in ROLES}
    configs, refused = {}, {}
    for role in ROLES:
        refused[role] = await refused_operations(api, tokens[role])
        configs[role] = tmp_path / f"{role.value if role else 'public'}.toml"
        configs[role].write_text(config(case_number, refused[role]), encoding="utf-8")

    # Every run comes from 127.0.0.1: under the anonymous routes' per-address limit most of their requests
    # would be answered 429 (documented) before reaching a case.
    api.app.state.records_rate_limit = RateLimit(per_minute=1_000_000)
    server, serving, base_url = await _serve(api)
    gate = asyncio.Semaphore(PARALLEL_RUNS)
    started = time.monotonic()
    try:
        runs = await asyncio.gather(*(_run(command(configs[role], base_url, tokens[role]), tmp_path, gate)
                                      for role in ROLES))
    finally:
        server.should_exit = True
        await serving
    took = time.monotonic() - started
    failed = [f"--- as {role.value if role else 'no one'} (exit {code}) ---\n{output}"
              for role, (code, output) in zip(ROLES, runs, strict=True) if code != 0]
    assert not failed, f"schemathesis found problems ({took:.0f} s):\n" + "\n".join(failed)
    print(f"schemathesis: {len(ROLES)} runs in {took:.0f} s; operations refusing each role: "
          + ", ".join(f"{role.value if role else 'no one'} {len(refused[role])}" for role in ROLES))


def assert_documented(document: dict[str, Any], path: str, response: httpx.Response) -> None:
    """The answer's status code and media type are documented for its operation, and its body fits the schema."""
    method = response.request.method
    answers = document["paths"][path][method.lower()]["responses"]
    assert str(response.status_code) in answers, (method, path, response.status_code)
    media_type = response.headers["content-type"].partition(";")[0]
    assert media_type in answers[str(response.status_code)]["content"], (method, path, media_type)
    schemathesis.openapi.from_dict(document)[path][method].validate_response(response)


async def test_the_answers_schemathesis_cannot_provoke_are_documented_too(api: Api) -> None:
    document = api.app.openapi()

    # A body neither JSON nor multipart: schemathesis sends only the media types the document offers.
    token = api.token("applicant")
    unsupported = await api.as_(token, "POST", "/applications", content=b"ansokan",
                                headers={"Content-Type": "text/plain"})
    assert unsupported.status_code == 415, unsupported.text
    assert_documented(document, "/applications", unsupported)

    # Not ready: a database that does not answer (a pool never opened), with Temporal up.
    closed = AsyncConnectionPool(api.harness.database_url, open=False)
    settings = Settings(database_url=api.harness.database_url, task_queue=api.harness.task_queue)
    app = create_app(settings, client=api.harness.client, pool=closed, catalog=api.harness.catalog)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://grantflow.test") as http:
        not_ready = await http.get("/readyz")
    assert not_ready.status_code == 503, not_ready.text
    assert not_ready.json() == {"status": "not ready", "checks": {"temporal": "ok", "database": "failing"}}
    assert_documented(document, "/readyz", not_ready)
