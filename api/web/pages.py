"""The officers' web pages: server-rendered HTML over the API's own endpoints (docs/decisions/0032).

Each page asks the API, in-process and as the signed-in person (`api.web.client`), exactly what any
client would; each form posts here, and is sent on to the API's endpoint with its CSRF token checked
and an idempotency key made when the form was shown, so a double submit is one action.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from api.web import forms, oidc, session
from api.web.client import Answer, Api
from domain.actions import ROLE_LABELS_SV
from domain.case import Role
from domain.clock import STOCKHOLM, format_deadline_sv, format_instant_sv
from domain.lifecycle import STAGE_LABELS_SV, Stage

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")

router = APIRouter(include_in_schema=False)

SIGN_IN = "/logga-in"
CASE_NUMBER = r"^[0-9]{4}-[0-9]{5}$"


# --- presentation --------------------------------------------------------------------------------------


def kr(value: Any) -> str:
    """An amount as Swedes write it: 400 000,00 kr (non-breaking spaces)."""
    if value is None or value == "":
        return "–"
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    whole, _, cents = f"{amount:,.2f}".partition(".")
    return whole.replace(",", "\u00a0") + "," + cents + "\u00a0kr"


def when(value: Any) -> str:
    if not value:
        return "–"
    try:
        return format_instant_sv(datetime.fromisoformat(str(value)).astimezone(UTC))
    except ValueError:
        return str(value)


def due(value: Any) -> str:
    """A deadline as the officer reads it. One that ends a day (domain.clock.end_of_day: the next
    midnight in Stockholm) is that last day, "2022-11-30", not the instant after it, "2022-12-01 kl. 00:00"."""
    if not value:
        return "–"
    try:
        instant = datetime.fromisoformat(str(value)).astimezone(UTC)
    except ValueError:
        return str(value)
    if instant.astimezone(STOCKHOLM).time() == time(0):
        return format_deadline_sv(instant)
    return format_instant_sv(instant)


def day(value: Any) -> str:
    if not value:
        return "–"
    try:
        return date.fromisoformat(str(value)[:10]).isoformat()
    except ValueError:
        return str(value)


def stage_label(value: Any) -> str:
    try:
        return STAGE_LABELS_SV[Stage(value)]
    except ValueError:
        return str(value)


def role_label(value: Any) -> str:
    try:
        return ROLE_LABELS_SV[Role(value)]
    except ValueError:
        return str(value)


templates.env.filters.update(kr=kr, when=when, due=due, day=day, stage=stage_label, role=role_label)
templates.env.globals.update(stages=[(s.value, STAGE_LABELS_SV[s]) for s in Stage])


# --- who is signed in ----------------------------------------------------------------------------------


class NotSignedIn(Exception):
    """No one, or no one the API knows, is signed in: the pages answer with the sign-in page."""


@dataclass
class SignedIn:
    api: Api  # the API, as this person
    me: dict[str, Any]  # GET /me
    csrf: str


async def _signed_in(request: Request) -> SignedIn:
    """The API as the signed-in person, who they are (GET /me), and their CSRF token."""
    token = session.token(request)
    if token is None:
        raise NotSignedIn
    api = Api(request, token)
    me = await api.get("/me")
    if not me.ok:
        raise NotSignedIn
    return SignedIn(api, me.body, session.csrf_token(token))


Signed = Annotated[SignedIn, Depends(_signed_in)]


async def not_signed_in(request: Request, _: Exception) -> Response:
    """The answer to every page when no one is signed in (installed with the pages, `api.web.install`)."""
    return _to_sign_in(request)


# Why the sign-in page is shown, by a word in its address: never text from the address itself.
REASONS_SV = {"igen": "Du behöver logga in igen.", "utloggad": "Du är utloggad."}


def _to_sign_in(request: Request, reason: str | None = None) -> RedirectResponse:
    target = SIGN_IN + ("?" + urlencode({"orsak": reason}) if reason in REASONS_SV else "")
    response = RedirectResponse(target, status_code=303)
    session.sign_out(request, response)
    return response


def _page(request: Request, name: str, me: dict[str, Any] | None, csrf: str | None, status: int = 200,
          **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, name, {"me": me, "csrf": csrf, **context}, status_code=status)


def _error_page(request: Request, me: dict[str, Any], csrf: str, answer: Answer) -> HTMLResponse:
    return _page(request, "error.html", me, csrf, status=answer.status if answer.status >= 400 else 502,
                 title="Något gick fel", message=answer.detail)


async def _checked_form(request: Request) -> tuple[Api, dict[str, Any], str, dict[str, str]] | Response:
    """A POST's form, once its CSRF token and origin are checked; otherwise the answer to give."""
    try:
        signed = await _signed_in(request)
    except NotSignedIn:
        return _to_sign_in(request, "igen")
    api, me, csrf = signed.api, signed.me, signed.csrf
    async with request.form() as data:
        sent = {k: v for k, v in data.items() if isinstance(v, str)}
    if not session.same_origin(request) or not session.csrf_ok(session.token(request) or "", sent.get("csrf")):
        return _page(request, "error.html", me, csrf, status=403, title="Formuläret kunde inte tas emot",
                     message="Formuläret kom inte från den här sidan eller är för gammalt. Ladda om sidan och "
                             "försök igen.")
    return api, me, csrf, sent


