"""Signing in to the pages with the identity provider: OpenID Connect authorization code with PKCE.

A small identity provider runs on 127.0.0.1 in the test: its discovery document and keys, an
authorization endpoint that signs the person in at once and sends them back with a code, and a token
endpoint that gives the tokens only for that code, that redirect URI and the verifier of the PKCE
challenge. The browser goes the whole way; the API's own sign-in verifies the access token.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from playwright.async_api import expect

from infra.settings import OidcConfig
from tests.api.conftest import serve_api
from tests.web.conftest import IN_THE_BROWSERS_LOOP, Web, launched

CLIENT = "grantflow-api"

pytestmark = IN_THE_BROWSERS_LOOP


@dataclass
class Provider:
    issuer: str = ""
    key: rsa.RSAPrivateKey = field(default_factory=lambda: rsa.generate_private_key(65537, 2048))
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    exchanged: list[dict[str, str]] = field(default_factory=list)
    person: dict[str, Any] = field(default_factory=lambda: {
        "preferred_username": "anna.handlaggare", "name": "Anna Handläggare", "roles": ["gf-officer"]})

    def sign(self, **claims: Any) -> str:
        now = int(time.time())
        return jwt.encode({"iss": self.issuer, "iat": now, "exp": now + 300, "sub": "3f2c9a7e", **claims},
                          self.key, algorithm="RS256", headers={"kid": "k1"})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture
def provider() -> Iterator[Provider]:
    found = Provider()

    class Handler(BaseHTTPRequestHandler):
        def _json(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path == "/.well-known/openid-configuration":
                self._json(200, {"issuer": found.issuer, "jwks_uri": f"{found.issuer}/keys",
                                 "authorization_endpoint": f"{found.issuer}/authorize",
                                 "token_endpoint": f"{found.issuer}/token"})
            elif url.path == "/keys":
                jwk = RSAAlgorithm.to_jwk(found.key.public_key(), as_dict=True) | {"kid": "k1", "alg": "RS256"}
                self._json(200, {"keys": [jwk]})
            elif url.path == "/authorize":
                q = {k: v[0] for k, v in parse_qs(url.query).items()}
                assert q["response_type"] == "code" and q["client_id"] == CLIENT, q
                assert q["code_challenge_method"] == "S256" and q["scope"].split()[0] == "openid", q
                code = secrets.token_urlsafe(16)
                found.codes[code] = q
                self.send_response(302)
                self.send_header("Location", f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q['state']})}")
                self.end_headers()
            else:
                self.send_error(404)

        def do_POST(self) -> None:
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode()).items()}
            found.exchanged.append(form)
            asked = found.codes.pop(form.get("code", ""), None)
            verifier = form.get("code_verifier", "")
            if (asked is None or form.get("grant_type") != "authorization_code" or form.get("client_id") != CLIENT
                    or form.get("redirect_uri") != asked["redirect_uri"]
                    or _b64(hashlib.sha256(verifier.encode()).digest()) != asked["code_challenge"]):
                self._json(400, {"error": "invalid_grant"})
                return
            self._json(200, {"token_type": "Bearer", "expires_in": 300,
                             "access_token": found.sign(aud=CLIENT, **found.person),
                             "id_token": found.sign(aud=CLIENT, nonce=asked["nonce"], **found.person)})

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    found.issuer = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield found
    server.shutdown()
    thread.join()


@pytest_asyncio.fixture(loop_scope="session")
async def oidc_web(db: str, provider: Provider, chromium: Any) -> AsyncIterator[Web]:
    config = OidcConfig.model_validate({"issuer": provider.issuer, "audience": CLIENT, "role_claim": "roles",
                                        "role_map": {"gf-officer": "officer"},
                                        "user_claim": "preferred_username"})
    async for api in serve_api(db, oidc=config):
        async for web in launched(api, chromium):
            yield web


async def test_an_officer_signs_in_with_the_identity_provider_and_out_again(oidc_web: Web,
                                                                            provider: Provider) -> None:
    page = await oidc_web.browser_page()
    await page.goto("/logga-in")
    await page.get_by_role("link", name="Logga in med myndighetens inloggning").click()
    await page.wait_for_url(f"{oidc_web.base_url}/")
    await expect(page.get_by_test_id("person")).to_have_text("Anna Handläggare")
    await expect(page.get_by_test_id("role")).to_have_text("handläggare")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Inkorg")
    [exchange] = provider.exchanged
    assert exchange["code_verifier"] and exchange["grant_type"] == "authorization_code"

    cookies = {c["name"]: c for c in await page.context.cookies()}
    session = cookies["grantflow_session"]
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    assert "grantflow_oidc" not in cookies  # the flow's secrets are gone once it is done

    await page.get_by_role("button", name="Logga ut").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Logga in")
    await page.goto("/")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Logga in")


async def test_a_code_sent_back_without_the_flows_state_does_not_sign_anyone_in(oidc_web: Web,
                                                                                provider: Provider) -> None:
    page = await oidc_web.browser_page()
    # A callback this browser never started (a forged link): no flow cookie, no sign-in, a Swedish reason.
    await page.goto("/logga-in/idp/klar?code=stulen&state=gissad")
    await expect(page.get_by_role("alert")).to_contain_text("Försök igen")
    await page.goto("/")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Logga in")
    assert provider.exchanged == []
