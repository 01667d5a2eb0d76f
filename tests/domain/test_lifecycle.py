"""The case lifecycle: the transition table, and business facts checked apart from it."""

from __future__ import annotations

from collections import deque

import pytest

from domain.lifecycle import (
    STAGE_LABELS_SV,
    TRANSITIONS,
    Outcome,
    Stage,
    TransitionError,
    allowed_next,
    is_terminal,
    transition,
    withdrawal_target,
)

ALL_PAIRS = [(a, b) for a in Stage for b in Stage]
ALLOWED = [(a, b) for a, b in ALL_PAIRS if b in TRANSITIONS[a]]
FORBIDDEN = [(a, b) for a, b in ALL_PAIRS if b not in TRANSITIONS[a]]

BEFORE_DECISION = [Stage.RECEIVED, Stage.COMPLETENESS, Stage.SECRECY_REVIEW, Stage.ASSESSMENT, Stage.DECISION]


def walk(*stages: Stage) -> Stage:
    current = stages[0]
    for target in stages[1:]:
        current = transition(current, target)
    return current


# --- the table itself ---------------------------------------------------------


def test_table_covers_every_stage_and_only_names_stages():
    assert set(TRANSITIONS) == set(Stage)
    for targets in TRANSITIONS.values():
        assert targets <= set(Stage)


@pytest.mark.parametrize(("current", "target"), ALLOWED)
def test_every_allowed_transition_succeeds(current, target):
    assert transition(current, target) is target
    assert target in allowed_next(current)


@pytest.mark.parametrize(("current", "target"), FORBIDDEN)
def test_every_other_pair_raises(current, target):
    with pytest.raises(TransitionError) as raised:
        transition(current, target)
    assert raised.value.current is current
    assert raised.value.target is target
    assert target not in allowed_next(current)


@pytest.mark.parametrize("stage", list(Stage))
def test_no_stage_moves_to_itself(stage):
    assert stage not in allowed_next(stage)
    with pytest.raises(TransitionError):
        transition(stage, stage)


def test_the_table_cannot_be_changed_at_runtime():
    with pytest.raises(TypeError):
        TRANSITIONS[Stage.CLOSED] = frozenset({Stage.RECEIVED})  # type: ignore[index]
    with pytest.raises(TypeError):
        STAGE_LABELS_SV[Stage.CLOSED] = "Öppen"  # type: ignore[index]


# --- business facts, stated independently of the table ------------------------


def test_happy_path_through_payments_and_final_report_is_walkable():
    assert (
        walk(
            Stage.RECEIVED,
            Stage.COMPLETENESS,
            Stage.SECRECY_REVIEW,
            Stage.ASSESSMENT,
            Stage.DECISION,
            Stage.DECIDED,
            Stage.PAYMENTS,
            Stage.FINAL_REPORT,
            Stage.CLOSED,
        )
        is Stage.CLOSED
    )


def test_rejected_case_closes_straight_after_decision():
    assert walk(Stage.ASSESSMENT, Stage.DECISION, Stage.DECIDED, Stage.CLOSED) is Stage.CLOSED


def test_late_or_incomplete_application_can_be_dismissed_from_completeness():
    assert walk(Stage.RECEIVED, Stage.COMPLETENESS, Stage.DECISION, Stage.DECIDED, Stage.CLOSED) is Stage.CLOSED


def test_reclaim_paths_end_closed():
    assert walk(Stage.PAYMENTS, Stage.RECLAIM, Stage.CLOSED) is Stage.CLOSED
    assert walk(Stage.FINAL_REPORT, Stage.RECLAIM, Stage.CLOSED) is Stage.CLOSED


def test_withdrawn_case_is_still_closed_and_archived():
    assert walk(Stage.ASSESSMENT, Stage.WITHDRAWN, Stage.CLOSED) is Stage.CLOSED


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (Stage.RECEIVED, Stage.DECIDED),  # no decision without one being prepared
        (Stage.RECEIVED, Stage.DECISION),  # completeness is checked before anything is decided
        (Stage.COMPLETENESS, Stage.ASSESSMENT),  # a public document is secrecy-reviewed first
        (Stage.SECRECY_REVIEW, Stage.DECISION),  # approval needs an assessment
        (Stage.ASSESSMENT, Stage.DECIDED),  # four eyes: the decision maker takes the decision
        (Stage.DECISION, Stage.PAYMENTS),  # nothing is paid before the decision is taken
        (Stage.ASSESSMENT, Stage.PAYMENTS),
        (Stage.RECEIVED, Stage.CLOSED),  # every case ends with a decision or a withdrawal
        (Stage.FINAL_REPORT, Stage.PAYMENTS),  # the final payment belongs to the final report
        (Stage.RECLAIM, Stage.PAYMENTS),  # a reclaim does not reopen payments
        (Stage.WITHDRAWN, Stage.ASSESSMENT),  # a withdrawal is not undone by moving on
        (Stage.RECEIVED, Stage.RECLAIM),  # nothing to reclaim before a decision
        (Stage.ASSESSMENT, Stage.RECLAIM),
        (Stage.DECIDED, Stage.FINAL_REPORT),
    ],
)
def test_forbidden_business_moves(current, target):
    with pytest.raises(TransitionError):
        transition(current, target)


