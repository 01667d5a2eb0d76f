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

Two changes to the SDK's interceptor make a click one trace rather than two (`_CaseTracing`):
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
from datetime import datetime, timedelta
from typing import Any

import opentelemetry.context
import opentelemetry.trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from temporalio import workflow
from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor, TracingWorkflowInboundInterceptor

# Private parts of the SDK's interceptor, which it tells users to subclass; pinned by temporalio<2.
from temporalio.contrib.opentelemetry._context import attached_context as _attached
from temporalio.contrib.opentelemetry._interceptor import _CompletedWorkflowSpanParams
from temporalio.worker import HandleUpdateInput, WorkflowInterceptorClassInput

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")

# How long after an update a case's main loop still acts on it: its effects follow in milliseconds
# (or after a workflow task timeout, 10 s, when a worker died on the way).
CAUSE_WINDOW = timedelta(minutes=1)

_provider: TracerProvider | None = None
_FROM_UPDATE = opentelemetry.context.create_key("grantflow_update_handler")


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
    # Imported here: an exporter that is never used costs nothing at import either.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

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
    return [] if _provider is None else [CaseTracingInterceptor(_provider.get_tracer("grantflow"))]


def worker_interceptors(client: Client) -> list[TracingInterceptor]:
    """For a Worker on `client`: the tracing interceptor, unless the client brings one (or tracing is off).

    The SDK gives a worker its client's interceptors; the same one twice would make every span twice.
    """
    if _provider is None or any(isinstance(i, TracingInterceptor) for i in client.config()["interceptors"]):
        return []
    return client_interceptors()


class CaseTracingInterceptor(TracingInterceptor):
    """The SDK's TracingInterceptor, with its workflow side tying an update's work to the update."""

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[TracingWorkflowInboundInterceptor]:
        super().workflow_interceptor_class(input)  # registers the span-making function the workflow calls
        return _CaseTracing


class _CaseTracing(TracingWorkflowInboundInterceptor):
    def __init__(self, next: Any) -> None:
        super().__init__(next)
        # The context of the last update handled live, and when: what the main loop does next is its doing.
        self._cause: tuple[opentelemetry.context.Context, datetime] | None = None

    def _client_context(self, input: HandleUpdateInput) -> opentelemetry.context.Context | None:
        header = input.headers.get(self.header_key)
        if not header:
            return None
        carrier = self.payload_converter.from_payloads([header])[0]
        return self._set_on_context(self.text_map_propagator.extract(carrier)) if carrier else None

    def handle_update_validator(self, input: HandleUpdateInput) -> None:
        context = self._client_context(input)
        if context is None:
            return super().handle_update_validator(input)
        with _attached(context):
            self._completed_span(f"ValidateUpdate:{input.update}", kind=opentelemetry.trace.SpanKind.SERVER)
            self.next.handle_update_validator(input)

    async def handle_update_handler(self, input: HandleUpdateInput) -> Any:
        context = self._client_context(input)
        if context is None or workflow.unsafe.is_replaying():
            return await super().handle_update_handler(input)
        carrier: dict[str, Any] = {}
        self.text_map_propagator.inject(carrier, context)
        info = workflow.info()
        span = self._extern_functions["__temporal_opentelemetry_completed_span"](
            _CompletedWorkflowSpanParams(
                context=carrier, name=f"HandleUpdate:{input.update}",
                attributes={"temporalWorkflowID": info.workflow_id, "temporalRunID": info.run_id,
                            "temporalUpdateID": input.id},
                time_ns=workflow.time_ns(), link_context=None, exception=None,
                kind=opentelemetry.trace.SpanKind.SERVER, parent_missing=False,
            )
        )
        if not span:
            return await super().handle_update_handler(input)
        handling = self._set_on_context(self.text_map_propagator.extract(span))
        self._cause = (handling, workflow.now())
        with _attached(opentelemetry.context.set_value(_FROM_UPDATE, True, handling)):
            return await self.next.handle_update_handler(input)

    def _completed_span(self, span_name: str, **kwargs: Any) -> None:
        # An activity the main loop starts soon after an update: a child of that update's span.
        cause = self._cause
        if (span_name.startswith("StartActivity:") and cause is not None
                and opentelemetry.context.get_value(_FROM_UPDATE) is None
                and workflow.now() - cause[1] <= CAUSE_WINDOW):
            with _attached(cause[0]):
                return super()._completed_span(span_name, **kwargs)
        return super()._completed_span(span_name, **kwargs)

