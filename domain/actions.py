"""Every action a person can take on a case: who may take it, in which stages, and the one way in.

The case workflow asks `refusal(...)` in an update's validator (a refused action writes
nothing to history) and calls `apply(...)` in its handler. Both check the two things every
action shares here, the acting role and the case's stage, and leave the rest to the rules
of the part of the lifecycle the action belongs to: `domain.deciding` up to the decision,
`domain.after_decision` after it.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

from domain.after_decision import (
    AfterDecision,
    DecideReclaim,
    FilePaymentRequest,
    PrepareReclaim,
    PrepareRevocation,
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
    Assign,
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
    assign,
    assign_refusal,
    resume,
    resume_refusal,
)
from domain.clock import format_instant_sv
from domain.deciding import (
    BeforeDecision,
    apply_before_decision,
    deadline_passed_before_decision,
    refusal_before_decision,
)
from domain.lifecycle import STAGE_LABELS_SV, Stage
from domain.records import (
    RecordsAction,
    RefusePublicDocument,
    ReleasePublicDocument,
    RequestPublicDocument,
    apply_records,
    deadline_passed_records,
    find_request,
    refusal_records,
)

Command = BeforeDecision | AfterDecision | Resume | Assign | RecordsAction

_UNTIL_DECIDED = frozenset({Stage.RECEIVED, Stage.COMPLETENESS, Stage.SECRECY_REVIEW, Stage.ASSESSMENT,
                            Stage.DECISION})
# After a decision the rules change: a withdrawal may have to become a reclaim, and a reply
# may answer the hearing before a reclaim decision rather than one before the grant decision.
_AFTER_DECISION = frozenset({Stage.DECIDED, Stage.PAYMENTS, Stage.FINAL_REPORT, Stage.RECLAIM})
# Every stage in which the case's workflow takes actions. A closed case's workflow has ended (it is
# archived): a request for one of its documents is for the registry, not for the case.
_OPEN = _UNTIL_DECIDED | _AFTER_DECISION

_ROLES: dict[type[Action], Role | frozenset[Role]] = {
    RequestCompletion: Role.OFFICER,
    SubmitCompletion: Role.APPLICANT,
    AcceptForReview: Role.OFFICER,
    RecordSecrecyReview: Role.OFFICER,
    # Everyone who handles or decides the case declares for themselves (FL 16–18 §§).
    DeclareNoConflict: frozenset({Role.OFFICER, Role.DECISION_MAKER}),
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
    # Lowering a grant is a decision against the applicant: an officer prepares it and hears the
    # applicant (FL 25 §), a decision maker who neither assessed nor prepared it takes it.
    PrepareRevocation: Role.OFFICER,
    Revoke: Role.DECISION_MAKER,
    PrepareReclaim: Role.OFFICER,
    DecideReclaim: Role.DECISION_MAKER,
    RegisterRepayment: Role.FINANCE,
    WriteOff: Role.DECISION_MAKER,
    Assign: Role.ADMINISTRATOR,
    # Operations' own, checked by `resume_refusal`: carry out again a step the case stopped.
    Resume: Role.OPERATIONS,
    # Anyone (TF 2 kap.); an officer may register a request made by telephone or at the desk.
    RequestPublicDocument: frozenset({Role.PUBLIC, Role.OFFICER}),
    ReleasePublicDocument: Role.OFFICER,
    RefusePublicDocument: Role.OFFICER,
}

_STAGES: dict[type[Action], frozenset[Stage]] = {
    RequestCompletion: frozenset({Stage.COMPLETENESS}),
    SubmitCompletion: frozenset({Stage.COMPLETENESS}),
    AcceptForReview: frozenset({Stage.COMPLETENESS}),
    RecordSecrecyReview: frozenset({Stage.SECRECY_REVIEW}),
    DeclareNoConflict: frozenset({Stage.ASSESSMENT, Stage.DECISION, Stage.PAYMENTS, Stage.FINAL_REPORT,
                                  Stage.RECLAIM}),
    ScoreApplication: frozenset({Stage.ASSESSMENT}),
    PrepareDecision: frozenset({Stage.COMPLETENESS, Stage.ASSESSMENT, Stage.DECISION}),
    Communicate: frozenset({Stage.DECISION}),
    # After a decision a reply answers the hearing before a revocation or before a reclaim.
    ReplyToCommunication: frozenset({Stage.DECISION, Stage.PAYMENTS, Stage.FINAL_REPORT, Stage.RECLAIM}),
    Decide: frozenset({Stage.DECISION}),
    # DOMAIN.md: an applicant may withdraw at any time; after payments it becomes a reclaim.
    Withdraw: _UNTIL_DECIDED | frozenset({Stage.PAYMENTS, Stage.FINAL_REPORT}),
    RequestDecision: frozenset({Stage.COMPLETENESS, Stage.SECRECY_REVIEW, Stage.ASSESSMENT, Stage.DECISION}),
    FilePaymentRequest: frozenset({Stage.PAYMENTS}),
    ReviewPaymentRequest: frozenset({Stage.PAYMENTS, Stage.FINAL_REPORT}),
    SubmitFinalReport: frozenset({Stage.PAYMENTS}),
    ReviewFinalReport: frozenset({Stage.FINAL_REPORT}),
    PrepareRevocation: frozenset({Stage.PAYMENTS, Stage.FINAL_REPORT}),
    Revoke: frozenset({Stage.PAYMENTS, Stage.FINAL_REPORT}),
    PrepareReclaim: frozenset({Stage.RECLAIM}),
    DecideReclaim: frozenset({Stage.RECLAIM}),
    RegisterRepayment: frozenset({Stage.RECLAIM}),
    WriteOff: frozenset({Stage.RECLAIM}),
    Assign: _UNTIL_DECIDED | _AFTER_DECISION,
    RequestPublicDocument: _OPEN,
    ReleasePublicDocument: _OPEN,
    RefusePublicDocument: _OPEN,
}

# The officer's and decision maker's steps that only someone who has declared no conflict of
# interest in the case may take, from the assessment on (FL 16–18 §§).
_DECLARED: frozenset[type[Action]] = frozenset({
    ScoreApplication, PrepareDecision, Communicate, Decide, ReviewPaymentRequest, ReviewFinalReport,
    PrepareRevocation, Revoke, PrepareReclaim, DecideReclaim, WriteOff,
})
_BEFORE_ASSESSMENT = frozenset({Stage.RECEIVED, Stage.COMPLETENESS, Stage.SECRECY_REVIEW})

ROLE_LABELS_SV = {
    Role.APPLICANT: "sökanden",
    Role.OFFICER: "handläggare",
    Role.DECISION_MAKER: "beslutsfattare",
    Role.FINANCE: "ekonomi",
    Role.OPERATIONS: "drift",
    Role.AUDITOR: "revisor",
    Role.ADMINISTRATOR: "administratör",
    Role.PUBLIC: "allmänheten",
}


def roles_for(action: type[Action]) -> frozenset[Role]:
    """The roles that may take an action of this type (the case still checks stage and the rest)."""
    roles = _ROLES[action]
    return roles if isinstance(roles, frozenset) else frozenset({roles})


def stages_for(action: type[Action]) -> frozenset[Stage]:
    """The stages in which an action of this type may be taken (the case still checks the rest)."""
    return _STAGES[action]


def _after_decision(state: CaseState, command: Command) -> bool:
    if isinstance(command, Withdraw | ReplyToCommunication):
        return state.stage in _AFTER_DECISION
    return isinstance(command, AfterDecision)


def fingerprint(command: Command) -> str:
    """A hash of everything the command says: the same id sent again must say the same."""
    # Without defaults: the same action sent again after a release that added an optional field is the same.
    canonical = json.dumps({"action": type(command).__name__, **command.model_dump(mode="json", exclude_defaults=True)},
                           sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def refusal(state: CaseState, command: Command, now: datetime, *, declarations: bool = True) -> str | None:
    """Why `command` cannot be taken now, in Swedish; None when it can.

    `declarations=False` leaves out the rule that the actor must have declared no conflict of
    interest: only for replaying a decision taken before that rule (decision 21)."""
    if (earlier := _earlier_receipt(state, command.action_id)) is not None:
        # Re-sent: answered with the first receipt, unless it is another action under the same id
        # (as a payment API refuses an idempotency key reused with other parameters).
        if earlier.fingerprint is not None and earlier.fingerprint != fingerprint(command):
            return (f"Åtgärds-id {command.action_id} har redan använts för en annan åtgärd med andra uppgifter"
                    f" ({earlier.action}, {format_instant_sv(earlier.accepted_at)}); använd ett nytt åtgärds-id.")
        return None
    if isinstance(command, Resume):  # operations' own: any stage, while a step is stopped
        return resume_refusal(state, command)
    roles = roles_for(type(command))
    if command.actor.role not in roles:
        who = " eller ".join(ROLE_LABELS_SV[r] for r in Role if r in roles)
        return f"Åtgärden kan bara utföras av {who}, inte av {ROLE_LABELS_SV[command.actor.role]}."
    if state.stage not in _STAGES[type(command)]:
        return f"Åtgärden kan inte utföras när ärendet är i steget ”{STAGE_LABELS_SV[state.stage]}”."
    if isinstance(command, Assign):
        return assign_refusal(state, command)
    if (declarations and type(command) in _DECLARED and state.stage not in _BEFORE_ASSESSMENT
            and not state.has_declared(command.actor.id)):
        return (f"{command.actor.id} har inte förklarat att jäv inte föreligger i ärendet (FL 16–18 §§). "
                "Lämna först en jävsförklaring (declare-no-conflict).")
    if isinstance(command, RecordsAction):
        return refusal_records(state, command, now)
    if _after_decision(state, command):
        return refusal_after_decision(state, command, now)  # type: ignore[arg-type]  # narrowed just above
    return refusal_before_decision(state, command, now)  # type: ignore[arg-type]


def apply(state: CaseState, command: Command, now: datetime) -> Receipt:
    """Carry out an action `refusal` accepted; returns the receipt, queues what must follow."""
    if (earlier := _earlier_receipt(state, command.action_id)) is not None:
        return earlier
    mark, stage = len(state.outbox), state.stage
    if isinstance(command, Resume):
        message = resume(state, command, now)
    elif isinstance(command, Assign):
        message = assign(state, command, now)
    elif isinstance(command, RecordsAction):
        message = apply_records(state, command, now)
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
        fingerprint=fingerprint(command),
    )
    # The action itself goes into the register before what it caused (a letter, a closing).
    state.outbox.insert(mark, RecordEvent(
        event_id=command.action_id, at=now, actor_id=command.actor.id, actor_role=command.actor.role.value,
        event=receipt.action, summary=message, stage=stage,
    ))
    if isinstance(command, RequestPublicDocument) and (request := find_request(state, command.action_id)):
        # Anyone may ask, as often as they like: a request's receipt stays with the request, so that
        # requests never push the receipts of people's other actions out of the bounded map below.
        request.receipt = receipt
        return receipt
    if len(state.receipts) >= MAX_RECEIPTS:
        state.receipts.pop(next(iter(state.receipts)))
    state.receipts[command.action_id] = receipt
    return receipt


def _earlier_receipt(state: CaseState, action_id: str) -> Receipt | None:
    """The receipt of an action already taken under this id: in the receipts, or with a records request."""
    if (earlier := state.receipts.get(action_id)) is not None:
        return earlier
    request = find_request(state, action_id)
    return request.receipt if request is not None else None


def deadline_passed(state: CaseState, now: datetime) -> None:
    """A timer of the case has fired: record what ran out; what follows is for people to decide."""
    deadline_passed_before_decision(state, now)
    deadline_passed_after_decision(state, now)
    deadline_passed_records(state, now)


__all__ = ["ROLE_LABELS_SV", "Command", "apply", "deadline_passed", "fingerprint", "refusal", "roles_for", "stages_for"]
