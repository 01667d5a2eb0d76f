"""Turning a bearer token into the signed-in person: development tokens and OIDC.

- A token that begins with "gf_" is a development token (`grantflow users add`): its SHA-256 is
  looked up among the users not revoked (services/users.py).
- Any other token, when GRANTFLOW_OIDC_* is configured, is a JWT from the agency's identity
  provider. It must be signed with RS256 or ES256 by a key in the provider's JWKS (so `alg: none`
  and an HS256 token "signed" with the public key are refused), unexpired (30 s leeway for clocks),
  issued by GRANTFLOW_OIDC_ISSUER for GRANTFLOW_OIDC_AUDIENCE. The person's id is its `sub` (or
  GRANTFLOW_OIDC_USER_CLAIM), their role the first of GRANTFLOW_OIDC_ROLE_MAP's names found in
  GRANTFLOW_OIDC_ROLE_CLAIM, an applicant's organisation number GRANTFLOW_OIDC_ORG_CLAIM.

A token that is not valid is a 401. A valid token whose person grantflow cannot use (no role that
maps, an id that is not a user id, an applicant without an organisation number) is a 403: they are
who they say, but have no business here, and signing in again would not help. The identity
provider's keys out of reach is a 503. No reason ever quotes the token or its claims.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
import urllib.request
from collections import OrderedDict
from collections.abc import Callable
from typing import Annotated, Any

import jwt
import psycopg
import structlog
from fastapi import APIRouter, Depends
from jwt import PyJWKClient
from jwt.exceptions import PyJWKClientConnectionError, PyJWKClientError, PyJWKSetError
from psycopg_pool import AsyncConnectionPool

from api.auth import Authenticator, Principal, signed_in
from api.problems import PROBLEM_RESPONSES, ProblemError
from domain.case import Actor, Role
from domain.users import ApiRole, InvalidUser, applicant_org_number
from infra.errors import Unavailable
from infra.settings import OidcConfig, Settings
from services import users

log = structlog.stdlib.get_logger("grantflow.api.signin")

ALGORITHMS = ("RS256", "ES256")  # asymmetric only: the API holds no secret that could sign a token
LEEWAY_SECONDS = 30  # clocks drift; a token a few seconds past `exp` is not yet an attack
MAX_TOKEN_CHARS = 16 * 1024  # anything longer is refused unread
FETCH_TIMEOUT = 5.0  # seconds for the provider's discovery document and keys
KEYS_LIFESPAN = 300.0  # seconds the provider's key set is kept before it is fetched again
REFETCH_COOLDOWN = 30.0  # seconds between fetches for unknown key ids (PyJWT >= 2.14; before it, every one)
TRUSTED_FOR = 60.0  # seconds a verified token is taken without checking its signature again
TRUSTED_MAX = 10_000  # verified tokens kept at most; the oldest goes first


def _refused(detail: str) -> ProblemError:
    return ProblemError(403, "Forbidden", detail)


def _claim(claims: dict[str, Any], path: str) -> Any:
    """A claim, or a value inside one by a dotted path (realm_access.roles); None if absent."""
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _names(value: Any) -> list[str]:
    """A roles claim as a list of names: a JSON list of strings, or one space-separated string."""
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def _discover(issuer: str) -> str:
    """The JWKS URL from the issuer's discovery document (OpenID Connect Discovery 1.0, section 4)."""
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT) as response:
            document = json.load(response)
    except (OSError, ValueError) as exc:
        raise Unavailable(f"the identity provider's discovery document {url} cannot be read: {exc}") from None
    jwks_uri = document.get("jwks_uri") if isinstance(document, dict) else None
    if not isinstance(jwks_uri, str) or not jwks_uri.startswith(("https://", "http://")):
        raise Unavailable(f"the identity provider's discovery document {url} names no jwks_uri")
    if document.get("issuer") != issuer:
        raise Unavailable(f"the discovery document {url} is for another issuer than GRANTFLOW_OIDC_ISSUER")
    return jwks_uri