# --- signing in and out --------------------------------------------------------------------------------


@router.get(SIGN_IN, response_class=HTMLResponse)
async def sign_in_page(request: Request, orsak: str | None = None) -> HTMLResponse:
    return _page(request, "sign_in.html", None, None, reason=REASONS_SV.get(orsak or ""),
                 oidc=_oidc_config(request) is not None)


@router.post(SIGN_IN)
async def sign_in(request: Request) -> Response:
    async with request.form() as data:
        token = str(data.get("token", "")).strip()
    if not session.from_this_site(request):  # no session yet to hold a CSRF token: the browser's word
        return _page(request, "sign_in.html", None, None, status=403, error=True,
                     reason="Inloggningen kom inte från den här sidan. Ladda om sidan och försök igen.",
                     oidc=_oidc_config(request) is not None)
    if token and not session.usable(token):
        return _page(request, "sign_in.html", None, None, status=401, error=True,
                     reason="Token är ogiltig, har gått ut eller har återkallats.",
                     oidc=_oidc_config(request) is not None)
    me = await Api(request, token).get("/me") if token else None
    if me is None or not me.ok:
        reason = me.detail if me is not None else "Fyll i din token."
        return _page(request, "sign_in.html", None, None, status=401 if me is not None else 422, reason=reason,
                     error=True)
    response = RedirectResponse("/", status_code=303)
    session.sign_in(request, response, token)
    return response


def _oidc_config(request: Request) -> Any:
    ctx = getattr(request.app.state, "ctx", None)
    return ctx.settings.oidc if ctx is not None else None


@router.get(oidc.FLOW_PATH)
async def sign_in_with_provider(request: Request) -> Response:
    config = _oidc_config(request)
    if config is None:
        return RedirectResponse(SIGN_IN, status_code=303)
    try:
        return await oidc.start(request, config)
    except oidc.SignInFailed as exc:
        return _page(request, "sign_in.html", None, None, status=503, reason=str(exc), error=True, oidc=True)


@router.get(oidc.CALLBACK, name="oidc_callback", response_class=HTMLResponse)
async def provider_sent_back(request: Request) -> Response:
    config = _oidc_config(request)
    if config is None:
        return RedirectResponse(SIGN_IN, status_code=303)
    try:
        token = await oidc.finish(request, config)
    except oidc.SignInFailed as exc:
        response: Response = _page(request, "sign_in.html", None, None, status=401, reason=str(exc), error=True,
                                   oidc=True)
    else:
        me = await Api(request, token).get("/me")  # the API's own sign-in has the last word
        if not me.ok:
            response = _page(request, "sign_in.html", None, None, status=me.status, reason=me.detail, error=True,
                             oidc=True)
        else:
            # A page of our own that moves on to the inbox: the session cookie is SameSite=Strict, and a
            # redirect chain that began at the provider would not send it on this first visit.
            response = _page(request, "signed_in.html", None, None, person=me.body)
            session.sign_in(request, response, token)
    oidc.forget_flow(request, response)
    return response


