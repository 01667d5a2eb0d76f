"""Signing in with the identity provider's JWTs: only a token signed by its key, for us, in time, counts.

A real JWKS and discovery document are served on 127.0.0.1; the tokens are signed with PyJWT.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from api.auth import Principal
from api.signin import TRUSTED_FOR, TRUSTED_MAX, OidcVerifier, VerifiedTokens
from domain.users import ApiRole
from infra.errors import Unavailable
from infra.settings import OidcConfig, Settings, SettingsError
from tests.api.conftest import Api, serve_api
from tests.worker.helpers import free_port

AUDIENCE = "grantflow-api"
ROLE_MAP = {"gf-officer": "officer", "gf-decision": "decision_maker", "gf-applicant": "applicant"}


@dataclass
class Provider:
    """An identity provider's public face: its discovery document and its keys, and how often they were read."""

    issuer: str = ""
    keys: list[dict[str, Any]] = field(default_factory=list)
    fetched: list[str] = field(default_factory=list)
    rsa_key: rsa.RSAPrivateKey = field(default_factory=lambda: rsa.generate_private_key(65537, 2048))
    ec_key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    stranger: rsa.RSAPrivateKey = field(default_factory=lambda: rsa.generate_private_key(65537, 2048))

    def claims(self, **changes: Any) -> dict[str, Any]:
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": AUDIENCE, "sub": "3f2c9a7e-0d1b-4c55-9a4e-7b1f0c2d8e61",
                  "preferred_username": "anna.handlaggare", "name": "Anna Handläggare", "iat": now,
                  "exp": now + 300, "realm_access": {"roles": ["offline_access", "gf-officer"]}}
        claims.update(changes)
        return {name: value for name, value in claims.items() if value is not None}

    def token(self, *, key: Any = None, kid: str = "rsa-1", algorithm: str = "RS256", **changes: Any) -> str:
        return jwt.encode(self.claims(**changes), key or self.rsa_key, algorithm=algorithm, headers={"kid": kid})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict[str, Any], claims: dict[str, Any], sign: Any = None) -> str:
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{_b64(sign(signing_input.encode())) if sign else ''}"


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    found = Provider()
    rsa_jwk = RSAAlgorithm.to_jwk(found.rsa_key.public_key(), as_dict=True) | {"kid": "rsa-1", "use": "sig",
                                                                                "alg": "RS256"}
    ec_jwk = ECAlgorithm.to_jwk(found.ec_key.public_key(), as_dict=True) | {"kid": "ec-1", "use": "sig", "alg": "ES256"}
    found.keys = [rsa_jwk, ec_jwk]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            found.fetched.append(self.path)
            if self.path == "/.well-known/openid-configuration":
                body = {"issuer": found.issuer, "jwks_uri": f"{found.issuer}/keys"}
            elif self.path == "/keys":
                body = {"keys": found.keys}
            else:
                self.send_error(404)
                return
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    found.issuer = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield found
    server.shutdown()
    thread.join()


def _config(provider: Provider, **changes: Any) -> OidcConfig:
    return OidcConfig.model_validate({
        "issuer": provider.issuer, "audience": AUDIENCE, "role_claim": "realm_access.roles",
        "role_map": ROLE_MAP, "org_claim": "organisation_number", "user_claim": "preferred_username", **changes,
    })


@pytest.fixture
async def oidc_api(db: str, provider: Provider) -> AsyncIterator[Api]:
    # No GRANTFLOW_OIDC_JWKS_URL: the keys are found through the issuer's discovery document.
    async for served in serve_api(db, oidc=_config(provider)):
        yield served


async def _me(api: Api, token: str) -> tuple[int, dict[str, Any]]:
    response = await api.as_(token, "GET", "/me")
    if response.status_code != 200:
        assert response.headers["content-type"] == "application/problem+json", response.text
    return response.status_code, response.json()


