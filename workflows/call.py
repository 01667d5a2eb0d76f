"""One call for funding: its window, its budget, and the ranking of its assessed cases.

Applications are assessed in competition. Once the call has closed and every case still in
the running is assessed (the register says which cases the call has received; each case tells
the call when it is assessed and when it leaves the running), the cases are ranked by score
(earlier receipt first on a tie) and funding is proposed down the ranking until the budget is
spent. The proposal is advice to the decision makers; the budget ledger in PostgreSQL is what
makes sure the sum granted never exceeds the budget, whatever order the decisions arrive in.
"""

from __future__ import annotations

import contextlib
from decimal import Decimal

from pydantic import BaseModel
from temporalio import workflow
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from activities.register import Register
    from domain.case import FundingProposal
    from workflows.messages import BudgetRemaining, CallEntry, CallScores, CallState, CaseNews, ScoredCase, Standing
    from workflows.policies import LOCAL_TIMEOUT, RETRY


def call_workflow_id(call_id: str) -> str:
    return f"call-{call_id}"


@workflow.defn
class CallWorkflow:
    @workflow.init
    def __init__(self, state: CallState) -> None:
        self.state = state
        self.changed = True

    @workflow.run
    async def run(self, state: CallState) -> None:
        deadline = self.state.call.window.deadline
        while True:
            closes_in = deadline - workflow.now()
            # Woken by news from a case, or by the call closing: then it is time to rank.
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: self.changed, timeout=closes_in if closes_in.total_seconds() > 0 else None,
                    timeout_summary="utlysningen stänger",
                )
            self.changed = False
            await self._tell_remaining()
            await self._propose()
            if workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(self.state)

    @workflow.signal
    def case_assessed(self, news: CaseNews) -> None:
        entry = self.state.cases.setdefault(news.case_number, CallEntry(requested=news.requested,
                                                                        received_at=news.received_at))
        entry.score = news.score
        self.changed = True

    @workflow.signal
    def case_left(self, news: CaseNews) -> None:
        """Decided, dismissed or withdrawn: out of the running, keeping what it was granted."""
        entry = self.state.cases.setdefault(news.case_number, CallEntry(requested=news.requested,
                                                                        received_at=news.received_at))
        entry.in_running = False
        entry.granted = news.granted
        self.changed = True

    @workflow.query
    def standing(self) -> Standing:
        ranked = self._ranking()
        return Standing(
            closed=workflow.now() >= self.state.call.window.deadline,
            budget=self.state.call.funding.budget,
            granted=self._granted(),
            ranking=[(number, entry.proposal) for number, entry in ranked if entry.proposal is not None],
        )

    @workflow.query
    def scores(self) -> CallScores:
        """The assessed cases with their scores, for the call overview: ranked ones first, in the ranking's order."""
        ranked = self._ranking()
        in_ranking = {number for number, _ in ranked}
        rest = sorted(((n, e) for n, e in self.state.cases.items() if n not in in_ranking), key=lambda i: i[0])
        return CallScores(
            closed=workflow.now() >= self.state.call.window.deadline,
            cases=[ScoredCase(case_number=number, requested=entry.requested, received_at=entry.received_at,
                              score=entry.score, in_running=entry.in_running, granted=entry.granted,
                              proposal=entry.proposal)
                   for number, entry in [*ranked, *rest]],
        )

    def _granted(self) -> Decimal:
        return sum((e.granted or Decimal(0) for e in self.state.cases.values()), Decimal(0))

    def _ranking(self) -> list[tuple[str, CallEntry]]:
        running = [(n, e) for n, e in self.state.cases.items() if e.in_running and e.score is not None]
        return sorted(running, key=lambda item: (-(item[1].score or 0), item[1].received_at, item[0]))

    async def _tell_remaining(self) -> None:
        remaining = self.state.call.funding.budget - self._granted()
        if remaining == self.state.call.funding.budget:
            return  # nothing granted yet: a case checks against the whole budget itself
        # A copy: news of another case may arrive while a signal below is awaited.
        for number, entry in list(self.state.cases.items()):
            if entry.in_running and entry.told_remaining != remaining:
                entry.told_remaining = remaining
                await self._signal(number, "budget_remaining", BudgetRemaining(remaining=remaining))

    async def _signal(self, case_number: str, name: str, argument: BaseModel) -> None:
        try:
            await workflow.get_external_workflow_handle(case_number).signal(name, argument)
        except FailureError:
            # A case that has just ended, before its news reached the call: it needs no advice.
            workflow.logger.info("case no longer running", extra={"case_number": case_number})

    async def _propose(self) -> None:
        if workflow.now() < self.state.call.window.deadline:
            return
        # Ranking waits until every case still in the running is assessed. A case is news only
        # once assessed, so the register, where every case is from the moment it is received,
        # says which ones the call has not heard from.
        in_running = await workflow.execute_local_activity_method(
            Register.cases_in_running, self.state.call.id, start_to_close_timeout=LOCAL_TIMEOUT,
            retry_policy=RETRY, summary="läs utlysningens ärenden i diariet",
        )
        if any(number not in self.state.cases for number in in_running):
            return
        remaining = self.state.call.funding.budget - self._granted()
        # _ranking() is a list made now: cases assessed while a signal is awaited wait for the next round.
        for rank, (number, entry) in enumerate(self._ranking(), start=1):
            amount = max(min(entry.requested, remaining), Decimal(0))
            remaining -= amount
            proposal = FundingProposal(rank=rank, amount=amount)
            if proposal != entry.proposal:
                entry.proposal = proposal
                await self._signal(number, "funding_proposed", proposal)

