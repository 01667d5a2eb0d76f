"""Worker interceptors: every log line written while an activity runs names its case and workflow.

The activity interceptor binds structlog context variables for the length of one activity execution
(local activities included), so that structlog events and standard-library records alike (the
Temporal SDK's `activity.logger`, psycopg, ...) carry workflow_id, run_id, activity_type, attempt
and, when they are known, case_number and stage. `merge_contextvars` in worker.logging puts them on
the line. Workflow code logs through `workflow.logger`, whose `temporal_workflow` extra worker.logging
flattens into the same fields; workflows need no interceptor for that.

Only identifiers are bound, never an activity's arguments: those carry personal data and texts. For
the same reason a database error leaves an activity as its kind and SQLSTATE only, never its message.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

import psycopg
import structlog
from temporalio import activity
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from activities.db import database_failure
from worker.logging import case_number_of


def _text(value: Any) -> str | None:
    if isinstance(value, Enum):
        value = value.value
    return value if isinstance(value, str) and value else None


def activity_log_context(info: activity.Info, args: Any) -> dict[str, Any]:
    """The fields to bind for one activity execution; unknown ones are left out, not logged as null."""
    first = args[0] if args else None
    fields: dict[str, Any] = {
        "workflow_id": info.workflow_id,
        "run_id": info.workflow_run_id,
        "activity_type": info.activity_type,
        "attempt": info.attempt,
        # The input's own case number first: an activity of a call's workflow acts for one case.
        "case_number": _text(getattr(first, "case_number", None)) or case_number_of(info.workflow_id),
        "stage": _text(getattr(first, "stage", None)),
    }
    return {key: value for key, value in fields.items() if value is not None}


class _ActivityLogContext(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        # bound_contextvars restores what was bound before on the way out, however the activity ends.
        # Sync activities in a thread pool get a copy of this context from the SDK, so they see it too.
        with structlog.contextvars.bound_contextvars(**activity_log_context(activity.info(), input.args)):
            try:
                return await self.next.execute_activity(input)
            except psycopg.Error as error:
                # An activity that does not translate its database errors itself (activities.db.fails_for_good):
                # the SDK would log the message, and Temporal store it, with the input it may quote.
                raise database_failure(error) from None


class LogContextInterceptor(Interceptor):
    """Binds the case and workflow identifiers into structlog's context for every activity."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ActivityLogContext(next)
