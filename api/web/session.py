"""The web's session: the API's own token in a cookie, and a CSRF token for every form.

The cookie holds the bearer token the person signed in with (a development token, or the identity
provider's access token): HttpOnly so that no script reads it, SameSite=Strict so that no other site's
page sends it, Secure when the page is served over https. Every POST form also carries a CSRF token
derived from the session's token: a page on another site cannot know it, so it cannot forge a form.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

from fastapi import Request, Response

from api.signin import MAX_TOKEN_CHARS

COOKIE = "grantflow_session"
MAX_AGE = 8 * 3600  # a working day; the token's own lifetime still applies
RECEIPT = "grantflow_kvitto"
RECEIPT_SECONDS = 120  # from the action's answer to the page that shows its receipt


def usable(value: str) -> bool:
    """Whether `value` can be a bearer token at all: an HTTP header carries only printable ASCII.

    Anything else (typed into the sign-in form, or a cookie someone edited) is refused as an invalid
    token, instead of failing when it is put in the API's Authorization header."""
    return 0 < len(value) <= MAX_TOKEN_CHARS and value.isascii() and value.isprintable()


def token(request: Request) -> str | None:
    value = request.cookies.get(COOKIE)
    return value if value and usable(value) else None


def csrf_token(session_token: str) -> str:
    return hashlib.sha256(b"grantflow-web-csrf\x00" + session_token.encode()).hexdigest()


def csrf_ok(session_token: str, sent: object) -> bool:
    return isinstance(sent, str) and hmac.compare_digest(csrf_token(session_token), sent)


def public_url(request: Request) -> str | None:
    """GRANTFLOW_PUBLIC_URL, the address people use (e.g. https://grantflow.myndigheten.se), when set."""
    ctx = getattr(request.app.state, "ctx", None)
    return ctx.settings.public_url if ctx is not None else None


def site(request: Request) -> str:
    """This site's origin: GRANTFLOW_PUBLIC_URL, else the request's (its scheme as a trusted proxy says)."""
    return public_url(request) or f"{request.url.scheme}://{request.url.netloc}"


def over_https(request: Request) -> bool:
    """Whether people reach this site over https: cookies are then Secure."""
    return site(request).startswith("https://")


def same_origin(request: Request) -> bool:
    """A browser's POST names the page it came from in Origin: it must be this site (when sent at all)."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    return origin.rstrip("/") == site(request)


def from_this_site(request: Request) -> bool:
    """A POST a browser sent from this site's own page, proven without a session (the sign-in form).

    The Origin header must name this site; a browser that sends none must say `Sec-Fetch-Site:
    same-origin` (or `none`: the person's own doing). A POST with neither is refused: it may be another
    site's page signing the person in as someone else (login CSRF).
    """
    if request.headers.get("origin") is not None:
        return same_origin(request)
    return request.headers.get("sec-fetch-site") in ("same-origin", "none")


def sign_in(request: Request, response: Response, session_token: str) -> None:
    response.set_cookie(COOKIE, session_token, max_age=MAX_AGE, httponly=True, samesite="strict",
                        secure=over_https(request), path="/")


def sign_out(request: Request, response: Response) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict", secure=over_https(request))


# --- the receipt of an action, shown once on the page the action leads to --------------------------------
# Never text from the address: a link could put any words there, shown as if the agency's system said them.
# The receipt goes in a short-lived cookie signed with a key derived from the session's token, for one page.


def _receipt_mac(session_token: str, path: str, text: str) -> str:
    key = hashlib.sha256(b"grantflow-web-receipt\x00" + session_token.encode()).digest()
    return hmac.new(key, json.dumps([path, text]).encode(), hashlib.sha256).hexdigest()


def give_receipt(request: Request, response: Response, session_token: str, path: str, text: str) -> None:
    """The receipt `text` for the page at `path`, which the response leads to."""
    value = base64.urlsafe_b64encode(json.dumps([path, text, _receipt_mac(session_token, path, text)]).encode())
    response.set_cookie(RECEIPT, value.decode(), max_age=RECEIPT_SECONDS, httponly=True, samesite="strict",
                        secure=over_https(request), path="/")


def receipt(request: Request) -> str | None:
    """The receipt for this page, if this session's last action left one for it."""
    raw, session_token = request.cookies.get(RECEIPT), token(request)
    if not raw or session_token is None:
        return None
    try:
        path, text, mac = json.loads(base64.urlsafe_b64decode(raw.encode()))
    except (ValueError, TypeError):
        return None
    if not isinstance(path, str) or not isinstance(text, str) or path != request.url.path:
        return None
    return text if hmac.compare_digest(str(mac), _receipt_mac(session_token, path, text)) else None


def forget_receipt(request: Request, response: Response) -> None:
    response.delete_cookie(RECEIPT, path="/", httponly=True, samesite="strict", secure=over_https(request))
