"""Turning a bearer token into the signed-in person: development tokens and OIDC.

Placeholder until the sign-in work lands: no token is valid.
"""

from __future__ import annotations

from psycopg_pool import AsyncConnectionPool

from api.auth import Authenticator, Principal
from infra.settings import Settings


def authenticator(settings: Settings, pool: AsyncConnectionPool) -> Authenticator:
    async def authenticate(token: str) -> Principal | None:
        return None

    return authenticate
