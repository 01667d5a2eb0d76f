"""The API's development users: `grantflow users add | list | revoke`, and who a token belongs to.

A development token is "gf_" and 43 random URL-safe characters (256 bits). It is printed once, when it
is issued; the database keeps only its SHA-256, so a copy of the database signs no one in. A person
may hold several roles, one token each. Issuing a token for a user who has one replaces it (the old
one stops working), and also brings back a revoked user: that is how a lost token is replaced.
In production people sign in with the identity provider's tokens instead (api/signin.py, OIDC).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Annotated

from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError, field_validator

from activities.users import UserRow, list_users, revoke_users, save_user, user_by_token
from domain.case import PersonId
from domain.text import Clean
from domain.users import ApiRole, InvalidUser, applicant_org_number
from infra.errors import InputError, InputProblem, from_validation_error
from infra.settings import Settings
from services import demo
from services.register import read_pool

TOKEN_PREFIX = "gf_"
MAX_TOKEN_LENGTH = 200  # ours are 46 characters; anything much longer is not worth hashing

# As domain.case.Actor refuses it: an id is written into cases' histories, which are not secret.
_LOOKS_PERSONAL = re.compile(r"(\d{2})?\d{6}[-+]?\d{4}")

User = UserRow


class NewUser(BaseModel):
    """What `users add` is given; the reasons are Swedish and name the field."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: PersonId
    role: ApiRole
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), Clean]
    org_number: str | None = None

    @field_validator("id")
    @classmethod
    def _not_a_personnummer(cls, value: str) -> str:
        if _LOOKS_PERSONAL.fullmatch(value):
            raise ValueError("ett användar-id är myndighetens användar-id, aldrig ett personnummer")
        return value


class Issued(BaseModel):
    """A user and their new token: the only time the token is seen."""

    user: User
    token: str
    new: bool  # False: an existing user's token was replaced


_ID_FORM = "får bara innehålla bokstäverna a–z och A–Z, siffror och . _ @ - (1–100 tecken), t.ex. anna.andersson"


def _problems(error: ValidationError) -> list[InputProblem]:
    problems = []
    for problem in from_validation_error(error, form="användaren").problems:
        field = problem.field.removeprefix("$.")
        reason = _ID_FORM if field == "id" and problem.reason.startswith("har fel form") else problem.reason
        problems.append(InputProblem(field=field, reason=reason))
    return problems


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_user(id: str, role: str, *, name: str | None = None, org_number: str | None = None) -> NewUser:
    """Check what `add` is given; raises InputError naming id, role, name or org_number."""
    problems = []
    try:
        user = NewUser.model_validate({"id": id, "role": role, "name": name if name is not None else id})
    except ValidationError as error:
        problems = _problems(error)
        # A name not given is the id: its problems are the id's, said once.
        problems = [p for p in problems if name is not None or p.field != "name"]
        user = None
    applicant = role == ApiRole.APPLICANT.value
    if applicant and org_number is None:
        problems.append(InputProblem(field="org_number", reason="behövs för rollen applicant: organisationen som "
                                                                 "användaren företräder"))
    elif applicant and org_number is not None:
        try:
            org_number = applicant_org_number(org_number)
        except InvalidUser as error:
            problems.append(InputProblem(field="org_number", reason=str(error)))
    elif org_number is not None:
        problems.append(InputProblem(field="org_number", reason="gäller bara rollen applicant; personal företräder "
                                                                 "ingen organisation"))
    if problems or user is None:
        raise InputError(problems)
    return user.model_copy(update={"org_number": org_number})


def check_id(id: str) -> str:
    """A user id as `revoke` takes it; raises InputError (field "id") when it cannot be one."""
    try:
        return NewUser.model_validate({"id": id, "role": ApiRole.OFFICER, "name": "x"}).id
    except ValidationError as error:
        raise InputError(_problems(error)) from None


async def add(pool: AsyncConnectionPool, user: NewUser) -> Issued:
    """Issue a token for the user: a new user, or a new token replacing their old (or revoked) one."""
    token = new_token()
    row, new = await save_user(pool, id=user.id, role=user.role, name=user.name, org_number=user.org_number,
                               token_sha256=token_sha256(token))
    return Issued(user=row, token=token, new=new)


async def users(pool: AsyncConnectionPool) -> list[User]:
    """Every user, revoked or not; never a token."""
    return await list_users(pool)


async def revoke(pool: AsyncConnectionPool, id: str, role: ApiRole | None = None) -> list[User]:
    """Revoke the user's tokens (in one role, or all of them); returns those revoked now, [] if they already were.

    Raises InputError when there is no such user at all.
    """
    revoked = await revoke_users(pool, id, role)
    if not revoked and not any(u.id == id and (role is None or u.role is role) for u in await list_users(pool)):
        who = f"{id} med rollen {role.value}" if role is not None else id
        raise InputError.one("id", f"det finns ingen användare {who}")
    return revoked


async def identify(pool: AsyncConnectionPool, token: str) -> User | None:
    """The user whose development token this is; None when it is not one, or it was revoked or replaced."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > MAX_TOKEN_LENGTH:
        return None
    return await user_by_token(pool, token_sha256(token))


# --- the demo's people ----------------------------------------------------------------------------

# The officer, decision maker and applicant are those the demo's cases name as actors (services/demo.py),
# so that each sees their own cases.
DEMO_USERS: tuple[tuple[str, ApiRole, str], ...] = (
    (demo.APPLICANT["id"], ApiRole.APPLICANT, "Demosökande"),
    (demo.OFFICER["id"], ApiRole.OFFICER, "Anna Handläggare"),
    (demo.DECIDER["id"], ApiRole.DECISION_MAKER, "Bo Beslutsfattare"),
    ("eva.ekonomi", ApiRole.FINANCE, "Eva Ekonomi"),
    ("rut.revisor", ApiRole.AUDITOR, "Rut Revisor"),
    ("dan.drift", ApiRole.OPERATIONS, "Dan Drift"),
    (demo.ADMINISTRATOR["id"], ApiRole.ADMINISTRATOR, "Ada Administratör"),
)


async def demo_users(pool: AsyncConnectionPool) -> list[Issued]:
    """One user per role, each with a fresh token (an earlier `up --demo`'s tokens stop working)."""
    org = demo.demo_applicant_org_number()
    return [
        await add(pool, new_user(id, role.value, name=name, org_number=org if role is ApiRole.APPLICANT else None))
        for id, role, name in DEMO_USERS
    ]


async def issue_demo_users(settings: Settings) -> list[Issued]:
    async with read_pool(settings) as pool:
        return await demo_users(pool)


# --- for the CLI: a small pool of its own ---------------------------------------------------------

async def add_user(settings: Settings, user: NewUser) -> Issued:
    async with read_pool(settings) as pool:
        return await add(pool, user)


async def list_all(settings: Settings) -> list[User]:
    async with read_pool(settings) as pool:
        return await users(pool)


async def revoke_user(settings: Settings, id: str, role: ApiRole | None = None) -> list[User]:
    async with read_pool(settings) as pool:
        return await revoke(pool, id, role)
