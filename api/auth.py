"""Who is signed in, and what they may do.

The bearer token says who a person is: a development token that `grantflow users add` printed
(only its hash is stored), or in production a JWT from the agency's identity provider (`api/signin.py`).
The actor of every action is taken from here, never from the request body. What a role may do in
a case stays the workflow's own check (`domain.actions`); these dependencies only keep a person
away from endpoints their role has no business with.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Protocol

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from api.problems import ProblemError
from domain.case import Actor, Role
from domain.users import ApiRole

__all__ = ["READERS", "ApiRole", "Authenticator", "Principal", "allowed", "signed_in", "unauthorized"]

READERS = frozenset({ApiRole.OFFICER, ApiRole.DECISION_MAKER, ApiRole.FINANCE, ApiRole.AUDITOR,
                     ApiRole.ADMINISTRATOR})


class Principal(BaseModel):
    """The signed-in person."""

    id: str  # a staff login, or an applicant user's id
    name: str
    role: ApiRole
    org_number: str | None = None  # an applicant's organisation; None for staff

    def actor(self) -> Actor:
        return Actor(id=self.id, role=Role(self.role.value))


class Authenticator(Protocol):
    async def __call__(self, token: str) -> Principal | None:
        """The person a token belongs to; None when it is not valid (expired, revoked, forged)."""


_bearer = HTTPBearer(auto_error=False, description="A development token from `grantflow users add`, "
                     "or the identity provider's access token (JWT)")


def unauthorized(detail: str = "Du behöver logga in med en giltig token.") -> ProblemError:
    return ProblemError(401, "Not signed in", detail)


async def signed_in(request: Request,
                    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise unauthorized()
    authenticate: Authenticator = request.app.state.authenticate
    principal = await authenticate(credentials.credentials)
    if principal is None:
        raise unauthorized("Token är ogiltig, har gått ut eller har återkallats.")
    return principal


def allowed(*roles: ApiRole) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the signed-in person, if their role is one of `roles` (else 403)."""
    permitted = frozenset(roles)

    async def check(principal: Annotated[Principal, Depends(signed_in)]) -> Principal:
        if principal.role not in permitted:
            raise ProblemError(403, "Forbidden", "Din roll får inte göra detta.")
        return principal

    return check
