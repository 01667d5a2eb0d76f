"""The web behind a TLS proxy on another host: X-Forwarded-Proto believed from the proxies named, and
GRANTFLOW_PUBLIC_URL as the site's own address for the same-origin check, Secure cookies and the OIDC
redirect_uri.

An httpx client plays the browser; the app is wrapped in uvicorn's own proxy-headers middleware, as
`grantflow api` serves it, and requests come from the proxy's address.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from api.web import oidc, session
from cli.main import build_parser
from cli.ops import uvicorn_config
from infra.settings import Settings, SettingsError
from tests.api.conftest import serve_api

PROXY = "10.0.0.5"
PUBLIC = "https://grantflow.myndigheten.se"


def problems(environ: dict[str, str]) -> dict[str, str]:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(environ, stderr_is_tty=False)
    return {p.field: p.reason for p in caught.value.problems}


def test_the_proxy_settings_default_to_loopback_and_a_bad_value_names_the_variable() -> None:
    plain = Settings.from_env({}, stderr_is_tty=False)
    assert plain.forwarded_allow_ips == "127.0.0.1" and plain.public_url is None
    given = Settings.from_env({"GRANTFLOW_FORWARDED_ALLOW_IPS": "10.0.0.5, 10.1.0.0/16",
                               "GRANTFLOW_PUBLIC_URL": "https://GrantFlow.Myndigheten.se/"}, stderr_is_tty=False)
    assert given.forwarded_allow_ips == "10.0.0.5,10.1.0.0/16" and given.public_url == PUBLIC
    found = problems({"GRANTFLOW_FORWARDED_ALLOW_IPS": "proxy.myndigheten.se",
                      "GRANTFLOW_PUBLIC_URL": "grantflow.myndigheten.se/arenden"})
    assert "'proxy.myndigheten.se' is not an IP address" in found["GRANTFLOW_FORWARDED_ALLOW_IPS"]
    assert "e.g. https://grantflow.myndigheten.se" in found["GRANTFLOW_PUBLIC_URL"]


def test_grantflow_api_passes_the_trusted_proxies_to_uvicorn(capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings(forwarded_allow_ips="10.0.0.5")
    args = build_parser().parse_args(["api"])
    assert uvicorn_config(object(), args, settings).forwarded_allow_ips == "10.0.0.5"
    args = build_parser().parse_args(["api", "--forwarded-allow-ips", "10.2.0.0/16,10.0.0.7"])
    config = uvicorn_config(object(), args, settings)
    assert config.forwarded_allow_ips == "10.2.0.0/16,10.0.0.7" and config.proxy_headers
    with pytest.raises(SystemExit):
        build_parser().parse_args(["api", "--forwarded-allow-ips", "the-proxy"])
    assert "'the-proxy' is not an IP address" in capsys.readouterr().err


def _via(app: Any, client: str) -> httpx.AsyncClient:
    """A browser whose requests reach the app from `client`, through uvicorn trusting only PROXY."""
    proxied = ProxyHeadersMiddleware(app, trusted_hosts=PROXY)
    transport = httpx.ASGITransport(app=proxied, client=(client, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://grantflow.test")


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]*)"', page)
    assert found, page[:500]
    return found[1]


async def test_forms_work_behind_a_tls_proxy_that_is_trusted_and_only_then(db: str) -> None:
    async for api in serve_api(db):
        token = api.token("officer", "anna")
        https = {"X-Forwarded-Proto": "https", "Origin": "https://grantflow.test"}
        async with _via(api.app, PROXY) as browser:
            signed = await browser.post("/logga-in", data={"token": token}, headers=https)
            assert signed.status_code == 303, signed.text
            assert "; secure" in signed.headers["set-cookie"].lower()
            cookie = {"Cookie": f"{session.COOKIE}={token}"}  # a Secure cookie: httpx would keep it to https
            inbox = await browser.get("/", headers={"X-Forwarded-Proto": "https", **cookie})
            assert inbox.status_code == 200
            out = await browser.post("/logga-ut", data={"csrf": _csrf(inbox.text)}, headers={**https, **cookie})
            assert out.status_code == 303 and out.headers["location"] == "/logga-in?orsak=utloggad", out.text
        # The same headers from anyone else: the scheme stays http, and the https page's form is refused.
        async with _via(api.app, "10.0.0.9") as stranger:
            refused = await stranger.post("/logga-in", data={"token": token}, headers=https)
            assert refused.status_code == 403


async def test_the_public_url_is_the_sites_address_for_origin_cookies_and_the_oidc_redirect(db: str) -> None:
    async for api in serve_api(db, public_url=PUBLIC):
        token = api.token("officer", "anna")
        signed = await api.http.post("/logga-in", data={"token": token}, headers={"Origin": PUBLIC})
        assert signed.status_code == 303, signed.text
        assert "; secure" in signed.headers["set-cookie"].lower()
        refused = await api.http.post("/logga-in", data={"token": token}, headers={"Origin": "http://grantflow.test"})
        assert refused.status_code == 403

        request = Request({"type": "http", "app": api.app, "method": "GET", "path": "/logga-in/idp",
                           "scheme": "http", "server": ("10.0.0.20", 8000), "headers": [], "query_string": b""})
        assert oidc._callback_url(request) == PUBLIC + oidc.CALLBACK


async def test_without_a_public_url_the_sites_address_is_the_requests(db: str) -> None:
    async for api in serve_api(db):
        signed = await api.http.post("/logga-in", data={"token": api.token("officer", "anna")},
                                     headers={"Origin": "http://grantflow.test"})
        assert signed.status_code == 303 and "secure" not in signed.headers["set-cookie"].lower()
