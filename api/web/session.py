"""The web's session: the API's own token in a cookie, and a CSRF token for every form.

The cookie holds the bearer token the person signed in with (a development token, or the identity
provider's access token): HttpOnly so that no script reads it, SameSite=Strict so that no other site's
page sends it, Secure when the page is served over https. Every POST form also carries a CSRF token
derived from the session's token: a page on another site cannot know it, so it cannot forge a form.
"""

from __future__ import annotations

import hashlib
import hmac

from fastapi import Request, Response

COOKIE = "grantflow_session"
MAX_AGE = 8 * 3600  # a working day; the token's own lifetime still applies


def token(request: Request) -> str | None:
    value = request.cookies.get(COOKIE)
    return value or None


def csrf_token(session_token: str) -> str:
    return hashlib.sha256(b"grantflow-web-csrf\x00" + session_token.encode()).hexdigest()


def csrf_ok(session_token: str, sent: object) -> bool:
    return isinstance(sent, str) and hmac.compare_digest(csrf_token(session_token), sent)


def same_origin(request: Request) -> bool:
    """A browser's POST names the page it came from in Origin: it must be this site (when sent at all)."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    return origin.rstrip("/") == f"{request.url.scheme}://{request.url.netloc}"


def sign_in(request: Request, response: Response, session_token: str) -> None:
    response.set_cookie(COOKIE, session_token, max_age=MAX_AGE, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path="/")


def sign_out(request: Request, response: Response) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict", secure=request.url.scheme == "https")
