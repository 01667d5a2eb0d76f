"""Which cases a signed-in person may see: staff see every case, an applicant only their organisation's.

Every route that takes a case number asks `visible_case` (or depends on `VisibleCaseNumber`)
before it does anything with the case. A case that is not the applicant's answers 404, exactly
as a case that does not exist, so that case numbers cannot be probed.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path

from api.app import Context, Ctx
from api.auth import ApiRole, Principal, signed_in
from api.problems import not_found
from services.case_view import registered
from services.cases import check_case_number


async def visible_case(ctx: Context, principal: Principal, case_number: str) -> str:
    """The case number, if `principal` may see that case.

    - not written as a case number (ÅÅÅÅ-NNNNN): 422 naming the field `case_number`;
    - an applicant: the register's sender (`sender_org_number`) must be the applicant's organisation,
      else 404 (also for a case that does not exist);
    - staff: any well-formed number passes (a case that does not exist is a 404 when it is read).

    What a role may do with the case is the route's (`api.auth.allowed`) and the case's own check.
    """
    check_case_number(case_number, "case_number")
    if principal.role is ApiRole.APPLICANT:
        # Sign-in gives an applicant's number as the register writes it (domain.users.applicant_org_number).
        row = await registered(ctx.pool, case_number)
        if principal.org_number is None or row is None or row.sender_org_number != principal.org_number:
            raise not_found()
    return case_number


# A case number in a path, as the OpenAPI document describes it. The pattern is documented, not enforced
# here: `check_case_number` answers a malformed one with its own Swedish reason, naming `case_number`.
CASE_NUMBER_PATTERN = "^[0-9]{4}-[0-9]{5}$"
CaseNumberPath = Annotated[str, Path(description="The case number, ÅÅÅÅ-NNNNN, e.g. 2026-00001",
                                     json_schema_extra={"pattern": CASE_NUMBER_PATTERN})]


async def _visible_case_number(
    ctx: Ctx,
    principal: Annotated[Principal, Depends(signed_in)],
    case_number: CaseNumberPath,
) -> str:
    return await visible_case(ctx, principal, case_number)


# A route parameter: the path's `case_number`, once `visible_case` has let it through.
VisibleCaseNumber = Annotated[str, Depends(_visible_case_number)]
