"""The Temporal SDK's tracing interceptor, made to keep an officer's click in one trace (see infra/tracing.py).

Imported only when tracing is on: the SDK's OpenTelemetry module and the worker's modules it pulls in
are not loaded by a process that does not trace.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import opentelemetry.context
import opentelemetry.trace
from temporalio import workflow
from temporalio.contrib.opentelemetry import TracingInterceptor, TracingWorkflowInboundInterceptor

# Private parts of the SDK's interceptor, which it tells users to subclass; pinned by temporalio<2.
from temporalio.contrib.opentelemetry._context import attached_context as _attached
from temporalio.contrib.opentelemetry._interceptor import _CompletedWorkflowSpanParams
from temporalio.worker import HandleUpdateInput, WorkflowInterceptorClassInput

# How long after an update a case's main loop still acts on it: its effects follow in milliseconds
# (or after a workflow task timeout, 10 s, when a worker died on the way).
CAUSE_WINDOW = timedelta(minutes=1)

_FROM_UPDATE = opentelemetry.context.create_key("grantflow_update_handler")


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
