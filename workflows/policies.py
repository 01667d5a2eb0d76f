"""How long the workflows give an activity, and how they retry it."""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

ACTIVITY_TIMEOUT = timedelta(minutes=2)
LOCAL_TIMEOUT = timedelta(seconds=30)
# Activities retry until they succeed: a case must not stop because a database blinked.
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=5))


def failure_type(error: ActivityError | ApplicationError) -> str:
    """What an activity failed with, by its type (never its message, which may quote input).

    A local activity's failure arrives as the activity's own error, not wrapped in an ActivityError."""
    failure = error.cause if isinstance(error, ActivityError) else error
    if isinstance(failure, ApplicationError) and failure.type:
        return failure.type
    return type(failure).__name__
