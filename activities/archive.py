"""The archive: a closed case, complete, in PostgreSQL, after Temporal has forgotten it.

Temporal keeps a closed workflow's history only for the namespace's retention period. When a
case closes, `archive_case` copies every run of its workflow (a case continues as new, so it
is a chain of runs) and the register's rows for it (the case, its events, documents and letters,
its payouts in the payment ledger, its grant in the budget ledger, its aid to companies in the
state-aid record) into `case_archive`, where they can be read and the workflow replayed against
new code for as long as the case is kept.

Archiving is idempotent: a closed run's history never changes, so archiving again writes the
same row, and the row is only rewritten if something in it did change (a letter posted since,
a payout that has gone out in a bank file since). The bank-file export itself writes the file's id
into the archived payouts of the cases it pays (activities/payments.py), so an archived case never
waits for another archiving to show where its money went.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import structlog
from psycopg.rows import class_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel, ConfigDict, Field
from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory
from temporalio.service import RPCError, RPCStatusCode

from activities.db import fails_for_good

_log = structlog.get_logger(__name__)

Text = Annotated[str, Field(min_length=1, max_length=500)]


class ArchiveRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    case_number: Text
    # Archive the runs that have already ended while the case goes on: a case continues as new
    # during its year, and Temporal's retention counts from the end of each run, not of the case.
    so_far: bool = False


class ArchiveResult(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    case_number: str
    runs: int = Field(description="Runs of the case's workflow in the archive")
    events: int = Field(description="History events in those runs, together")
    complete: bool = Field(True, description="False if the oldest runs had left Temporal before archiving")


class ArchivedCase(BaseModel):
    """One row of case_archive."""

    case_number: str
    workflow_id: str
    archived_at: datetime
    run_ids: list[str]
    histories: list[dict[str, Any]] = Field(description="Temporal's JSON form of each run's history, oldest first")
    complete: bool
    # {"case": {...}, "events": [...], "documents": [...], "letters": [...], "payouts": [...],
    # "budget_grants": [...], "state_aid": [...]}, each row as in its table (an archive written before payouts and
    # grants were archived lacks those two keys)
    register_rows: dict[str, Any]

    def result(self) -> ArchiveResult:
        return ArchiveResult(
            case_number=self.case_number,
            runs=len(self.run_ids),
            events=sum(len(history.get("events", [])) for history in self.histories),
            complete=self.complete,
        )


class _Runs(BaseModel):
    run_ids: list[str]
    histories: list[dict[str, Any]]
    complete: bool


_UPSERT = """
INSERT INTO case_archive (case_number, workflow_id, run_ids, histories, complete, register_rows)
SELECT c.case_number, %(workflow_id)s, %(run_ids)s, %(histories)s, %(complete)s,
       jsonb_build_object(
           'case', to_jsonb(c),
           'events', COALESCE((SELECT jsonb_agg(to_jsonb(e) ORDER BY e.at, e.event_id)
                               FROM case_events e WHERE e.case_number = c.case_number), '[]'::jsonb),
           'documents', COALESCE((SELECT jsonb_agg(to_jsonb(d) ORDER BY d.registered_at, d.document_id)
                                  FROM case_documents d WHERE d.case_number = c.case_number), '[]'::jsonb),
           'letters', COALESCE((SELECT jsonb_agg(to_jsonb(l) ORDER BY l.created_at, l.letter_id)
                                FROM letters l WHERE l.case_number = c.case_number), '[]'::jsonb),
           -- What was paid (each payout with the bank file it went out in, NULL while it waits
           -- for one) and what was granted from the call's budget (none once released).
           'payouts', COALESCE((SELECT jsonb_agg(to_jsonb(p) ORDER BY p.paid_at, p.request_number)
                                FROM payouts p WHERE p.case_number = c.case_number), '[]'::jsonb),
           'budget_grants', COALESCE((SELECT jsonb_agg(to_jsonb(g) ORDER BY g.granted_at, g.call_id)
                                      FROM budget_grants g WHERE g.case_number = c.case_number), '[]'::jsonb),
           -- De minimis aid to the companies the project reached (activities/state_aid.py).
           'state_aid', COALESCE((SELECT jsonb_agg(to_jsonb(s) ORDER BY s.granted_on, s.aid_id)
                                  FROM state_aid s WHERE s.case_number = c.case_number), '[]'::jsonb)
       )
FROM cases c
WHERE c.case_number = %(case_number)s
ON CONFLICT (case_number) DO UPDATE
SET workflow_id = EXCLUDED.workflow_id, run_ids = EXCLUDED.run_ids, histories = EXCLUDED.histories,
    complete = EXCLUDED.complete, register_rows = EXCLUDED.register_rows, archived_at = now()
