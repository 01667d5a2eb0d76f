"""Teams of staff: `grantflow teams add | remove | list`, `/teams` in the API, and "my team's cases"
in the inbox (docs/decisions/0035).

A team is a name and its members, kept by administrators as register data: who works together on
which cases is not something a case decides, so no workflow holds it. A member is a person id as
they sign in (the development user's id, or the identity provider's subject), so one table serves
both sign-ins and a member need not have a development token. A team exists while it has members.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from activities import teams as stored
from domain.case import PersonId
from infra.errors import InputError, InputProblem
from infra.settings import Settings
from services import demo
from services.register import read_pool

# The inbox's word for "the teams I am in" (services/inbox.py): never a team's name.
MINE = "mine"
TEAM_PATTERN = r"^[a-zåäö0-9]([a-zåäö0-9-]{0,48}[a-zåäö0-9])?$"  # as migration 0012 checks it
_TEAM_FORM = ("ska skrivas med små bokstäver a–ö, siffror och bindestreck inuti (1–50 tecken), "
              "t.ex. handlaggning-norr")
_PERSON_FORM = ("ska vara ett användar-id: bokstäverna a–z och A–Z, siffror och . _ @ - (1–100 tecken), "
                "t.ex. anna.andersson; aldrig ett personnummer")

TeamName = Annotated[str, StringConstraints(pattern=TEAM_PATTERN)]


class TeamMember(BaseModel):
    person: str = Field(description="The member's person id, as they sign in")
    added_by: str = Field(description="Who added them")
    added_at: datetime


class Team(BaseModel):
    name: str
    members: list[TeamMember]


class TeamChange(BaseModel):
    """A team after a change, and who the change concerned (empty when nothing changed)."""

    team: Team
    changed: list[str]


class _Names(BaseModel):
    model_config = ConfigDict(frozen=True)

    team: TeamName
    persons: list[PersonId]


def check_team(team: str, field: str = "team") -> str:
    """A team's name; InputError naming `field` when it cannot be one."""
    if team == MINE:
        raise InputError.one(field, f"{MINE!r} är reserverat (inkorgens filter för dina egna team); "
                                    "välj ett annat namn")
    try:
        return _Names(team=team, persons=[]).team
    except ValidationError:
        raise InputError.one(field, _TEAM_FORM) from None


def check_person(person: str, field: str = "person") -> str:
    """A person id; InputError naming `field` when it cannot be one (a personnummer never is)."""
    try:
        return _Names(team="x", persons=[person]).persons[0]
    except ValidationError:
        raise InputError.one(field, _PERSON_FORM) from None


def _checked(team: str, persons: list[str], team_field: str, person_field: str) -> tuple[str, list[str]]:
    problems = []
    try:
        team = check_team(team, team_field)
    except InputError as error:
        problems += error.problems
    for person in persons:
        try:
            check_person(person, person_field)
        except InputError as error:
            problems += [p.model_copy(update={"reason": f"{person!r}: {p.reason}"}) for p in error.problems]
    if not persons:
        problems.append(InputProblem(field=person_field, reason="ange minst en person"))
    if problems:
        raise InputError(problems)
    return team, sorted(set(persons))


def _team(name: str, rows: list[stored.MemberRow]) -> Team:
    return Team(name=name, members=[TeamMember(person=r.person, added_by=r.added_by, added_at=r.added_at)
                                    for r in rows if r.team == name])


async def add(pool: AsyncConnectionPool, team: str, persons: list[str], added_by: str, *,
              team_field: str = "team", person_field: str = "person") -> TeamChange:
    """Add the persons to the team (made when it has no members yet); those already in it stay as they were."""
    team, persons = _checked(team, persons, team_field, person_field)
    added = await stored.add_members(pool, team, persons, added_by)
    return TeamChange(team=_team(team, await stored.members(pool, team)), changed=added)


async def remove(pool: AsyncConnectionPool, team: str, person: str, *, team_field: str = "team",
                 person_field: str = "person") -> TeamChange:
    """Take the person out of the team; `changed` is empty when they were not in it."""
    team, [person] = _checked(team, [person], team_field, person_field)
    removed = await stored.remove_member(pool, team, person)
    return TeamChange(team=_team(team, await stored.members(pool, team)), changed=[person] if removed else [])


async def teams(pool: AsyncConnectionPool) -> list[Team]:
    """Every team with its members, by name."""
    rows = await stored.members(pool)
    return [_team(name, rows) for name in sorted({r.team for r in rows})]


# --- the demo's team -------------------------------------------------------------------------------

# `up --demo`: the demo officer and her colleague (services/demo.py), so that her team's view has cases.
DEMO_TEAM = "handlaggning-demo"


async def add_demo_team(settings: Settings) -> TeamChange:
    async with read_pool(settings) as pool:
        return await add(pool, DEMO_TEAM, [demo.OFFICER["id"], demo.COLLEAGUE["id"]], demo.ADMINISTRATOR["id"])


# --- for the CLI: a small pool of its own ---------------------------------------------------------

async def add_with(settings: Settings, team: str, persons: list[str], added_by: str, **fields: str) -> TeamChange:
    async with read_pool(settings) as pool:
        return await add(pool, team, persons, added_by, **fields)


async def remove_with(settings: Settings, team: str, person: str, **fields: str) -> TeamChange:
    async with read_pool(settings) as pool:
        return await remove(pool, team, person, **fields)


async def list_with(settings: Settings) -> list[Team]:
    async with read_pool(settings) as pool:
        return await teams(pool)


__all__ = ["DEMO_TEAM", "MINE", "TEAM_PATTERN", "Team", "TeamChange", "TeamMember", "TeamName", "add",
           "add_demo_team", "add_with", "check_person", "check_team", "list_with", "remove", "remove_with", "teams"]
