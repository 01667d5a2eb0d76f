"""A call at a glance for staff: what came in against the budget, the ranking, what was granted and paid.

Three sources, each for what it is the authority on: the call file (title, dates, budget), the
register and the two ledgers (applications, amounts applied for, granted, ordered and paid; see
activities/call_figures.py), and the call's workflow (the scores and the ranking it keeps).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from activities.call_figures import CallFigures, call_figures
from domain.call import Call
from infra.calls import CallCatalog
from infra.errors import Unavailable
from workflows.call import CallWorkflow, call_workflow_id
from workflows.messages import CallScores


class CallSummary(BaseModel):
    id: str
    title: str
    opens: date | None
    closes: date
    closed: bool  # past the end of its last day (Stockholm)
    budget: Decimal
    applications: int
    requested: Decimal  # applied for, by every application received
    granted: Decimal  # held in the budget ledger
    remaining: Decimal  # budget − granted
    ordered: Decimal  # approved for payout
    paid: Decimal  # gone out in a bank file


class RankedCase(BaseModel):
    case_number: str
    score: int | None  # the sum of its scores on the call's criteria
    requested: Decimal
    received_at: datetime
    in_running: bool  # False once decided, dismissed or withdrawn
    rank: int | None  # set once the call has closed and every case in the running is assessed
    proposed: Decimal | None  # the funding proposed down the ranking
    granted: Decimal | None


class CallOverview(CallSummary):
    ranking: list[RankedCase]  # the assessed cases: in the ranking first, in its order


def _summary(call: Call, figures: CallFigures, now: datetime) -> CallSummary:
    budget = call.funding.budget
    return CallSummary(
        id=call.id, title=call.title, opens=call.window.opens, closes=call.window.closes,
        closed=now >= call.window.deadline, budget=budget, applications=figures.applications,
        requested=figures.requested, granted=figures.granted, remaining=budget - figures.granted,
        ordered=figures.ordered, paid=figures.paid,
    )


async def summaries(pool: AsyncConnectionPool, catalog: CallCatalog, *, now: datetime) -> list[CallSummary]:
    calls = catalog.all()
    figures = await call_figures(pool, [c.id for c in calls])
    return [_summary(c, figures.get(c.id, CallFigures(call_id=c.id)), now) for c in calls]


async def _scores(client: Client, call_id: str) -> CallScores | None:
    handle = client.get_workflow_handle_for(CallWorkflow.run, call_workflow_id(call_id))
    try:
        return await handle.query(CallWorkflow.scores)
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            return None  # no application has reached the call yet
        if exc.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
            raise Unavailable(f"temporal: {exc.message}") from None
        raise


async def overview(client: Client, pool: AsyncConnectionPool, catalog: CallCatalog, call_id: str, *,
                   now: datetime) -> CallOverview:
    """One call's overview; an unknown call is an InputError on `call_id`."""
    call = catalog.get(call_id)
    figures = (await call_figures(pool, [call.id])).get(call.id, CallFigures(call_id=call.id))
    scores = await _scores(client, call.id)
    ranking = [
        RankedCase(case_number=c.case_number, score=c.score, requested=c.requested, received_at=c.received_at,
                   in_running=c.in_running, rank=c.proposal.rank if c.proposal else None,
                   proposed=c.proposal.amount if c.proposal else None, granted=c.granted)
        for c in (scores.cases if scores else [])
    ]
    return CallOverview(**_summary(call, figures, now).model_dump(), ranking=ranking)


__all__ = ["CallOverview", "CallSummary", "RankedCase", "overview", "summaries"]