WHERE (case_archive.workflow_id, case_archive.run_ids, case_archive.histories, case_archive.complete,
       case_archive.register_rows)
      IS DISTINCT FROM (EXCLUDED.workflow_id, EXCLUDED.run_ids, EXCLUDED.histories, EXCLUDED.complete,
                        EXCLUDED.register_rows)
"""


class Archive:
    def __init__(self, pool: AsyncConnectionPool, client: Client) -> None:
        self._pool = pool
        self._client = client

    @activity.defn(name="archive_case")
    @fails_for_good
    async def archive_case(self, request: ArchiveRequest) -> ArchiveResult:
        """Write a closed case to the archive: every run's history and its register rows.

        While the case's latest run is still running this fails, retryably: the archive
        workflow's retry policy tries again until the case has closed.
        """
        number = request.case_number
        workflow_id = number  # a case's workflow id is its case number
        try:
            latest = await self._client.get_workflow_handle(workflow_id).describe()
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            # Already archived, and since gone from Temporal: archiving again changes nothing.
            if (archived := await archived_case(self._pool, number)) is not None:
                return archived.result()
            raise ApplicationError(
                f"case {number} has no workflow in Temporal and is not archived",
                type="CaseWorkflowNotFound",
                non_retryable=True,
            ) from exc
        latest_run_id = latest.run_id
        if latest.status == WorkflowExecutionStatus.RUNNING and request.so_far:
            history = await self._client.get_workflow_handle(workflow_id, run_id=latest.run_id).fetch_history()
            latest_run_id = history.events[0].workflow_execution_started_event_attributes.continued_execution_run_id
            if not latest_run_id:
                return ArchiveResult(case_number=number, runs=0, events=0)
        elif latest.status == WorkflowExecutionStatus.RUNNING:
            # Expected while the case finishes (it starts its archiving right before it
            # completes): benign, so the worker logs it at debug level, not as an error.
            raise ApplicationError(
                f"case {number} is still open (run {latest.run_id})",
                type="CaseStillOpen",
                category=ApplicationErrorCategory.BENIGN,
            )
        runs = await self._runs(number, workflow_id, latest_run_id)
        async with self._pool.connection() as conn, conn.transaction():
            cursor = await conn.execute("SELECT 1 FROM cases WHERE case_number = %s", (number,))
            if await cursor.fetchone() is None:
                raise ApplicationError(
                    f"case {number} is not in the register", type="CaseNotFound", non_retryable=True
                )
            await conn.execute(
                _UPSERT,
                {
                    "case_number": number,
                    "workflow_id": workflow_id,
                    "run_ids": runs.run_ids,
                    "histories": Jsonb(runs.histories),
                    "complete": runs.complete,
                },
            )
        result = ArchiveResult(
            case_number=number,
            runs=len(runs.run_ids),
            events=sum(len(history["events"]) for history in runs.histories),
            complete=runs.complete,
        )
        _log.info("case archived", case_number=number, runs=result.runs, events=result.events,
                  complete=result.complete)
        return result

    async def _runs(self, number: str, workflow_id: str, latest_run_id: str) -> _Runs:
        """Every run of the chain, oldest first, followed back from the latest.

        Each run's started event names the run it continued (continued_execution_run_id);
        the first run names none. Histories are read by run id, which is exact, rather than
        listed through visibility, which catches up only eventually.
        """
        run_ids: list[str] = []
        histories: list[dict[str, Any]] = []
        complete = True
        run_id = latest_run_id
        while run_id and run_id not in run_ids:
            try:
                history = await self._client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
            except RPCError as exc:
                if exc.status != RPCStatusCode.NOT_FOUND or not run_ids:
                    raise
                # An earlier run that retention has removed: the archive may have it from
                # before; if not, keep what Temporal still has and say the archive lacks it.
                earlier = await archived_case(self._pool, number)
                if earlier is not None and run_id in earlier.run_ids:
                    upto = earlier.run_ids.index(run_id) + 1
                    run_ids.extend(reversed(earlier.run_ids[:upto]))
                    histories.extend(reversed(earlier.histories[:upto]))
                    complete = earlier.complete
                else:
                    _log.warning("run of case no longer in Temporal", case_number=number, run_id=run_id)
                    complete = False
                break
            run_ids.append(run_id)
            histories.append(history.to_json_dict())
            started = history.events[0].workflow_execution_started_event_attributes
            run_id = started.continued_execution_run_id
        run_ids.reverse()
        histories.reverse()
        return _Runs(run_ids=run_ids, histories=histories, complete=complete)


async def archived_case(pool: AsyncConnectionPool, case_number: str) -> ArchivedCase | None:
    """What the archive holds for a case, or None if it has not been archived."""
    async with pool.connection() as conn:
        cursor = conn.cursor(row_factory=class_row(ArchivedCase))
        await cursor.execute(
            """
            SELECT case_number, workflow_id, archived_at, run_ids, histories, complete, register_rows
            FROM case_archive WHERE case_number = %s
            """,
            (case_number,),
        )
        return await cursor.fetchone()