class VerifiedTokens:
    """Tokens already verified, each until its `exp` but at most TRUSTED_FOR seconds.

    An officer sends the same token with every click; checking its signature and claims again costs
    more than the rest of the sign-in. A JWT cannot be revoked before its `exp` anyway, so taking it
    again until then changes nothing of what is let in, except that a key the provider withdraws
    stops counting after TRUSTED_FOR seconds instead of at its next fetch (KEYS_LIFESPAN, longer).
    Kept under the token's SHA-256, never the token itself.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._until: OrderedDict[bytes, tuple[float, Principal]] = OrderedDict()

    @staticmethod
    def _key(token: str) -> bytes:
        return hashlib.sha256(token.encode()).digest()

    def get(self, token: str) -> Principal | None:
        key = self._key(token)
        entry = self._until.get(key)
        if entry is None:
            return None
        until, principal = entry
        if self._clock() >= until:
            del self._until[key]
            return None
        return principal

    def keep(self, token: str, principal: Principal, expires: float) -> None:
        self._until[self._key(token)] = (min(expires, self._clock() + TRUSTED_FOR), principal)
        while len(self._until) > TRUSTED_MAX:
            self._until.popitem(last=False)


class OidcVerifier:
    """Verifies the identity provider's JWTs; its keys are fetched (in a thread) and kept for a while.

    An unknown key id fetches the keys again at most every 30 s (PyJWKClient's cooldown), so forged
    tokens with made-up key ids cannot make the API hammer the provider.
    """

    def __init__(self, config: OidcConfig) -> None:
        self.config = config
        self._keys: PyJWKClient | None = None if config.jwks_url is None else self._client(config.jwks_url)
        self._discovering = asyncio.Lock()
        self.verified = VerifiedTokens()

    @staticmethod
    def _client(url: str) -> PyJWKClient:
        return PyJWKClient(url, cache_keys=False, cache_jwk_set=True, lifespan=KEYS_LIFESPAN, timeout=FETCH_TIMEOUT,
                           cooldown_duration=REFETCH_COOLDOWN)

    async def _key_client(self) -> PyJWKClient:
        if self._keys is not None:
            return self._keys
        async with self._discovering:
            if self._keys is None:
                self._keys = self._client(await asyncio.to_thread(_discover, self.config.issuer))
            return self._keys

    async def principal(self, token: str) -> Principal | None:
        if (known := self.verified.get(token)) is not None:
            return known
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            return None
        kid = header.get("kid")
        if header.get("alg") not in ALGORITHMS or not isinstance(kid, str):
            return None
        keys = await self._key_client()
        try:
            # The keys in hand and the token's among them: no fetch, so no thread to wait for.
            cached = keys.jwk_set_cache.get() if keys.jwk_set_cache is not None else None
            key = (cached[kid] if cached is not None and any(k.key_id == kid for k in cached.keys)
                   else await asyncio.to_thread(keys.get_signing_key, kid))
        except PyJWKClientConnectionError as exc:
            raise Unavailable(f"the identity provider's keys cannot be fetched: {exc}") from None
        except (PyJWKClientError, PyJWKSetError) as exc:
            log.info("a token names a key the identity provider does not have", error=str(exc)[:200])
            return None
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=list(ALGORITHMS), audience=self.config.audience, issuer=self.config.issuer,
                leeway=LEEWAY_SECONDS, options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.InvalidTokenError as exc:
            log.info("a token was refused", reason=type(exc).__name__)
            return None
        person = self._person(claims)
        self.verified.keep(token, person, float(claims["exp"]))
        return person

    def _person(self, claims: dict[str, Any]) -> Principal:
        config = self.config
        held = set(_names(_claim(claims, config.role_claim)))
        role = next((role for name, role in config.role_map.items() if name in held), None)
        if role is None:
            raise _refused("Du är inloggad men har ingen roll i grantflow. Be administratören om behörighet.")
        user_id = _claim(claims, config.user_claim)
        try:
            if not isinstance(user_id, str):
                raise ValueError(user_id)
            Actor(id=user_id, role=Role(role.value))  # a user id cases may record, never a personnummer
        except ValueError:
            log.warning("a signed-in person's id cannot be used as a user id", claim=config.user_claim)
            raise _refused("Ditt användar-id från inloggningen kan inte användas i grantflow. "
                           "Kontakta drift.") from None
        org_number = None
        if role is ApiRole.APPLICANT:
            assert config.org_claim is not None  # the settings require it when a role maps to applicant
            raw = _claim(claims, config.org_claim)
            try:
                org_number = applicant_org_number(raw) if isinstance(raw, str) else None
            except InvalidUser:
                org_number = None
            if org_number is None:
                raise _refused("Inloggningen anger inget giltigt organisationsnummer för den organisation du "
                               "företräder.")
        name = _claim(claims, config.name_claim)
        name = re.sub(r"\s+", " ", name).strip()[:200] if isinstance(name, str) and name.strip() else user_id
        return Principal(id=user_id, name=name, role=role, org_number=org_number)


def authenticator(settings: Settings, pool: AsyncConnectionPool) -> Authenticator:
    """Development tokens always; the identity provider's JWTs when GRANTFLOW_OIDC_* is set."""
    oidc = OidcVerifier(settings.oidc) if settings.oidc is not None else None

    async def authenticate(token: str) -> Principal | None:
        if len(token) > MAX_TOKEN_CHARS:
            return None
        if token.startswith(users.TOKEN_PREFIX):
            try:
                user = await users.identify(pool, token)
            except psycopg.OperationalError:
                raise Unavailable("the database does not answer") from None
            if user is None:
                return None
            return Principal(id=user.id, name=user.name, role=user.role, org_number=user.org_number)
        if oidc is not None:
            return await oidc.principal(token)
        return None

    return authenticate


router = APIRouter(tags=["signing in"])


@router.get("/me", summary="Who the token signs in", responses={k: PROBLEM_RESPONSES[k] for k in (401, 403, 503)})
async def me(principal: Annotated[Principal, Depends(signed_in)]) -> Principal:
    return principal
