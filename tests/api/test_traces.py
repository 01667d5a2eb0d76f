"""Traces: an officer's click is one trace, from the HTTP request through the update, the workflow and
its activity to the SQL statements (infra/tracing.py).

The real dev server, the real PostgreSQL, and the worker as deployed: unsandboxed (decision 9), with
the tracing interceptor it gets from its client. Spans go to an in-memory exporter instead of OTLP.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from api.app import create_app
from infra import tracing
from infra.settings import Settings
from tests.api.conftest import Api, serve_api
from tests.api.test_actions import open_case, post

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    tracing.start(provider)  # before the pools and the client: what is opened later is traced
    try:
        yield spans
    finally:
        tracing.stop()
        provider.shutdown()


# The deployed worker's runner (no sandbox, decision 9), and the tests' sandbox.
@pytest.fixture(params=[False, True], ids=["unsandboxed", "sandboxed"])
async def traced_api(request: pytest.FixtureRequest, db: str, exporter: InMemorySpanExporter) -> AsyncIterator[Api]:
    options = {"strict": request.param, "interceptors": tracing.client_interceptors()}
    async for served in serve_api(db, harness_options=options):
        yield served


def _parent(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> ReadableSpan | None:
    return by_id.get(span.parent.span_id) if span.parent is not None else None


def _ancestors(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> list[ReadableSpan]:
    chain = []
    while (parent := _parent(span, by_id)) is not None:
        chain.append(parent)
        span = parent
    return chain


async def test_an_officers_click_is_one_trace_down_to_the_sql(traced_api: Api,
                                                               exporter: InMemorySpanExporter) -> None:
    api = traced_api
    number = await open_case(api)
    anna = api.token("officer", "anna")
    exporter.clear()

    reviewed = await post(api, anna, number, "record-secrecy-review", {"rulings": []})
    assert reviewed.status_code == 200, reviewed.json()
    await api.harness.settled(number)  # the register written after the answer (decision 9)

    spans = list(exporter.get_finished_spans())
    http = [s for s in spans if s.kind is SpanKind.SERVER and s.name.startswith("POST /cases/")]
    assert len(http) == 1, [s.name for s in spans]
    trace_id = http[0].context.trace_id
    mine = [s for s in spans if s.context.trace_id == trace_id]
    by_id = {s.context.span_id: s for s in mine}
    names = sorted(s.name for s in mine)

    def one(name: str) -> ReadableSpan:
        found = [s for s in mine if s.name == name]
        assert len(found) == 1, (name, names)
        return found[0]

    update = one("StartWorkflowUpdate:record_secrecy_review")
    handled = one("HandleUpdate:record_secrecy_review")
    assert http[0] in _ancestors(update, by_id)
    assert _parent(handled, by_id) is update
    assert one("ValidateUpdate:record_secrecy_review").parent.span_id == update.context.span_id  # type: ignore[union-attr]
    # The register write the case's main loop does for the update, after it has answered.
    run = one("RunActivity:write")
    started = _parent(run, by_id)
    assert started is not None and started.name == "StartActivity:write"
    assert _parent(started, by_id) is handled
    assert run.attributes is not None and run.attributes["temporalWorkflowID"] == number
    sql = [s for s in mine if _parent(s, by_id) is run]
    assert sql, names
    # Statements with their placeholders, never the values (the instrumentation's default).
    texts = [str((s.attributes or {}).get("db.statement") or (s.attributes or {}).get("db.query.text")) for s in sql]
    assert all(s.kind is SpanKind.CLIENT for s in sql) and any("UPDATE cases" in t for t in texts), texts
    assert not any(number in t for t in texts), texts
    # The chain, end to end: the SQL of the write leads back to the officer's request.
    assert http[0] in _ancestors(sql[0], by_id)

    # A search's words (applicants' names) stay out of the trace; the request is still there.
    exporter.clear()
    searched = await api.as_(anna, "GET", "/inbox?q=Kalmar%20Innovation&stage=assessment")
    assert searched.status_code == 200, searched.json()
    served = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER]
    assert [s.name for s in served] == ["GET /inbox"]
    recorded = " ".join(str(value) for value in (served[0].attributes or {}).values())
    assert "/inbox" in recorded and "Kalmar" not in recorded and "assessment" not in recorded, recorded


async def test_without_an_endpoint_tracing_is_off(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in tracing.ENDPOINT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert tracing.start_from_env("grantflow-test") is None
    # Nothing installed: no interceptor for the client (nor so for its workers), no middleware.
    assert tracing.provider() is None and tracing.client_interceptors() == []
    assert not getattr(create_app(Settings()), "_is_instrumented_by_opentelemetry", False)
    # Not even loaded: a CLI command or a worker without an endpoint imports no SDK, exporter,
    # instrumentation or tracing interceptor (FastAPI itself imports OpenTelemetry's API).
    loaded = ("opentelemetry.sdk", "opentelemetry.exporter", "opentelemetry.instrumentation",
              "temporalio.contrib.opentelemetry", "infra.tracing_interceptor")
    script = ("import sys, api.app, infra.temporal, worker.main\n"
              f"loaded = [m for m in sys.modules if m.startswith({loaded!r})]\n"
              "assert not loaded, loaded\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    assert tracing.configured({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert not tracing.configured({"OTEL_EXPORTER_OTLP_ENDPOINT": " "})


class _Collector(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_with_an_endpoint_spans_go_to_the_collector_over_otlp_http() -> None:
    """A process started with OTEL_EXPORTER_OTLP_ENDPOINT exports its spans there (a subprocess: the
    global tracer provider can be set once per process)."""
    server = HTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    script = (
        "from infra import tracing\n"
        "provider = tracing.start_from_env('grantflow-probe')\n"
        "assert provider is not None and tracing.client_interceptors()\n"
        "with provider.get_tracer('probe').start_as_current_span('probe-span'): pass\n"
        "assert provider.force_flush(30_000)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, timeout=120)
    finally:
        server.shutdown()
        thread.join(timeout=10)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    assert [path for path, _ in _Collector.received] == ["/v1/traces"]
    body = _Collector.received[0][1]
    assert b"probe-span" in body and b"grantflow-probe" in body
