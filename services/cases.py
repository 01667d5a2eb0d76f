"""Cases: submit an application, act on a case, read where it stands.

Everything here reaches cases through the Temporal client: the register in PostgreSQL is
written only by the case workflows' activities.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from temporalio.client import Client, WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from domain.actions import fingerprint
from domain.after_decision import (
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
)
from domain.call import Call
from domain.case import (
    AcceptForReview,
    Action,
    Assign,
    CaseState,
    Communicate,
    Decide,
    DeclareNoConflict,
    PrepareDecision,
    Receipt,
    RecordSecrecyReview,
    ReplyToCommunication,
    RequestCompletion,
    RequestDecision,
    Resume,
    ScoreApplication,
    SubmitCompletion,
    Withdraw,
)
from domain.records import RefusePublicDocument, ReleasePublicDocument, RequestPublicDocument
from infra.calls import CallCatalog
from infra.errors import InputError, from_validation_error
from services.applications import check_imported_received, read_application
from workflows.call import CallWorkflow, call_workflow_id
from workflows.case import CaseWorkflow
from workflows.intake import NOT_REGISTERED, IntakeWorkflow, intake_workflow_id
from workflows.messages import CallState, Intake, Submission

# As domain.case.CaseNumber has it.
_CASE_NUMBER = re.compile(r"[0-9]{4}-[0-9]{5}", re.ASCII)

# The actions people take, by the name a person types: (the case's update, its input).
ACTIONS: dict[str, tuple[Any, type[Action]]] = {
    "request-completion": (CaseWorkflow.request_completion, RequestCompletion),
    "submit-completion": (CaseWorkflow.submit_completion, SubmitCompletion),
    "accept-for-review": (CaseWorkflow.accept_for_review, AcceptForReview),
    "record-secrecy-review": (CaseWorkflow.record_secrecy_review, RecordSecrecyReview),
    "declare-no-conflict": (CaseWorkflow.declare_no_conflict, DeclareNoConflict),
    "score": (CaseWorkflow.score, ScoreApplication),
    "prepare-decision": (CaseWorkflow.prepare_decision, PrepareDecision),
    "communicate": (CaseWorkflow.communicate, Communicate),
    "reply-to-communication": (CaseWorkflow.reply_to_communication, ReplyToCommunication),
    "decide": (CaseWorkflow.decide, Decide),
    "withdraw": (CaseWorkflow.withdraw, Withdraw),
    "request-decision": (CaseWorkflow.request_decision, RequestDecision),
    "file-payment-request": (CaseWorkflow.file_payment_request, FilePaymentRequest),
    "review-payment-request": (CaseWorkflow.review_payment_request, ReviewPaymentRequest),
    "submit-final-report": (CaseWorkflow.submit_final_report, SubmitFinalReport),
    "review-final-report": (CaseWorkflow.review_final_report, ReviewFinalReport),
    "prepare-revocation": (CaseWorkflow.prepare_revocation, PrepareRevocation),
    "revoke": (CaseWorkflow.revoke, Revoke),
    "prepare-reclaim": (CaseWorkflow.prepare_reclaim, PrepareReclaim),
    "decide-reclaim": (CaseWorkflow.decide_reclaim, DecideReclaim),
    "register-repayment": (CaseWorkflow.register_repayment, RegisterRepayment),
    "write-off": (CaseWorkflow.write_off, WriteOff),
    # Operations: carry out again a step the case stopped because it failed for good.
    "resume": (CaseWorkflow.resume, Resume),
    # An administrator gives the case to a case officer.
    "assign": (CaseWorkflow.assign, Assign),
    # Requests for public documents: the public asks (services.records), an officer answers.
    "request-public-document": (CaseWorkflow.request_public_document, RequestPublicDocument),
    "release-public-document": (CaseWorkflow.release_public_document, ReleasePublicDocument),
    "refuse-public-document": (CaseWorkflow.refuse_public_document, RefusePublicDocument),
}


class ActionRefused(Exception):
    """The case refused the action; nothing was changed. The message is Swedish."""


class CaseNotFound(InputError):
    pass


class NotRegistered(Exception):
    """The register refused the application for good: no case was opened. The message is Swedish."""


# Call workflows this process has already made sure of: one start per call, not per application
# (a thousand concurrent starts of one workflow id make the server answer "busy").
_ensured: set[tuple[str, str, str]] = set()


async def ensure_call_workflow(client: Client, call: Call, task_queue: str) -> None:
    key = (client.namespace, call.id, task_queue)
    if key in _ensured:
        return
    await client.start_workflow(
        CallWorkflow.run,
        CallState(call=call),
        id=call_workflow_id(call.id),
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        static_summary=f"Utlysning {call.id}: {call.title}",
    )
    _ensured.add(key)


async def submit(
    client: Client,
    catalog: CallCatalog,
    raw: bytes | str,
    *,
    task_queue: str,
    submission_id: str | None = None,
    imported_received_at: datetime | None = None,
) -> Intake:
    """Register an application, check it and start its case; returns the case number and findings.

    The same `submission_id` twice gives the same case number: a client that lost the
    answer can simply send again.
    """
    if imported_received_at is not None:
        check_imported_received(imported_received_at)
    application = read_application(raw)
    call = catalog.get(application.call_id)
    submission_id = submission_id or uuid.uuid4().hex
    await ensure_call_workflow(client, call, task_queue)
    try:
        handle = await client.start_workflow(
            IntakeWorkflow.run,
            Submission(submission_id=submission_id, call=call, application=application,
                       imported_received_at=imported_received_at),
            id=intake_workflow_id(submission_id),
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            static_summary=f"Mottagning av ansökan till {call.id}",
        )
    except WorkflowAlreadyStartedError:
        # Received before and already registered: the answer is the one it got then.
        handle = client.get_workflow_handle_for(IntakeWorkflow.run, intake_workflow_id(submission_id))
    try:
        return await handle.result()
    except WorkflowFailureError as exc:
        failure = exc.cause
        if not (isinstance(failure, ApplicationError) and failure.type == NOT_REGISTERED):
            raise
        cause = failure.details[0] if failure.details else "okänt fel"
        raise NotRegistered(f"diariet kunde inte ta emot ansökan ({cause}), så inget ärende öppnades; "
                            f"drift behöver se mottagningen {handle.id} i Temporal UI") from None


def build_command(action: str, actor: dict[str, Any], payload: dict[str, Any], action_id: str | None) -> Action:
    if action not in ACTIONS:
        raise InputError.one("action", f"okänd åtgärd {action!r}; kända: {', '.join(ACTIONS)}")
    _, model = ACTIONS[action]
    try:
        return model.model_validate({**payload, "actor": actor, "action_id": action_id or uuid.uuid4().hex})
    except ValidationError as exc:
        raise from_validation_error(exc, form=f"åtgärden {action}") from None


def check_case_number(text: str, field: str = "case") -> str:
    """A case number as the register writes it: each interface checks what it is given before asking Temporal.

    (Not inside `act` and `case_state`: tests and tools address copies of a case by other workflow ids.)
    """
    if _CASE_NUMBER.fullmatch(text) is None:
        raise InputError.one(field, f"{text!r} är inget ärendenummer (ÅÅÅÅ-NNNNN, t.ex. 2025-00042)")
    return text


def update_id(command: Action) -> str:
    """The Temporal update id of an action: its action id and what it says.

    Temporal answers an update id it has seen with the first outcome, without asking the case;
    the same action id with other content gets another update id, so that the case can refuse it.
    """
    return f"{command.action_id}#{fingerprint(command)[:16]}"  # type: ignore[arg-type]  # every Action in ACTIONS is a Command


async def act(client: Client, case_number: str, action: str, command: Action) -> Receipt:
    update, _ = ACTIONS[action]
    handle = client.get_workflow_handle_for(CaseWorkflow.run, case_number)
    try:
        receipt: Receipt = await handle.execute_update(update, command, id=update_id(command))
        return receipt
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        if isinstance(cause, ApplicationError):
            raise ActionRefused(cause.message) from None
        raise
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND and "already completed" in exc.message:
            # A closed case's workflow has ended; it is archived and takes no more actions.
            raise ActionRefused("Ärendet är avslutat och kan inte ändras.") from None
        if exc.status is RPCStatusCode.NOT_FOUND:
            raise CaseNotFound.one("case", f"det finns inget ärende {case_number!r}") from None
        raise


async def case_state(client: Client, case_number: str) -> CaseState:
    handle = client.get_workflow_handle_for(CaseWorkflow.run, case_number)
    for attempt in range(_NOT_READY_TRIES):
        try:
            return await handle.query(CaseWorkflow.current_state)
        except RPCError as exc:
            if exc.status is RPCStatusCode.NOT_FOUND:
                raise CaseNotFound.one("case", f"det finns inget ärende {case_number!r}") from None
            if exc.status is not RPCStatusCode.FAILED_PRECONDITION or attempt == _NOT_READY_TRIES - 1:
                raise
            # A case that has just continued as new answers once its new run has had a first task.
            await asyncio.sleep(0.1)
    raise AssertionError("unreachable")


_NOT_READY_TRIES = 50