@pytest.mark.parametrize("target", list(Stage))
def test_nothing_leaves_closed(target):
    with pytest.raises(TransitionError):
        transition(Stage.CLOSED, target)
    assert allowed_next(Stage.CLOSED) == frozenset()


def test_only_closed_is_terminal():
    assert is_terminal(Stage.CLOSED)
    assert [s for s in Stage if is_terminal(s)] == [Stage.CLOSED]
    assert not is_terminal(Stage.WITHDRAWN)


def test_terminal_means_no_way_out():
    for stage in Stage:
        assert is_terminal(stage) == (not allowed_next(stage))


def test_closed_is_reachable_from_every_stage_so_no_case_gets_stuck():
    for start in Stage:
        seen = {start}
        queue = deque([start])
        while queue:
            for nxt in allowed_next(queue.popleft()):
                if nxt not in seen:
                    seen.add(nxt)
                    queue.append(nxt)
        assert Stage.CLOSED in seen, start


def test_every_stage_is_reachable_from_received():
    seen = {Stage.RECEIVED}
    queue = deque([Stage.RECEIVED])
    while queue:
        for nxt in allowed_next(queue.popleft()):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    assert seen == set(Stage)


# --- withdrawal -----------------------------------------------------------------


@pytest.mark.parametrize("stage", [*BEFORE_DECISION, Stage.DECIDED])
def test_withdrawal_before_any_payment_gives_withdrawn(stage):
    assert withdrawal_target(stage, paid_out=False) is Stage.WITHDRAWN
    assert transition(stage, Stage.WITHDRAWN) is Stage.WITHDRAWN


@pytest.mark.parametrize("stage", [Stage.PAYMENTS, Stage.FINAL_REPORT])
def test_withdrawal_in_payment_stages_with_nothing_paid_gives_withdrawn(stage):
    # Paid in arrears: a case may sit in PAYMENTS with nothing paid, and a reclaim of zero is absurd.
    assert withdrawal_target(stage, paid_out=False) is Stage.WITHDRAWN


@pytest.mark.parametrize("stage", [Stage.DECIDED, Stage.PAYMENTS, Stage.FINAL_REPORT])
def test_withdrawal_after_payment_gives_reclaim(stage):
    assert withdrawal_target(stage, paid_out=True) is Stage.RECLAIM
    assert transition(stage, Stage.RECLAIM) is Stage.RECLAIM


@pytest.mark.parametrize("stage", list(Stage))
@pytest.mark.parametrize("paid_out", [False, True])
def test_withdrawal_target_is_always_an_allowed_move(stage, paid_out):
    try:
        target = withdrawal_target(stage, paid_out)
    except ValueError:
        return
    assert target in allowed_next(stage)


@pytest.mark.parametrize("paid_out", [False, True])
def test_withdrawal_from_closed_raises(paid_out):
    with pytest.raises(TransitionError) as raised:
        withdrawal_target(Stage.CLOSED, paid_out)
    assert raised.value.current is Stage.CLOSED
    assert "Avslutad" in str(raised.value)


@pytest.mark.parametrize("stage", [Stage.WITHDRAWN, Stage.RECLAIM])
def test_withdrawing_twice_or_during_reclaim_raises(stage):
    with pytest.raises(TransitionError):
        withdrawal_target(stage, paid_out=stage is Stage.RECLAIM)


@pytest.mark.parametrize("stage", BEFORE_DECISION)
def test_money_paid_before_a_decision_is_a_bug_not_a_reclaim(stage):
    with pytest.raises(ValueError, match="paid_out") as raised:
        withdrawal_target(stage, paid_out=True)
    assert not isinstance(raised.value, TransitionError)


# --- Swedish text -----------------------------------------------------------------


def test_every_stage_has_a_distinct_swedish_label():
    assert set(STAGE_LABELS_SV) == set(Stage)
    assert all(label.strip() for label in STAGE_LABELS_SV.values())
    assert len(set(STAGE_LABELS_SV.values())) == len(Stage)


def test_a_few_labels_are_the_agreed_words():
    assert STAGE_LABELS_SV[Stage.RECEIVED] == "Mottagen"
    assert STAGE_LABELS_SV[Stage.RECLAIM] == "Återkrav"
    assert STAGE_LABELS_SV[Stage.CLOSED] == "Avslutad"
    assert STAGE_LABELS_SV[Stage.WITHDRAWN] == "Återkallad"


@pytest.mark.parametrize(("current", "target"), FORBIDDEN)
def test_error_message_is_swedish_and_names_both_stages(current, target):
    message = str(TransitionError(current, target))
    assert message.startswith("Ärendet kan inte gå från")
    assert STAGE_LABELS_SV[current] in message
    assert STAGE_LABELS_SV[target] in message
    assert current.value not in message.replace(STAGE_LABELS_SV[current], "")  # no English enum values leak


def test_error_message_example():
    with pytest.raises(TransitionError, match="från ”Mottagen” till ”Beslutad”"):
        transition(Stage.RECEIVED, Stage.DECIDED)


def test_transition_error_is_a_value_error():
    assert issubclass(TransitionError, ValueError)


def test_outcomes_are_the_four_ways_a_case_can_end():
    assert {o.value for o in Outcome} == {"approved", "rejected", "dismissed", "withdrawn"}
