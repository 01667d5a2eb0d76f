"""What operations filter cases by in Temporal UI. No personal data: these are not encrypted."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

if TYPE_CHECKING:  # the bench's bare worker imports the keys, and nothing of grantflow's domain
    from domain.case import CaseState

CASE_STAGE = SearchAttributeKey.for_keyword("CaseStage")
CALL_ID = SearchAttributeKey.for_keyword("CallId")
OFFICER = SearchAttributeKey.for_keyword("Officer")
# Money is never a float, and search attributes have no decimal type: whole öre.
REQUESTED_AMOUNT_ORE = SearchAttributeKey.for_int("RequestedAmountOre")
GRANTED_AMOUNT_ORE = SearchAttributeKey.for_int("GrantedAmountOre")
NEXT_DEADLINE = SearchAttributeKey.for_datetime("NextDeadline")
# A reclaim's claim: "decided", then "overdue" once past its due date unpaid (escalated), or "settled".
CLAIM_STATUS = SearchAttributeKey.for_keyword("ClaimStatus")
# The step a case has stopped because it failed for good (e.g. "register"), until operations resume
# it; unset otherwise. A step's name only, never the error's text.
CASE_STALLED = SearchAttributeKey.for_keyword("CaseStalled")

ALL = (CASE_STAGE, CALL_ID, OFFICER, REQUESTED_AMOUNT_ORE, GRANTED_AMOUNT_ORE, NEXT_DEADLINE, CLAIM_STATUS,
       CASE_STALLED)


def of_case(state: CaseState) -> list[tuple[SearchAttributeKey[Any], object]]:
    """Each attribute's value for a case as it stands (None: the attribute has no value)."""
    return [
        (CASE_STAGE, state.stage.value),
        (CALL_ID, state.call.id),
        (OFFICER, state.officer),
        (REQUESTED_AMOUNT_ORE, _ore(state.application.requested_amount)),
        (GRANTED_AMOUNT_ORE, None if state.granted is None else _ore(state.granted)),
        (NEXT_DEADLINE, state.next_deadline),
        (CLAIM_STATUS, _claim_status(state)),
        (CASE_STALLED, state.stalled.step if state.stalled else None),
    ]


def at_start(state: CaseState) -> TypedSearchAttributes:
    """What a new case starts with, so that operations find it by its stage from its first moment."""
    return TypedSearchAttributes([SearchAttributePair(key, value) for key, value in of_case(state)
                                  if value is not None])


def _claim_status(state: CaseState) -> str | None:
    claim = state.reclaim.claim if state.reclaim else None
    if state.reclaim is None or claim is None:
        return None
    if state.reclaim.settled_at is not None:
        return "settled"
    return "overdue" if claim.escalated_at is not None else "decided"


def _ore(amount: Decimal) -> int:
    return int(amount * 100)
