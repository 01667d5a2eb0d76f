"""The codec server as Temporal UI uses it: sign-in, roles, the protocol, CORS, and bad input as problems.

The people are real development users in a real database, signed in through the API's authenticator.
With the `temporal` CLI against a real server and worker: tests/workflows/test_encryption.py.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from activities.db import open_pool
from api.codec_server import create_codec_app
from infra.codec import ENCODING, KEY_ID, EncryptionCodec, generate_key, parse_keys
from infra.converter import PLAIN
from infra.settings import Settings
from services import users
from tests.api.conftest import _unused_org_number
from tests.keys import CODEC_KEYS

UI = "http://127.0.0.1:8233"
KEY_ID_OF_RUN = CODEC_KEYS.partition(":")[0]


@dataclass
class Codec:
    http: httpx.AsyncClient
    tokens: dict[str, str]

    async def post(self, path: str, role: str | None, body: Any = None, **kwargs: Any) -> httpx.Response:
        headers = {"X-Namespace": "default", **kwargs.pop("headers", {})}
        if role is not None:
            headers["Authorization"] = f"Bearer {self.tokens[role]}"
        return await self.http.post(path, json=body, headers=headers, **kwargs)


@pytest.fixture
async def codec(db: str) -> AsyncIterator[Codec]:
    pool = await open_pool(db)
    try:
        tokens = {}
        for role in ("officer", "auditor", "applicant", "operations"):
            org = _unused_org_number() if role == "applicant" else None
            issued = await users.add(pool, users.new_user(f"{role}-1", role, org_number=org))
            tokens[role] = issued.token
        app = create_codec_app(Settings(database_url=db, codec_keys=CODEC_KEYS), ui_origins=[UI], pool=pool)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://codec.test") as http:
                yield Codec(http, tokens)
    finally:
        await pool.close()


def _json_payload(value: Any) -> dict[str, Any]:
    [payload] = PLAIN.payload_converter.to_payloads([value])
    return {"metadata": {k: base64.b64encode(v).decode() for k, v in payload.metadata.items()},
            "data": base64.b64encode(payload.data).decode()}


APPLICATION = {"contact": {"email": "anna.andersson@example.se", "phone": "031-123 45 67"}}


async def test_an_officer_encodes_and_decodes_as_temporal_ui_does(codec: Codec):
    plain = {"payloads": [_json_payload(APPLICATION), _json_payload("hej")]}
    encoded = await codec.post("/encode", "officer", plain)
    assert encoded.status_code == 200, encoded.text
    for payload in encoded.json()["payloads"]:
        assert base64.b64decode(payload["metadata"]["encoding"]) == ENCODING
        assert base64.b64decode(payload["metadata"][KEY_ID]).decode() == KEY_ID_OF_RUN
        assert b"anna.andersson" not in base64.b64decode(payload["data"])
    # Under any prefix (the protocol: only the last part of the path counts), by any reader.
    decoded = await codec.post("/default/decode", "auditor", encoded.json())
    assert decoded.status_code == 200, decoded.text
    assert decoded.json() == plain
    # A payload that was never encrypted (recorded before encryption) comes back as it is.
    assert (await codec.post("/decode", "officer", plain)).json() == plain


@pytest.mark.parametrize("path", ["/decode", "/encode"])
async def test_without_sign_in_it_is_401_and_a_role_that_may_not_read_cases_403(codec: Codec, path: str):
    body = {"payloads": [_json_payload("hej")]}
    missing = await codec.post(path, None, body)
    assert missing.status_code == 401 and missing.headers["content-type"] == "application/problem+json"
    forged = await codec.post(path, None, body, headers={"Authorization": "Bearer gf_forged"})
    assert forged.status_code == 401
    for role in ("applicant", "operations"):
        refused = await codec.post(path, role, body)
        assert refused.status_code == 403, (role, refused.text)
        assert refused.json()["title"] == "Forbidden"


async def test_a_payload_under_an_unknown_key_is_a_problem_naming_the_key_id(codec: Codec):
    [plain] = PLAIN.payload_converter.to_payloads(["hemligt"])
    [sealed] = await EncryptionCodec(parse_keys(generate_key("k1999"))).encode([plain])
    body = {"payloads": [{"metadata": {k: base64.b64encode(v).decode() for k, v in sealed.metadata.items()},
                          "data": base64.b64encode(sealed.data).decode()}]}
    answer = await codec.post("/decode", "officer", body)
    assert answer.status_code == 400 and answer.headers["content-type"] == "application/problem+json"
    assert "'k1999'" in answer.json()["detail"] and "Traceback" not in answer.text


async def test_an_auditor_decodes_but_may_not_encrypt(codec: Codec):
    """Encrypting makes a payload a worker takes as grantflow's own; an auditor changes nothing."""
    plain = {"payloads": [_json_payload("hej")]}
    encoded = await codec.post("/encode", "officer", plain)
    assert encoded.status_code == 200
    assert (await codec.post("/decode", "auditor", encoded.json())).status_code == 200
    refused = await codec.post("/encode", "auditor", plain)
    assert refused.status_code == 403 and refused.json()["title"] == "Forbidden"