async def test_a_token_from_the_identity_provider_signs_the_person_in(oidc_api: Api, provider: Provider) -> None:
    provider.fetched.clear()
    assert await _me(oidc_api, provider.token()) == (200, {
        "id": "anna.handlaggare", "name": "Anna Handläggare", "role": "officer", "org_number": None})
    # ES256 too; and with several roles, the first in GRANTFLOW_OIDC_ROLE_MAP's order.
    both = provider.token(key=provider.ec_key, kid="ec-1", algorithm="ES256",
                          realm_access={"roles": ["gf-decision", "gf-officer"]})
    assert (await _me(oidc_api, both))[1]["role"] == "officer"
    applicant = provider.token(preferred_username="sokande-1", realm_access={"roles": ["gf-applicant"]},
                               organisation_number="5569123408")
    assert (await _me(oidc_api, applicant))[1] | {"name": ""} == {
        "id": "sokande-1", "name": "", "role": "applicant", "org_number": "556912-3408"}
    # The discovery document and the keys were read once, not for every request.
    assert provider.fetched == ["/.well-known/openid-configuration", "/keys"]
    # Development tokens still sign in beside the identity provider's.
    assert (await _me(oidc_api, oidc_api.token("finance", "eva")))[1]["role"] == "finance"


async def test_a_token_not_signed_by_the_provider_for_us_and_in_time_is_refused(oidc_api: Api,
                                                                                 provider: Provider) -> None:
    now = int(time.time())
    public_pem = provider.rsa_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    refused = {
        "expired": provider.token(exp=now - 120, iat=now - 420),
        "another audience": provider.token(aud="some-other-api"),
        "another issuer": provider.token(iss="https://login.example.org/realms/elsewhere"),
        "no expiry": provider.token(exp=None),
        "signed by another key": provider.token(key=provider.stranger),
        "an unknown key id": provider.token(key=provider.stranger, kid="rsa-2"),
        "alg none": _unsigned({"alg": "none", "typ": "JWT", "kid": "rsa-1"}, provider.claims()),
        "HS256 keyed with the public key": _unsigned(
            {"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}, provider.claims(),
            lambda data: hmac.new(public_pem, data, hashlib.sha256).digest()),
        "RS256 claimed with the EC key's id": provider.token(kid="ec-1"),
        "tampered claims": ".".join([(t := provider.token()).split(".")[0],
                                     _b64(json.dumps(provider.claims(preferred_username="bo")).encode()),
                                     t.split(".")[2]]),
        "not a JWT": "eyJhbGciOiJSUzI1NiJ9.garbage",
    }
    for what, token in refused.items():
        response = await oidc_api.as_(token, "GET", "/me")
        assert response.status_code == 401, what
        assert response.headers["content-type"] == "application/problem+json", what
        assert response.headers["www-authenticate"] == "Bearer", what
        assert response.json()["detail"] == "Token är ogiltig, har gått ut eller har återkallats.", what


async def test_a_person_grantflow_cannot_use_is_forbidden(oidc_api: Api, provider: Provider) -> None:
    cases = {
        "no role of ours": provider.token(realm_access={"roles": ["offline_access"]}),
        "no roles claim": provider.token(realm_access=None),
        "an applicant without an organisation": provider.token(realm_access={"roles": ["gf-applicant"]}),
        "an applicant with a personnummer": provider.token(realm_access={"roles": ["gf-applicant"]},
                                                           organisation_number="19121212-1212"),
        "an id that is a personnummer": provider.token(preferred_username="191212121212"),
        "no user id": provider.token(preferred_username=None),
    }
    for what, token in cases.items():
        status, problem = await _me(oidc_api, token)
        assert status == 403, what
        assert "1212" not in problem["detail"], what


async def test_keys_out_of_reach_are_a_service_unavailable_not_a_sign_in_failure(provider: Provider) -> None:
    verifier = OidcVerifier(_config(provider, jwks_url=f"http://127.0.0.1:{free_port()}/keys"))
    with pytest.raises(Unavailable, match="keys cannot be fetched"):
        await verifier.principal(provider.token())
    lost = OidcVerifier(_config(provider, issuer=f"http://127.0.0.1:{free_port()}"))
    with pytest.raises(Unavailable, match="discovery document"):
        await lost.principal(provider.token())


def test_the_oidc_settings_come_from_the_environment_and_name_each_bad_variable() -> None:
    settings = Settings.from_env({
        "GRANTFLOW_OIDC_ISSUER": "https://login.myndigheten.se/realms/grantflow",
        "GRANTFLOW_OIDC_AUDIENCE": "grantflow-api",
        "GRANTFLOW_OIDC_ROLE_MAP": "grantflow-officer=officer, grantflow-dm=decision_maker",
        "GRANTFLOW_OIDC_ROLE_CLAIM": "realm_access.roles",
    })
    assert settings.oidc is not None and settings.oidc.jwks_url is None and settings.oidc.user_claim == "sub"
    assert settings.oidc.role_map == {"grantflow-officer": ApiRole.OFFICER, "grantflow-dm": ApiRole.DECISION_MAKER}
    assert Settings.from_env({}).oidc is None

    def problems(**env: str) -> dict[str, str]:
        with pytest.raises(SettingsError) as refused:
            Settings.from_env({f"GRANTFLOW_OIDC_{name}": value for name, value in env.items()})
        return {p.field: p.reason for p in refused.value.problems}

    assert problems(ISSUER="https://idp.example") == {
        "GRANTFLOW_OIDC_AUDIENCE": "required when any other GRANTFLOW_OIDC_* variable is set",
        "GRANTFLOW_OIDC_ROLE_MAP": "required when any other GRANTFLOW_OIDC_* variable is set"}
    base = {"ISSUER": "https://idp.example", "AUDIENCE": "api"}
    assert "not a role" in problems(**base, ROLE_MAP="x=boss")["GRANTFLOW_OIDC_ROLE_MAP"]
    assert "not NAME=ROLE" in problems(**base, ROLE_MAP="officer")["GRANTFLOW_OIDC_ROLE_MAP"]
    assert problems(**base, ROLE_MAP="x=applicant") == {
        "GRANTFLOW_OIDC_ORG_CLAIM": "required when GRANTFLOW_OIDC_ROLE_MAP maps a role to applicant"}
    assert problems(**base, ROLE_MAP="x=officer", JWKS_URL="file:///etc/passwd") == {
        "GRANTFLOW_OIDC_JWKS_URL": "must be an https:// URL"}


def test_a_verified_token_is_taken_again_until_its_expiry_but_at_most_a_minute() -> None:
    now = [1_000_000.0]
    verified = VerifiedTokens(clock=lambda: now[0])
    anna = Principal(id="anna", name="Anna", role=ApiRole.OFFICER)
    verified.keep("token-a", anna, expires=now[0] + 20)
    verified.keep("token-b", anna, expires=now[0] + 3600)
    assert verified.get("token-a") == anna and verified.get("token-b") == anna
    assert verified.get("token-c") is None
    now[0] += 20  # token-a's exp: verified again from now on, so refused as expired
    assert verified.get("token-a") is None and verified.get("token-b") == anna
    now[0] += TRUSTED_FOR  # token-b is still valid, but its signature is checked again
    assert verified.get("token-b") is None


def test_verified_tokens_are_bounded_oldest_first() -> None:
    verified = VerifiedTokens()
    anna = Principal(id="anna", name="Anna", role=ApiRole.OFFICER)
    for i in range(TRUSTED_MAX + 5):
        verified.keep(f"token-{i}", anna, expires=time.time() + 300)
    assert verified.get("token-0") is None and verified.get("token-4") is None
    assert verified.get("token-5") == anna and verified.get(f"token-{TRUSTED_MAX + 4}") == anna
