"""Every action a person can take on a case: who may take it, in which stages, and the one way in.

The case workflow asks `refusal(...)` in an update's validator (a refused action writes
nothing to history) and calls `apply(...)` in its handler. Both check the two things every
action shares here, the acting role and the case's stage, and leave the rest to the rules
of the part of the lifecycle the action belongs to: `domain.deciding` up to the decision,
`domain.after_decision` after it.
"""

from __future__ import annotations

from datetime import datetime

from domain.after_decision import (
    AfterDecision,
    DecideReclaim,
    FilePaymentRequest,
    PrepareReclaim,
    RegisterRepayment,
    ReviewFinalReport,
    ReviewPaymentRequest,
    Revoke,
    SubmitFinalReport,
    WriteOff,
    apply_after_decision,
    deadline_passed_after_decision,
    refusal_after_decision,
)
from domain.case import (
    MAX_RECEIPTS,
    AcceptForReview,
    Action,
    CaseState,
    Communicate,
    Decide,
    DeclareNoConflict,
    PrepareDecision,
    Receipt,
    RecordEvent,
    RecordSecrecyReview,
    ReplyToCommunication,
    RequestCompletion,
    RequestDecision,
    Resume,
    Role,
    ScoreApplication,
    SubmitCompletion,
    Withdraw,
    resume,
    resume_refusal,
)
from domain.deciding import (
    BeforeDecision,
    apply_before_decision,
    deadline_passed_before_decision,
    refusal_before_decision,
)
from domain.lifecycle import STAGE_LABELS_SV, Stage

Command = BeforeDecision | AfterDecision | Resume

_UNTIL_DECIDED = frozenset({Stage.RECEIVED, Stage.COMPLETENESS, Stage.SECRECY_REVIEW, Stage.ASSESSMENT,
                            Stage.DECISION})
# After a decision the rules change: a withdrawal may have to become a reclaim, and a reply
# may answer the hearing before a reclaim decision rather than one before the grant decision.
_AFTER_DECISION = frozenset({Stage.DECIDED, Stage.PAYMENTS, Stage.FINAL_REPORT, Stage.RECLAIM})

_ROLES: dict[type[Action], Role] = {
    RequestCompletion: Role.OFFICER,
    SubmitCompletion: Role.APPLICANT,
    AcceptForReview: Role.OFFICER,
    RecordSecrecyReview: Role.OFFICER,
    DeclareNoConflict: Role.OFFICER,
    ScoreApplication: Role.OFFICER,
    PrepareDecision: Role.OFFICER,
    Communicate: Role.OFFICER,
    ReplyToCommunication: Role.APPLICANT,
    Decide: Role.DECISION_MAKER,
    Withdraw: Role.APPLICANT,
    RequestDecision: Role.APPLICANT,
    FilePaymentRequest: Role.APPLICANT,
    ReviewPaymentRequest: Role.OFFICER,
    SubmitFinalReport: Role.APPLICANT,
    ReviewFinalReport: Role.OFFICER,
    # Lowering a grant is a decision against the applicant: never the assessing officer's alone.
    Revoke: Role.DECISION_MAKER,
    PrepareReclaim: Role.OFFICER,
    DecideReclaim: Role.DECISION_MAKER,
    RegisterRepayment: Role.FINANCE,
    WriteOff: Role.DECISION_MAKER,
}

