"""The stages of one grant case and the only moves between them.

Pure data and functions: the case workflow asks this module whether a move is
allowed and records the answer, so the rules live in one place that replays the
same way every time and can be read by an auditor without knowing Temporal.

`TRANSITIONS` holds frozensets: check membership, never iterate them to pick a
move, because their order depends on the process's string hash seed.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType


class Stage(StrEnum):
    RECEIVED = "received"
    COMPLETENESS = "completeness"  # includes waiting for the applicant's completion
    SECRECY_REVIEW = "secrecy_review"
    ASSESSMENT = "assessment"
    DECISION = "decision"  # prepared, waiting for the decision maker; includes kommunicering
    DECIDED = "decided"  # the outcome itself is recorded with the case, not as a stage
    PAYMENTS = "payments"
    FINAL_REPORT = "final_report"
    RECLAIM = "reclaim"
    CLOSED = "closed"
    WITHDRAWN = "withdrawn"


class Outcome(StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"
    DISMISSED = "dismissed"  # avvisning: the application is not tried on its merits
    WITHDRAWN = "withdrawn"


STAGE_LABELS_SV: Mapping[Stage, str] = MappingProxyType(
    {
        Stage.RECEIVED: "Mottagen",
        Stage.COMPLETENESS: "Komplettering och behörighet",
        Stage.SECRECY_REVIEW: "Sekretessprövning",
        Stage.ASSESSMENT: "Bedömning",
        Stage.DECISION: "Beslut",
        Stage.DECIDED: "Beslutad",
        Stage.PAYMENTS: "Utbetalning",
        Stage.FINAL_REPORT: "Slutrapport",
        Stage.RECLAIM: "Återkrav",
        Stage.CLOSED: "Avslutad",
        Stage.WITHDRAWN: "Återkallad",
    }
)

OUTCOME_LABELS_SV: Mapping[Outcome, str] = MappingProxyType(
    {
        Outcome.APPROVED: "beviljad",
        Outcome.REJECTED: "avslagen",
        Outcome.DISMISSED: "avvisad",
        Outcome.WITHDRAWN: "återkallad",
    }
)

# An applicant may withdraw at any time (DOMAIN.md). Withdrawal follows the money,
# not the stage: with nothing paid out there is nothing to reclaim, so even a case
# in PAYMENTS or FINAL_REPORT (paid in arrears, possibly nothing paid yet) can be
# withdrawn; once money is out, the withdrawal has to become a reclaim instead.
_WITHDRAWABLE: frozenset[Stage] = frozenset(
    {
        Stage.RECEIVED,
        Stage.COMPLETENESS,
        Stage.SECRECY_REVIEW,
        Stage.ASSESSMENT,
        Stage.DECISION,
        Stage.DECIDED,
        Stage.PAYMENTS,
        Stage.FINAL_REPORT,
    }
)

# Money can only have left the agency once a grant has been decided: an advance
# may be paid with the decision, before the case reaches PAYMENTS.
_MAY_HAVE_PAID: frozenset[Stage] = frozenset({Stage.DECIDED, Stage.PAYMENTS, Stage.FINAL_REPORT})

_FORWARD: Mapping[Stage, frozenset[Stage]] = {
    Stage.RECEIVED: frozenset({Stage.COMPLETENESS}),
    # Dismissal (avvisning) of a late or incomplete application is itself a
    # decision, so it skips secrecy review and assessment but not the decision maker.
    Stage.COMPLETENESS: frozenset({Stage.SECRECY_REVIEW, Stage.DECISION}),
    Stage.SECRECY_REVIEW: frozenset({Stage.ASSESSMENT}),
    Stage.ASSESSMENT: frozenset({Stage.DECISION}),
    Stage.DECISION: frozenset({Stage.DECIDED}),
    # Approved goes on to payment; rejected and dismissed cases have nothing left to do.
    Stage.DECIDED: frozenset({Stage.PAYMENTS, Stage.CLOSED}),
    # Revocation (false information, project not run as decided) means a reclaim.
    Stage.PAYMENTS: frozenset({Stage.FINAL_REPORT, Stage.RECLAIM}),
    # The final payment is made while handling the final report, so there is no way
    # back to PAYMENTS; overpayment or a missing report leads to a reclaim.
    Stage.FINAL_REPORT: frozenset({Stage.CLOSED, Stage.RECLAIM}),
    Stage.RECLAIM: frozenset({Stage.CLOSED}),
    # A withdrawn case is still archived with its full history.
    Stage.WITHDRAWN: frozenset({Stage.CLOSED}),
    # Archived cases are kept unchanged for audit; nothing leaves CLOSED.
    Stage.CLOSED: frozenset(),
}

TRANSITIONS: Mapping[Stage, frozenset[Stage]] = MappingProxyType(
    {
        stage: _FORWARD[stage]
        | (frozenset({Stage.WITHDRAWN}) if stage in _WITHDRAWABLE else frozenset())
        # An advance paid with the decision must be reclaimable before PAYMENTS starts.
        | (frozenset({Stage.RECLAIM}) if stage in _MAY_HAVE_PAID else frozenset())
        for stage in Stage
    }
)


def _quoted(stage: Stage) -> str:
    return f"”{STAGE_LABELS_SV[stage]}”"


def _default_reason(current: Stage, target: Stage) -> str:
    if current is Stage.CLOSED:
        return "ärendet är avslutat och kan inte ändras"
    if current is target:
        return "ärendet är redan i det steget"
    return "den övergången är inte tillåten"


class TransitionError(ValueError):
    """A move the lifecycle does not allow; the message is shown to officers."""

    def __init__(self, current: Stage, target: Stage, reason: str | None = None) -> None:
        self.current = current
        self.target = target
        self.reason = reason if reason is not None else _default_reason(current, target)
        super().__init__(f"Ärendet kan inte gå från {_quoted(current)} till {_quoted(target)}: {self.reason}.")


def allowed_next(stage: Stage) -> frozenset[Stage]:
    return TRANSITIONS[stage]


def transition(current: Stage, target: Stage) -> Stage:
    if target not in TRANSITIONS[current]:
        raise TransitionError(current, target)
    return target


def is_terminal(stage: Stage) -> bool:
    # WITHDRAWN is not terminal: the case must still be closed and archived.
    return stage is Stage.CLOSED


def withdrawal_target(stage: Stage, paid_out: bool) -> Stage:
    """Where an applicant's withdrawal takes a case in `stage`.

    `paid_out` is whether any money has been paid out on the case.
    """
    if stage is Stage.CLOSED:
        raise TransitionError(stage, Stage.WITHDRAWN, "ärendet är avslutat och kan inte återkallas")
    if stage is Stage.WITHDRAWN:
        raise TransitionError(stage, Stage.WITHDRAWN, "ansökan är redan återkallad")
    if stage is Stage.RECLAIM:
        # Withdrawing does not cancel a debt: the reclaim already running goes on.
        raise TransitionError(stage, Stage.WITHDRAWN, "ärendet är redan under återkrav")
    if paid_out:
        if stage not in _MAY_HAVE_PAID:
            # Nothing can be paid before a decision; believing otherwise is a bug upstream.
            raise ValueError(f"paid_out=True is impossible in stage {stage.value!r}, before any decision")
        return Stage.RECLAIM
    return Stage.WITHDRAWN