@router.post("/logga-ut")
async def sign_out(request: Request) -> Response:
    checked = await _checked_form(request)
    if isinstance(checked, Response):
        return checked
    return _to_sign_in(request, "utloggad")


# --- the inbox -----------------------------------------------------------------------------------------


# The inbox's three views (`urval`): the person's own cases, those of everyone in their teams
# (their own included; teams are kept by administrators, docs/decisions/0035), or all cases.
VIEWS = (("", "Alla"), ("mina", "Mina ärenden"), ("team", "Mitt teams ärenden"))


def _view_links(q: Any) -> list[tuple[str, str, bool]]:
    """Each view's label, its address (the other filters kept, paging reset) and whether it is the one shown."""
    chosen = q.get("urval", "")
    kept = [(k, v) for k, v in q.multi_items() if v and k not in ("urval", "fran")]
    return [(label, "/?" + urlencode([*kept, *([("urval", value)] if value else [])]), value == chosen)
            for value, label in VIEWS]


@router.get("/", response_class=HTMLResponse)
async def inbox(request: Request, signed: Signed) -> Response:
    api, me, csrf = signed.api, signed.me, signed.csrf
    q = request.query_params
    view = q.get("urval", "")
    if view not in dict(VIEWS):
        view = ""  # only the three views: a crafted value would travel on in every link of the page
    # The form sends `steg=` for "Alla": no stage, not a stage called "".
    filters = {"call": q.get("utlysning") or None, "stage": [s for s in q.getlist("steg") if s] or None,
               "team": "mine" if view == "team" else None,
               "officer": "me" if view == "mina" else (q.get("handlaggare") or None),
               "min_amount": q.get("minst") or None, "max_amount": q.get("hogst") or None,
               "overdue": "true" if q.get("forsenade") else None,
               "q": q.get("sok") or None, "cursor": q.get("fran") or None}
    answer = await api.get("/inbox", **filters)
    calls = await api.get("/calls")
    if not answer.ok:
        page: dict[str, Any] = {"cases": [], "counts": [], "total": 0, "next_cursor": None}
        problem = answer.detail
        errors = answer.field_errors
    else:
        page, problem, errors = answer.body, None, {}
    next_query = None
    if page.get("next_cursor"):
        next_query = urlencode([*((k, v) for k, v in q.multi_items() if k != "fran"), ("fran", page["next_cursor"])])
    return _page(request, "inbox.html", me, csrf, page=page, problem=problem, errors=errors, q=q,
                 views=_view_links(q), view=view,
                 calls=calls.body if calls.ok else [], chosen_stages=set(q.getlist("steg")), next_query=next_query)


# --- a case --------------------------------------------------------------------------------------------


CaseNumber = Annotated[str, PathParam(pattern=CASE_NUMBER)]


@dataclass
class Refused:
    """An action the case refused: what was sent, and the API's answer."""

    action: str
    sent: dict[str, str]
    answer: Answer


def _form_for(view: dict[str, Any], me: dict[str, Any], action: str) -> forms.ActionForm:
    form = next((f for f in forms.offered(view, me["role"], me["id"], kr) if f.action == action), None)
    # No longer offered (the case moved on, or the role never had it): the case's own reason, from the API.
    return form or forms.ActionForm(action, forms.ACTION_LABELS_SV.get(action, action))


