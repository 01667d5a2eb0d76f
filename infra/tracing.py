"""Traces: an officer's click as one OpenTelemetry trace, from the HTTP request to the SQL statements.

Off unless an OTLP endpoint is configured with OpenTelemetry's own variables
(OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT; the exporter reads the rest,
e.g. OTEL_EXPORTER_OTLP_HEADERS, itself). Off, nothing is installed: no interceptor on the client
or the worker, no instrumented connections, no middleware, so no cost.

On, a process (`start_from_env`) gets:
- the Temporal SDK's TracingInterceptor on its client (a worker built on that client gets it too):
  StartWorkflowUpdate on the client, HandleUpdate / StartActivity in the workflow, RunActivity in
  the activity worker, carried from one to the next in Temporal headers;
- psycopg's instrumentation: one span per SQL statement, its text but never its parameters;
- FastAPI's, in `api.app`: one span per HTTP request.

Two changes to the SDK's interceptor make a click one trace rather than two (infra/tracing_interceptor.py):
- An update's spans are children of the client's update span. The SDK makes them children of the
  span that *started* the workflow, months ago for a case, and only links the update's.
- What a case does because of an update happens in its main loop, after the answer (decision 9:
  the register is written after a 1 ms timer): activities started there within `CAUSE_WINDOW` of
  an update count as its children. Later ones (a deadline, a retry after the worker was down)
  stay where the SDK puts them.

Workflow spans are zero-length and not made on replay (the SDK's way); they carry ids only, never
a payload, as do the SQL spans: statements with placeholders, never their values.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

# Nothing of OpenTelemetry is imported until tracing is turned on: a process that does not trace
# (every CLI command, a worker without an endpoint) does not load it.
if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from temporalio.client import Client
    from temporalio.contrib.opentelemetry import TracingInterceptor

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")

_provider: TracerProvider | None = None


def configured(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether an OTLP endpoint is set: traces are exported only then."""
    return any(environ.get(name, "").strip() for name in ENDPOINT_VARIABLES)


def start_from_env(service_name: str, environ: Mapping[str, str] = os.environ) -> TracerProvider | None:
    """Turn tracing on for this process if an OTLP endpoint is configured; None (and nothing done) if not.

    Call it before the process connects to Temporal and opens its database pool: connections opened
    earlier are not traced. OTEL_SERVICE_NAME, if set, names the process instead of `service_name`.
    """
    if not configured(environ):
        return None
    import opentelemetry.trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    name = environ.get("OTEL_SERVICE_NAME", "").strip() or service_name
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))  # it reads its OTEL_* variables
    opentelemetry.trace.set_tracer_provider(provider)
    start(provider)
    return provider


def start(provider: TracerProvider) -> None:
    """Trace with `provider` (tests give one with an in-memory exporter); `stop` undoes it."""
    global _provider
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor

    if _provider is not None:
        stop()
    PsycopgInstrumentor().instrument(tracer_provider=provider, skip_dep_check=True)
    _provider = provider


def stop() -> None:
    global _provider
    if _provider is None:
        return
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor

    PsycopgInstrumentor().uninstrument()
    _provider = None


def provider() -> TracerProvider | None:
    """The provider traces go to, or None when tracing is off."""
    return _provider


def client_interceptors() -> list[TracingInterceptor]:
    """For Client.connect: the tracing interceptor when tracing is on, else none."""
    if _provider is None:
        return []
    from infra.tracing_interceptor import CaseTracingInterceptor

    return [CaseTracingInterceptor(_provider.get_tracer("grantflow"))]


def worker_interceptors(client: Client) -> list[TracingInterceptor]:
    """For a Worker on `client`: the tracing interceptor, unless the client brings one (or tracing is off).

    The SDK gives a worker its client's interceptors; the same one twice would make every span twice.
    """
    if _provider is None:
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    if any(isinstance(i, TracingInterceptor) for i in client.config()["interceptors"]):
        return []
    return client_interceptors()
