"""How long the workflows give an activity, and how they retry it."""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy

ACTIVITY_TIMEOUT = timedelta(minutes=2)
LOCAL_TIMEOUT = timedelta(seconds=30)
# Activities retry until they succeed: a case must not stop because a database blinked.
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=5))
