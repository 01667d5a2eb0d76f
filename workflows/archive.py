"""Archiving a closed case: its workflow's every run and its register rows, into PostgreSQL.

The case workflow starts this as a child (ParentClosePolicy.ABANDON) right before it
completes, so the case is usually still running when the activity first tries: the activity
then fails retryably, and the retry policy below waits and tries again until the case has
closed and is archived. Its id is `archive-<case number>`, so a case is archived by one
workflow at a time.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.archive import Archive, ArchiveRequest, ArchiveResult

# Reading every run's history and writing it may take a while for a long case.
ARCHIVE_TIMEOUT = timedelta(minutes=5)
# Keep trying: no maximum of attempts; at most a minute between them.
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))


def archive_workflow_id(case_number: str) -> str:
    return f"archive-{case_number}"


@workflow.defn
class ArchiveWorkflow:
    @workflow.run
    async def run(self, request: ArchiveRequest) -> ArchiveResult:
        return await workflow.execute_activity_method(
            Archive.archive_case,
            request,
            start_to_close_timeout=ARCHIVE_TIMEOUT,
            retry_policy=RETRY,
            summary=f"arkivera ärende {request.case_number} när det har avslutats",
        )