async def _case_page(request: Request, api: Api, me: dict[str, Any], csrf: str, number: str, *,
                     refused: Refused | None = None, status: int = 200) -> HTMLResponse:
    # The whole case, secret-marked parts and all: this page shows them, so the API logs the reading.
    answer = await api.get(f"/cases/{number}")
    if not answer.ok:
        return _error_page(request, me, csrf, answer)
    view = answer.body
    attachments = await api.get(f"/cases/{number}/attachments")
    offered = forms.offered(view, me["role"], me["id"], kr)
    tried = None
    if refused is not None:
        tried = _form_for(view, me, refused.action)
        forms.read(tried, refused.sent)  # shown again as it was sent
        tried.refusal = refused.answer.detail
        forms.show_errors(tried, refused.answer.field_errors)
        offered = [tried if f.action == tried.action else f for f in offered]
        if not any(f.action == tried.action for f in offered):
            offered.insert(0, tried)
    for form in offered:
        form.key = uuid.uuid4().hex  # a new idempotency key for each form shown
    if refused is not None and tried is not None and refused.answer.status >= 500:
        # Whether it was carried out is unknown: sent again, it must be the same action. A refusal is
        # final for its key (the case answers an update it has seen with its first answer), so the
        # form corrected after one is sent with a new key.
        tried.key = request.state.web_key
    return _with_receipt(request, lambda done: _page(
        request, "case.html", me, csrf, status=status, case=view, forms=offered, done=done,
        attachments=attachments.body if attachments.ok else [], title=f"Ärende {view['case_number']}"))


def _with_receipt(request: Request, page: Callable[[str | None], HTMLResponse]) -> HTMLResponse:
    """The page, with the receipt the person's last action left for it (shown once)."""
    done = session.receipt(request)
    response = page(done)
    if request.cookies.get(session.RECEIPT):
        session.forget_receipt(request, response)
    return response


def _receipt_redirect(request: Request, path: str, text: str, fragment: str = "") -> RedirectResponse:
    response = RedirectResponse(path + fragment, status_code=303)
    session.give_receipt(request, response, session.token(request) or "", path, text)
    return response


@router.get("/arenden/{number}/bilagor/{position}")
async def download_attachment(request: Request, signed: Signed, number: CaseNumber,
                              position: Annotated[int, PathParam(ge=0, le=199)]) -> Response:
    api, me, csrf = signed.api, signed.me, signed.csrf
    answer = await api.call("GET", f"/cases/{number}/attachments/{position}")
    if not answer.ok:
        return _error_page(request, me, csrf, answer)
    return Response(answer.content, media_type=answer.headers.get("content-type", "application/octet-stream"),
                    headers={"Content-Disposition": answer.headers.get("content-disposition", "attachment"),
                             "X-Content-Type-Options": "nosniff"})


@router.get("/arenden/{number}", response_class=HTMLResponse)
async def case_page(request: Request, signed: Signed, number: CaseNumber) -> Response:
    api, me, csrf = signed.api, signed.me, signed.csrf
    return await _case_page(request, api, me, csrf, number)


@router.post("/arenden/{number}/{action}")
async def take_action(request: Request, number: CaseNumber,
                      action: Annotated[str, PathParam(pattern=r"^[a-z-]{1,40}$")]) -> Response:
    checked = await _checked_form(request)
    if isinstance(checked, Response):
        return checked
    api, me, csrf, sent = checked
    # The case's shape, to read the form back by: not its secret-marked parts, which nobody sees here,
    # so no reading of them is logged (the page shown next logs its own).
    view = await api.get(f"/cases/{number}", secret_parts="false")
    if not view.ok:
        return _error_page(request, me, csrf, view)
    body = forms.read(_form_for(view.body, me, action), sent)
    key = sent.get("idempotency_key") or uuid.uuid4().hex
    request.state.web_key = key
    answer = await api.call("POST", f"/cases/{number}/actions/{action}", json=body,
                            headers={"Idempotency-Key": key})
    if answer.ok:
        message = str(answer.body.get("message", ""))[:500]
        return _receipt_redirect(request, f"/arenden/{number}", message, "#handelser")
    return await _case_page(request, api, me, csrf, number, refused=Refused(action, sent, answer),
                            status=answer.status)


# --- calls ---------------------------------------------------------------------------------------------


