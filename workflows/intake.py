"""Receiving an application: register it under a case number and start its case.

The case number is the case workflow's id, so it must exist before the case does. This
short workflow allocates it in the register (without gaps, in the same transaction as the
register entry), checks the application, writes what the case opens with (its first events,
its stage and the applicant's receipt) and starts the case. Its id is the submission's, so a
client that sends the same submission twice gets the same case number back.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.checks import CheckRequest, check_application
    from activities.register import Register, RegisterApplication, RegisterWrite
    from domain.money import format_kronor
    from workflows import search_attributes as sa
    from workflows.messages import CaseInput, CaseStart, Intake, Submission
    from workflows.policies import failure_type

# Intakes that started before it ran their case's opening in the case (replayed as they were).
OPENS_THE_CASE = "the-intake-opens-the-case"
# Each of the intake's steps: an applicant waits for its answer, so a step is retried at least every minute.
STEP_TIMEOUT = timedelta(minutes=1)
STEP_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=1))


def intake_workflow_id(submission_id: str) -> str:
    return f"intake-{submission_id}"


NOT_REGISTERED = "NotRegistered"


def not_registered(error: ActivityError | ApplicationError) -> ApplicationError:
    """The intake's failure when the register refused the application for good: the cause's type only,
    since its message may quote the application."""
    cause = failure_type(error)
    return ApplicationError(f"the register refused the application ({cause})", cause, type=NOT_REGISTERED,
                            non_retryable=True)


@workflow.defn
class IntakeWorkflow:
    @workflow.run
    async def run(self, submission: Submission) -> Intake:
        imported = submission.imported_received_at is not None
        # FL 22 §: received is when it reached the agency's system, i.e. when the server accepted
        # this workflow's start, not when a worker (perhaps after a backlog) first ran it.
        received_at = submission.imported_received_at or workflow.info().workflow_start_time
        application = submission.application
        # Local activities: all three are short, and an application should be registered in the
        # time it takes to start a workflow, not in several trips through task queues.
        try:
            registered = await workflow.execute_local_activity_method(
                Register.register_application,
                RegisterApplication.received(submission.submission_id, submission.call.id, application, received_at,
                                             imported),
                start_to_close_timeout=STEP_TIMEOUT, retry_policy=STEP_RETRY,
                summary="registrera ansökan i diariet",
            )
        except (ActivityError, ApplicationError) as error:
            # Only what no retry can mend gets here (the register refused the application): the intake
            # fails, visibly, and the client waiting for its case number is told so at once.
            raise not_registered(error) from None
        # Checked here, before the case starts, so that the applicant's receipt can say at
        # once what is missing and the case starts in the right stage.
        verdict = await workflow.execute_local_activity(
            check_application,
            CheckRequest(call=submission.call, application=application, received_at=registered.received_at),
            start_to_close_timeout=STEP_TIMEOUT, retry_policy=STEP_RETRY,
            summary="kontrollera ansökan mot utlysningens regler",
        )
        start = CaseStart(
            case_number=registered.case_number, submission_id=submission.submission_id,
            call=submission.call, application=application, received_at=registered.received_at,
            imported=imported, verdict=verdict,
        )
        case = start.new_case()
        if workflow.patched(OPENS_THE_CASE):
            # The case's opening (the application, its events, its stage and the receipt) goes to the register now,
            # in one write, instead of in the case's first task (docs/decisions/0016-the-intake-opens-the-case.md).
            # The case starts from the same opening, computed from the same input.
            try:
                start.opened = await workflow.execute_local_activity_method(
                    Register.open_case, RegisterWrite.opening(case),
                    start_to_close_timeout=STEP_TIMEOUT, retry_policy=STEP_RETRY,
                    summary="diarieför ärendets början och mottagningsbekräftelsen",
                )
            except (ActivityError, ApplicationError) as error:
                # Only what no retry can mend gets here (a receipt that cannot be written), and the
                # application is registered: its case must start all the same. It then writes its
                # opening itself, and the officer is told about the letter that did not go out.
                workflow.logger.warning("the case's opening was not written by the intake",
                                        extra={"case_number": start.case_number, "cause": str(error.cause or error)})
        # By name: importing workflows.case here would rebuild it in every intake's sandbox.
        await workflow.start_child_workflow(
            "CaseWorkflow",
            CaseInput(start=start),
            id=registered.case_number,
            parent_close_policy=ParentClosePolicy.ABANDON,
            static_summary=f"Ärende {registered.case_number} – {submission.call.id}",
            # Temporal UI shows no personal data (deploy/README.md): only what the project writes,
            # never the applicant's text.
            static_details=f"Sökt belopp: {format_kronor(application.requested_amount)}",
            # Operations find the case by its stage from the moment it exists, and its first task
            # has no attributes left to send (one visibility write per case, not two).
            search_attributes=sa.at_start(case),
        )
        return Intake(case_number=registered.case_number, verdict=verdict)
