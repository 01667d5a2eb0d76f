"""What the inbox says of a case: the deadlines it waits on and which have passed. Pure calls on CaseState."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.application import Application
from domain.case import CaseState, new_case
from domain.clock import end_of_day, stockholm_date
from domain.inbox import (
    DeadlineKind,
    deadlines,
    nearest,
    overdue,
    records_overdue_before,
    records_request_deadline,
)
from domain.lifecycle import Stage
from infra.calls import load_catalog
from tests.domain.test_who_decides import T0, act, assessed_by_anna, granted
from tests.factories import application_2021, check

DAY = timedelta(days=1)


def received(data: dict | None = None) -> CaseState:
    data = data or application_2021()
    return new_case(case_number="2021-00001", submission_id="s-1", call=load_catalog().get(data["call_id"]),
                    application=Application.model_validate(data), received_at=T0, imported=False,
                    verdict=check(data))


def test_a_request_for_completion_is_awaited_until_answered_and_overdue_after_its_deadline():
    data = application_2021()
    data["co_applicants"] = []
    state = received(data)
    assert state.stage is Stage.COMPLETENESS and deadlines(state) == []
    act(state, "request-completion", "officer:anna", missing=["En medsökande aktör"], reply_days=14)
    assert state.completion is not None
    [waiting] = deadlines(state)
    assert (waiting.kind, waiting.at) == (DeadlineKind.COMPLETION_REPLY, state.completion.deadline)
    assert overdue([waiting], waiting.at - timedelta(seconds=1)) == []
    assert overdue([waiting], waiting.at) == [DeadlineKind.COMPLETION_REPLY]
    # Run out, the reply is still awaited (the officer may dismiss): the inbox keeps showing it, overdue.
    state.completion.expired = True
    assert deadlines(state) == [waiting]


def test_a_request_for_a_decision_is_answered_within_four_weeks_fl_12():
    state = received()
    asked_at = T0 + 200 * DAY
    act(state, "request-decision", "applicant:region", at=asked_at, text="Vi begär att ärendet avgörs.")
    [waiting] = [d for d in deadlines(state) if d.kind is DeadlineKind.DECISION_REQUEST]
    assert waiting.at == state.decision_request.deadline
    assert asked_at + 27 * DAY < waiting.at <= asked_at + 29 * DAY
    assert nearest(deadlines(state)) == waiting


def test_a_granted_case_awaits_its_final_report_on_the_decided_date():
    state = granted(assessed_by_anna())
    assert state.payments is not None
    [waiting] = deadlines(state)
    assert (waiting.kind, waiting.at) == (DeadlineKind.FINAL_REPORT, end_of_day(state.payments.report_due))
    # The workflow's own next timer is a reminder before then; the inbox shows the report's date.
    assert state.next_deadline is not None and state.next_deadline < waiting.at
    assert overdue([waiting], waiting.at + DAY) == [DeadlineKind.FINAL_REPORT]


def test_a_case_without_anything_awaited_has_no_deadline():
    state = received()
    assert state.stage is Stage.SECRECY_REVIEW
    assert deadlines(state) == [] and nearest([]) is None


def test_a_records_request_is_overdue_once_the_day_it_arrived_is_over():
    for arrived in (datetime(2026, 3, 28, 22, 30, tzinfo=UTC), datetime(2026, 3, 29, 0, 30, tzinfo=UTC),
                    datetime(2026, 10, 24, 23, 59, tzinfo=UTC), datetime(2026, 12, 5, 11, 0, tzinfo=UTC)):
        due = records_request_deadline(arrived)
        assert timedelta(0) < due - arrived <= timedelta(days=1, hours=1)  # that day in Stockholm, DST or not
        assert stockholm_date(due - timedelta(seconds=1)) == stockholm_date(arrived)
        # The query's cutoff agrees with the deadline at every instant around it.
        for now in (due - timedelta(seconds=1), due, due + timedelta(hours=5)):
            assert (arrived < records_overdue_before(now)) == (due <= now), (arrived, now)
