"""Signing in to the web pages with the agency's identity provider: OpenID Connect authorization code + PKCE.

The pages are a public client (no secret in the browser or on the server): the client id is
GRANTFLOW_OIDC_AUDIENCE, the API's own. `/logga-in/idp` sends the person to the provider's
authorization endpoint with a fresh `state`, `nonce` and PKCE `code_challenge` (S256), and keeps the
three in a short-lived HttpOnly cookie; `/logga-in/idp/klar` checks `state`, exchanges the code with
the `code_verifier`, checks the ID token (signature by the provider's JWKS, issuer, audience, nonce),
and signs the person in with the access token, which the API's own sign-in then verifies (GET /me),
exactly as it verifies any bearer token.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
import structlog
from fastapi import Request, Response
from jwt import PyJWKClient

from api.web import session
from infra.settings import OidcConfig

log = structlog.stdlib.get_logger("grantflow.api.web")

FLOW_COOKIE = "grantflow_oidc"
FLOW_PATH = "/logga-in/idp"
CALLBACK = "/logga-in/idp/klar"
FLOW_SECONDS = 600  # the person has ten minutes at the provider
TIMEOUT = 10.0
ALGORITHMS = ["RS256", "ES256"]


class SignInFailed(Exception):
    """Signing in with the provider did not work; the message is Swedish, for the person."""


@dataclass(frozen=True)
class Endpoints:
    authorization: str
    token: str
    jwks: str


_endpoints: dict[str, Endpoints] = {}


async def endpoints(config: OidcConfig) -> Endpoints:
    """The provider's endpoints from its discovery document (read once per process)."""
    found = _endpoints.get(config.issuer)
    if found is not None:
        return found
    url = config.issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT) as http:
            response = await http.get(url)
            response.raise_for_status()
            document = response.json()
        found = Endpoints(authorization=document["authorization_endpoint"], token=document["token_endpoint"],
                          jwks=config.jwks_url or document["jwks_uri"])
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        log.warning("the identity provider's discovery document cannot be used", url=url, error=str(exc)[:200])
        raise SignInFailed("Inloggningstjänsten svarar inte just nu. Försök igen om en stund.") from None
    if document.get("issuer") != config.issuer:
        raise SignInFailed("Inloggningstjänsten är felaktigt inställd. Kontakta drift.")
    _endpoints[config.issuer] = found
    return found


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _callback_url(request: Request) -> str:
    """Where the provider sends the person back: on GRANTFLOW_PUBLIC_URL when set (behind a proxy)."""
    public = session.public_url(request)
    if public is not None:
        return public + str(request.app.url_path_for("oidc_callback"))
    return str(request.url_for("oidc_callback"))


async def start(request: Request, config: OidcConfig) -> Response:
    """Send the person to the provider, with the flow's secrets kept in a cookie of its own."""
    found = await endpoints(config)
    state, nonce, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(64)
    challenge = _b64(hashlib.sha256(verifier.encode()).digest())
    query = urlencode({"response_type": "code", "client_id": config.audience, "redirect_uri": _callback_url(request),
                       "scope": "openid profile", "state": state, "nonce": nonce, "code_challenge": challenge,
                       "code_challenge_method": "S256"})
    separator = "&" if "?" in found.authorization else "?"
    response = Response(status_code=303, headers={"Location": f"{found.authorization}{separator}{query}"})
    # Lax, not Strict: the provider's redirect back is a navigation from another site.
    response.set_cookie(FLOW_COOKIE, _b64(json.dumps([state, nonce, verifier]).encode()), max_age=FLOW_SECONDS,
                        httponly=True, samesite="lax", secure=session.over_https(request), path=FLOW_PATH)
    return response


def _flow(request: Request) -> tuple[str, str, str]:
    raw = request.cookies.get(FLOW_COOKIE, "")
    try:
        state, nonce, verifier = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (ValueError, TypeError):
        raise SignInFailed("Inloggningen tog för lång tid eller startades inte här. Försök igen.") from None
    return str(state), str(nonce), str(verifier)


async def finish(request: Request, config: OidcConfig) -> str:
    """The access token of the person the provider sent back; SignInFailed when anything does not hold."""
    params = request.query_params
    if params.get("error"):
        raise SignInFailed("Inloggningen avbröts hos inloggningstjänsten.")
    state, nonce, verifier = _flow(request)
    if not hmac.compare_digest(params.get("state", ""), state) or not params.get("code"):
        raise SignInFailed("Inloggningen kunde inte kopplas till den här webbläsaren. Försök igen.")
    found = await endpoints(config)
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT) as http:
            response = await http.post(found.token, data={
                "grant_type": "authorization_code", "code": params["code"], "redirect_uri": _callback_url(request),
                "client_id": config.audience, "code_verifier": verifier})
        tokens: dict[str, Any] = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        log.warning("the identity provider's token endpoint cannot be used", error=str(exc)[:200])
        raise SignInFailed("Inloggningstjänsten svarar inte just nu. Försök igen om en stund.") from None
    access, id_token = tokens.get("access_token"), tokens.get("id_token")
    if response.status_code != 200 or not isinstance(access, str) or not isinstance(id_token, str):
        log.info("the identity provider refused the code", status=response.status_code)
        raise SignInFailed("Inloggningstjänsten godtog inte inloggningen. Försök igen.")
    await _check_id_token(found, config, id_token, nonce)
    return access


async def _check_id_token(found: Endpoints, config: OidcConfig, id_token: str, nonce: str) -> None:
    try:
        key = await asyncio.to_thread(PyJWKClient(found.jwks, timeout=TIMEOUT).get_signing_key_from_jwt, id_token)
        claims = jwt.decode(id_token, key, algorithms=ALGORITHMS, audience=config.audience, issuer=config.issuer,
                            leeway=30, options={"require": ["exp", "iss", "aud", "nonce"]})
    except jwt.PyJWTError as exc:
        log.info("an ID token was refused", reason=type(exc).__name__)
        raise SignInFailed("Inloggningen kunde inte styrkas. Försök igen.") from None
    if not hmac.compare_digest(str(claims.get("nonce", "")), nonce):
        raise SignInFailed("Inloggningen kunde inte styrkas. Försök igen.")


def forget_flow(request: Request, response: Response) -> None:
    response.delete_cookie(FLOW_COOKIE, path=FLOW_PATH, httponly=True, samesite="lax",
                           secure=session.over_https(request))