async def test_a_payload_cut_short_is_a_problem_naming_the_key_id(codec: Codec):
    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    for data in (b"", b"1234567", b"x" * 27):
        body = {"payloads": [{"metadata": {"encoding": b64(ENCODING), KEY_ID: b64(KEY_ID_OF_RUN.encode())},
                              "data": b64(data)}]}
        answer = await codec.post("/decode", "officer", body)
        assert answer.status_code == 400 and answer.headers["content-type"] == "application/problem+json", answer.text
        assert f"'{KEY_ID_OF_RUN}' is {len(data)} bytes, too short" in answer.json()["detail"]


@pytest.mark.parametrize(("content", "status"), [
    (b"{not json", 422),
    (b'{"payloads": "no"}', 422),
    (b'{"payloads": [{"metadata": {"encoding": 5}, "data": ""}]}', 422),
    (b'{"payloads": [{"data": "not base64!"}]}', 400),
])
async def test_bad_input_is_a_4xx_problem_never_a_traceback(codec: Codec, content: bytes, status: int):
    answer = await codec.http.post("/decode", content=content, headers={
        "Authorization": f"Bearer {codec.tokens['officer']}", "Content-Type": "application/json"})
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["errors"] and "Traceback" not in answer.text


async def test_a_browser_may_ask_from_temporal_uis_origin_only(codec: Codec):
    preflight = {"Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization,content-type,x-namespace"}
    allowed = await codec.http.options("/decode", headers={"Origin": UI, **preflight})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == UI
    assert {"authorization", "content-type", "x-namespace"} <= {
        h.strip().lower() for h in allowed.headers["access-control-allow-headers"].split(",")}
    other = await codec.http.options("/decode", headers={"Origin": "https://evil.example", **preflight})
    assert other.status_code == 400 and "access-control-allow-origin" not in other.headers
    # The answers themselves carry the header for the UI's origin, a refusal too (the UI reads its status).
    refused = await codec.post("/decode", None, {"payloads": []}, headers={"Origin": UI})
    assert refused.status_code == 401 and refused.headers["access-control-allow-origin"] == UI


SAME_SITE = {"Origin": "http://codec.test"}  # what a browser sends with the sign-in page's form


async def test_a_browser_signs_in_on_the_page_and_the_ui_decodes_with_its_cookie(codec: Codec):
    page = await codec.http.get("/signin")
    assert page.status_code == 200 and "Logga in" in page.text
    refused = await codec.http.post("/signin", data={"token": codec.tokens["applicant"]}, headers=SAME_SITE)
    assert refused.status_code == 403 and "grantflow_codec" not in refused.headers.get("set-cookie", "")
    assert (await codec.http.post("/signin", data={"token": "gf_forged"}, headers=SAME_SITE)).status_code == 401
    # Login CSRF: another site's page (or a POST that names no site at all) cannot sign the browser in.
    for elsewhere in ({"Origin": "https://evil.example"}, {}, {"Sec-Fetch-Site": "cross-site"}):
        forged = await codec.http.post("/signin", data={"token": codec.tokens["officer"]}, headers=elsewhere)
        assert forged.status_code == 403 and "grantflow_codec" not in forged.headers.get("set-cookie", ""), elsewhere
    codec.http.cookies.clear()

    signed_in = await codec.http.post("/signin", data={"token": codec.tokens["officer"]}, headers=SAME_SITE)
    assert signed_in.status_code == 200 and "Inloggad som officer-1" in signed_in.text
    cookie = signed_in.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    plain = {"payloads": [_json_payload(APPLICATION)]}
    encoded = await codec.http.post("/encode", json=plain, headers={"Origin": UI})  # the cookie only
    assert encoded.status_code == 200, encoded.text
    assert encoded.headers["access-control-allow-credentials"] == "true"
    assert (await codec.http.post("/decode", json=encoded.json())).json() == plain
    await codec.http.post("/signout")
    assert (await codec.http.post("/decode", json=encoded.json())).status_code == 401
