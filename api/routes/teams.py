"""Teams of staff, kept by administrators: `GET /teams`, `PUT` and `DELETE /teams/{team}/members/{person}`.

The inbox's `team` filter reads the same table (docs/decisions/0035)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from api.app import Ctx
from api.auth import ApiRole, Principal, allowed
from api.problems import not_found, problem_answer
from services import teams
from services.teams import Team, TeamChange

router = APIRouter(tags=["teams"])

# "Users and assignments" are the administrator's (domain/actions.py): teams are too.
Administrator = Annotated[Principal, Depends(allowed(ApiRole.ADMINISTRATOR))]
# Documented, not enforced here: the service answers a malformed name or id with its own Swedish reason.
TeamPath = Annotated[str, Path(description="The team's name: lower-case letters, digits and inner hyphens, "
                                           "e.g. handlaggning-norr", max_length=200,
                               json_schema_extra={"pattern": teams.TEAM_PATTERN})]
PersonPath = Annotated[str, Path(description="The member's person id, as they sign in, e.g. anna.andersson",
                                 max_length=200)]


@router.get("/teams", summary="Every team with its members")
async def list_teams(ctx: Ctx, _: Administrator) -> list[Team]:
    return await teams.teams(ctx.pool)


@router.put("/teams/{team}/members/{person}", summary="Add a person to a team (the team is made with its first)")
async def add_member(ctx: Ctx, principal: Administrator, team: TeamPath, person: PersonPath) -> TeamChange:
    """Adding someone already in the team changes nothing (`changed` is empty)."""
    return await teams.add(ctx.pool, team, [person], principal.id)


@router.delete("/teams/{team}/members/{person}", summary="Take a person out of a team",
               responses={404: problem_answer("The person is not in the team")})
async def remove_member(ctx: Ctx, _: Administrator, team: TeamPath, person: PersonPath) -> TeamChange:
    change = await teams.remove(ctx.pool, team, person)
    if not change.changed:
        raise not_found(f"{person} är inte med i teamet {team}.")
    return change