@router.get("/utlysningar", response_class=HTMLResponse)
async def calls_page(request: Request, signed: Signed) -> Response:
    api, me, csrf = signed.api, signed.me, signed.csrf
    answer = await api.get("/calls")
    if not answer.ok:
        return _error_page(request, me, csrf, answer)
    return _page(request, "calls.html", me, csrf, calls=answer.body)


@router.get("/utlysningar/{call_id}", response_class=HTMLResponse)
async def call_page(request: Request, signed: Signed, call_id: Annotated[str, PathParam(max_length=100)]) -> Response:
    api, me, csrf = signed.api, signed.me, signed.csrf
    answer = await api.get(f"/calls/{quote(call_id, safe='')}")
    if not answer.ok:
        return _error_page(request, me, csrf, answer)
    call = answer.body
    return _page(request, "call.html", me, csrf, call=call, bars=_bars(call))


def _bars(call: dict[str, Any]) -> list[tuple[str, Decimal, float]]:
    """The budget chart's bars: label, amount, share of the budget (0–1)."""
    budget = Decimal(str(call["budget"])) or Decimal(1)
    rows = [("Sökt", call["requested"]), ("Beviljat", call["granted"]), ("Beordrat", call["ordered"]),
            ("Utbetalt", call["paid"])]
    return [(label, Decimal(str(v)), min(float(Decimal(str(v)) / budget), 1.0)) for label, v in rows]


# --- finance -------------------------------------------------------------------------------------------


@router.get("/ekonomi", response_class=HTMLResponse)
async def finance_page(request: Request, signed: Signed) -> Response:
    api, me, csrf = signed.api, signed.me, signed.csrf
    waiting = await api.get("/payouts", status="waiting")
    if not waiting.ok:
        return _error_page(request, me, csrf, waiting)
    sent = await api.get("/payouts", status="in_bank_file")
    files = sorted({p["bank_file_id"] for p in (sent.body if sent.ok else []) if p["bank_file_id"]}, reverse=True)
    return _with_receipt(request, lambda done: _page(
        request, "finance.html", me, csrf, waiting=waiting.body, files=files,
        total=sum((Decimal(str(p["amount"])) for p in waiting.body), Decimal(0)), message=done))


@router.post("/ekonomi/bankfiler")
async def make_bank_file(request: Request) -> Response:
    checked = await _checked_form(request)
    if isinstance(checked, Response):
        return checked
    api, me, csrf, _ = checked
    answer = await api.call("POST", "/bank-files")
    if not answer.ok:
        return _error_page(request, me, csrf, answer)
    made = answer.body
    message = f"Bankfil {made['id']} skapad: {made['transactions']} betalningar, {kr(made['control_sum'])}."
    return _receipt_redirect(request, "/ekonomi", message)


@router.get("/ekonomi/bankfiler/{file_id}")
async def download_bank_file(request: Request, signed: Signed,
                             file_id: Annotated[int, PathParam(ge=1, le=2**63 - 1)]) -> Response:
    api, me, csrf = signed.api, signed.me, signed.csrf
    answer = await api.call("GET", f"/bank-files/{file_id}")
    if not answer.ok:
        return _error_page(request, me, csrf, answer)
    return Response(answer.content, media_type="application/xml",
                    headers={"Content-Disposition": answer.headers.get("content-disposition", "attachment")})


# --- requests for public documents ---------------------------------------------------------------------


RECORDS_PAGES = 50  # 10 000 waiting requests: far beyond any day's, and a bound on one page's work


@router.get("/allmanna-handlingar", response_class=HTMLResponse)
async def records_page(request: Request, signed: Signed) -> Response:
    api, me, csrf = signed.api, signed.me, signed.csrf
    waiting: list[dict[str, Any]] = []
    cursor = None
    for _ in range(RECORDS_PAGES):  # every waiting request, oldest first (the inbox's own order for them)
        answer = await api.get("/inbox", records_pending="true", limit=200, cursor=cursor)
        if not answer.ok:
            return _error_page(request, me, csrf, answer)
        waiting += answer.body["cases"]
        cursor = answer.body.get("next_cursor")
        if not cursor:
            break
    return _page(request, "records.html", me, csrf, waiting=waiting)
