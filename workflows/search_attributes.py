"""What operations filter cases by in Temporal UI. No personal data: these are not encrypted."""

from temporalio.common import SearchAttributeKey

CASE_STAGE = SearchAttributeKey.for_keyword("CaseStage")
CALL_ID = SearchAttributeKey.for_keyword("CallId")
OFFICER = SearchAttributeKey.for_keyword("Officer")
# Money is never a float, and search attributes have no decimal type: whole öre.
REQUESTED_AMOUNT_ORE = SearchAttributeKey.for_int("RequestedAmountOre")
GRANTED_AMOUNT_ORE = SearchAttributeKey.for_int("GrantedAmountOre")
NEXT_DEADLINE = SearchAttributeKey.for_datetime("NextDeadline")
# A reclaim's claim: "decided", then "overdue" once past its due date unpaid (escalated), or "settled".
CLAIM_STATUS = SearchAttributeKey.for_keyword("ClaimStatus")

ALL = (CASE_STAGE, CALL_ID, OFFICER, REQUESTED_AMOUNT_ORE, GRANTED_AMOUNT_ORE, NEXT_DEADLINE, CLAIM_STATUS)