_STAGES: dict[type[Action], frozenset[Stage]] = {
    RequestCompletion: frozenset({Stage.COMPLETENESS}),
    SubmitCompletion: frozenset({Stage.COMPLETENESS}),
    AcceptForReview: frozenset({Stage.COMPLETENESS}),
    RecordSecrecyReview: frozenset({Stage.SECRECY_REVIEW}),
    DeclareNoConflict: frozenset({Stage.ASSESSMENT}),
    ScoreApplication: frozenset({Stage.ASSESSMENT}),
    PrepareDecision: frozenset({Stage.COMPLETENESS, Stage.ASSESSMENT, Stage.DECISION}),
    Communicate: frozenset({Stage.DECISION}),
    ReplyToCommunication: frozenset({Stage.DECISION, Stage.RECLAIM}),
    Decide: frozenset({Stage.DECISION}),
    # DOMAIN.md: an applicant may withdraw at any time; after payments it becomes a reclaim.
    Withdraw: _UNTIL_DECIDED | frozenset({Stage.PAYMENTS, Stage.FINAL_REPORT}),
    RequestDecision: frozenset({Stage.COMPLETENESS, Stage.SECRECY_REVIEW, Stage.ASSESSMENT, Stage.DECISION}),
    FilePaymentRequest: frozenset({Stage.PAYMENTS}),
    ReviewPaymentRequest: frozenset({Stage.PAYMENTS, Stage.FINAL_REPORT}),
    SubmitFinalReport: frozenset({Stage.PAYMENTS}),
    ReviewFinalReport: frozenset({Stage.FINAL_REPORT}),
    Revoke: frozenset({Stage.PAYMENTS, Stage.FINAL_REPORT}),
    PrepareReclaim: frozenset({Stage.RECLAIM}),
    DecideReclaim: frozenset({Stage.RECLAIM}),
    RegisterRepayment: frozenset({Stage.RECLAIM}),
    WriteOff: frozenset({Stage.RECLAIM}),
}

ROLE_LABELS_SV = {
    Role.APPLICANT: "sökanden",
    Role.OFFICER: "handläggare",
    Role.DECISION_MAKER: "beslutsfattare",
    Role.FINANCE: "ekonomi",
    Role.OPERATIONS: "drift",
    Role.AUDITOR: "revisor",
}


def _after_decision(state: CaseState, command: Command) -> bool:
    if isinstance(command, Withdraw | ReplyToCommunication):
        return state.stage in _AFTER_DECISION
    return isinstance(command, AfterDecision)


def refusal(state: CaseState, command: Command, now: datetime) -> str | None:
    """Why `command` cannot be taken now, in Swedish; None when it can."""
    if command.action_id in state.receipts:
        return None  # re-sent: answered with the first receipt
    if isinstance(command, Resume):  # operations' own: any stage, while a step is stopped
        return resume_refusal(state, command)
    role = _ROLES[type(command)]
    if command.actor.role is not role:
        return f"Åtgärden kan bara utföras av {ROLE_LABELS_SV[role]}, inte av {ROLE_LABELS_SV[command.actor.role]}."
    if state.stage not in _STAGES[type(command)]:
        return f"Åtgärden kan inte utföras när ärendet är i steget ”{STAGE_LABELS_SV[state.stage]}”."
    if _after_decision(state, command):
        return refusal_after_decision(state, command, now)  # type: ignore[arg-type]  # narrowed just above
    return refusal_before_decision(state, command, now)  # type: ignore[arg-type]


def apply(state: CaseState, command: Command, now: datetime) -> Receipt:
    """Carry out an action `refusal` accepted; returns the receipt, queues what must follow."""
    if (earlier := state.receipts.get(command.action_id)) is not None:
        return earlier
    mark, stage = len(state.outbox), state.stage
    if isinstance(command, Resume):
        message = resume(state, command, now)
    elif _after_decision(state, command):
        message = apply_after_decision(state, command, now)  # type: ignore[arg-type]
    else:
        message = apply_before_decision(state, command, now)  # type: ignore[arg-type]
    receipt = Receipt(
        action_id=command.action_id,
        action=type(command).__name__,
        case_number=state.case_number,
        accepted_at=now,
        stage=state.stage,
        message=message,
    )
    # The action itself goes into the register before what it caused (a letter, a closing).
    state.outbox.insert(mark, RecordEvent(
        event_id=command.action_id, at=now, actor_id=command.actor.id, actor_role=command.actor.role.value,
        event=receipt.action, summary=message, stage=stage,
    ))
    if len(state.receipts) >= MAX_RECEIPTS:
        state.receipts.pop(next(iter(state.receipts)))
    state.receipts[command.action_id] = receipt
    return receipt


def deadline_passed(state: CaseState, now: datetime) -> None:
    """A timer of the case has fired: record what ran out; what follows is for people to decide."""
    deadline_passed_before_decision(state, now)
    deadline_passed_after_decision(state, now)


__all__ = ["ROLE_LABELS_SV", "Command", "apply", "deadline_passed", "refusal"]
