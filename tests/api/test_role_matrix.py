"""Every endpoint × every role: who gets in, who is refused, and how.

The expected table below is written by hand from the domain (DOMAIN.md, the role table of
`domain/actions.py`) and what each route is for; it is deliberately not computed from the code
under test. An endpoint without a row fails the first test, so a new route must say who may use it.

"Allowed" means the request got past sign-in and the role check: 200, 201, 409 (the case refused)
or 422 (the minimal body `{}` is incomplete) are all fine, and 404 only where the path names
something the test does not create (a bank file, a records request); a 404 for the test's own case
would mean the role was kept out after all. "Refused" means 403 problem+json for a
signed-in role, and 401 problem+json with WWW-Authenticate for no token or a bad one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date
from typing import Any

import httpx
from fastapi import FastAPI

from api.app import create_app
from api.auth import ApiRole
from domain.lifecycle import Stage
from infra.settings import Settings
from tests.api.conftest import Api
from tests.factories import CLUSTER, REGION, application_2021
from tests.workflows.test_after_decision import cost, final_report, payment_request

APPLICANT = ApiRole.APPLICANT
OFFICER = ApiRole.OFFICER
DECISION_MAKER = ApiRole.DECISION_MAKER
FINANCE = ApiRole.FINANCE
AUDITOR = ApiRole.AUDITOR
OPERATIONS = ApiRole.OPERATIONS
ADMINISTRATOR = ApiRole.ADMINISTRATOR

# Anyone, signed in or not (a token, even a bad one, is simply not looked at).
ANYONE = "anyone"

# Staff who read cases and calls: everyone but the applicant and operations (who watch Temporal, not cases).
READERS = frozenset({OFFICER, DECISION_MAKER, FINANCE, AUDITOR, ADMINISTRATOR})


def _action(name: str) -> tuple[str, str]:
    return "POST", f"/cases/{{case_number}}/actions/{name}"


EXPECTED: dict[tuple[str, str], frozenset[ApiRole] | str] = {
    # The service itself and its description: public (probes and the docs need no token).
    ("GET", "/healthz"): ANYONE,
    ("GET", "/readyz"): ANYONE,
    ("GET", "/openapi.json"): ANYONE,
    ("GET", "/docs"): ANYONE,
    ("GET", "/docs/oauth2-redirect"): ANYONE,
    ("GET", "/redoc"): ANYONE,
    # Who the token signs in: every signed-in person.
    ("GET", "/me"): frozenset(ApiRole),
    # Applicants: submit, and list their organisation's cases.
    ("POST", "/applications"): frozenset({APPLICANT}),
    ("GET", "/my/cases"): frozenset({APPLICANT}),
    # A case: staff read all of it, an applicant their own case's view; operations do not read cases.
    ("GET", "/cases/{case_number}"): READERS | {APPLICANT},
    # The register's events (and for auditors who read the secret parts): staff only.
    ("GET", "/cases/{case_number}/history"): READERS,
    ("GET", "/cases/{case_number}/attachments"): READERS | {APPLICANT},
    # The story of a case, from the recorded history and the register: for auditors (and administrators).
    ("GET", "/cases/{case_number}/story"): frozenset({AUDITOR, ADMINISTRATOR}),
    ("GET", "/cases/{case_number}/attachments/{position}"): READERS | {APPLICANT},
    # The case's actions: the domain's role table (domain/actions.py), written out here.
    _action("request-completion"): frozenset({OFFICER}),
    _action("submit-completion"): frozenset({APPLICANT}),
    _action("accept-for-review"): frozenset({OFFICER}),
    _action("record-secrecy-review"): frozenset({OFFICER}),
    _action("declare-no-conflict"): frozenset({OFFICER, DECISION_MAKER}),
    _action("score"): frozenset({OFFICER}),
    _action("prepare-decision"): frozenset({OFFICER}),
    _action("communicate"): frozenset({OFFICER}),
    _action("reply-to-communication"): frozenset({APPLICANT}),
    _action("decide"): frozenset({DECISION_MAKER}),
    _action("withdraw"): frozenset({APPLICANT}),
    _action("request-decision"): frozenset({APPLICANT}),
    _action("file-payment-request"): frozenset({APPLICANT}),
    _action("review-payment-request"): frozenset({OFFICER}),
    _action("submit-final-report"): frozenset({APPLICANT}),
    _action("review-final-report"): frozenset({OFFICER}),
    _action("prepare-revocation"): frozenset({OFFICER}),
    _action("revoke"): frozenset({DECISION_MAKER}),
    _action("prepare-reclaim"): frozenset({OFFICER}),
    _action("decide-reclaim"): frozenset({DECISION_MAKER}),
    _action("register-repayment"): frozenset({FINANCE}),
    _action("write-off"): frozenset({DECISION_MAKER}),
    _action("resume"): frozenset({OPERATIONS}),
    _action("assign"): frozenset({ADMINISTRATOR}),
    # The public asks at /records-requests; an officer registers a request made by telephone or at the desk.
    _action("request-public-document"): frozenset({OFFICER}),
    _action("release-public-document"): frozenset({OFFICER}),
    _action("refuse-public-document"): frozenset({OFFICER}),
    # Requests for public documents (TF 2 kap.): anyone, without signing in.
    ("POST", "/records-requests"): ANYONE,
    ("GET", "/records-requests/{case_number}/{request_id}"): ANYONE,
    # Finance: the ledger and the bank files; an auditor reads them, only finance makes a bank file.
    ("GET", "/payouts"): frozenset({FINANCE, AUDITOR}),
    ("POST", "/bank-files"): frozenset({FINANCE}),
    ("GET", "/bank-files/{file_id}"): frozenset({FINANCE, AUDITOR}),
    # Calls with their budgets and rankings: staff who read cases.
    ("GET", "/calls"): READERS,
    ("GET", "/calls/{call_id}"): READERS,
    # The officers' inbox: the register, filtered and in the order cases need attention.
    ("GET", "/inbox"): READERS,
    # The state-aid record: a company's de minimis aid, and a call's aid for the state-aid register.
    ("GET", "/state-aid/{org_number}"): READERS,
    ("GET", "/calls/{call_id}/state-aid.csv"): READERS,
    # Teams are register data kept by administrators ("users and assignments"); the inbox reads them.
    ("GET", "/teams"): frozenset({ADMINISTRATOR}),
    ("PUT", "/teams/{team}/members/{person}"): frozenset({ADMINISTRATOR}),
    ("DELETE", "/teams/{team}/members/{person}"): frozenset({ADMINISTRATOR}),
}

# Rows whose path names something the test does not create: there 404 is an allowed answer.
ABSENT_TARGETS = frozenset({("GET", "/bank-files/{file_id}"), ("GET", "/records-requests/{case_number}/{request_id}")})
# Withdrawing with `{}` is a valid request that closes the case: it goes last.
LAST = _action("withdraw")

GOT_IN = frozenset({200, 201, 409, 422})
NOT_SIGNED_IN = {"anonymous": {}, "bad token": {"Authorization": "Bearer not-a-token-anyone-gave"},
                 "basic auth": {"Authorization": "Basic dXNlcjpwYXNz"}}


def _route_contexts(app: FastAPI) -> Iterable[Any]:
    try:  # newer FastAPI keeps each included router as one entry of app.routes: walk into them
        from fastapi.routing import iter_route_contexts
    except ImportError:
        return list(app.routes)
    return list(iter_route_contexts(app.routes))


def app_routes(app: FastAPI) -> set[tuple[str, str]]:
    """The API's routes; the web pages (api/web, not in the OpenAPI document) ask the API themselves."""
    return {(method, route.path) for route in _route_contexts(app)
            if getattr(route, "methods", None)
            and not getattr(getattr(route, "endpoint", None), "__module__", "").startswith("api.web")
            for method in route.methods - {"HEAD"}}


def test_the_table_has_a_row_for_every_route_and_no_other() -> None:
    routes = app_routes(create_app(Settings()))
    assert routes, "no routes found"
    assert sorted(routes - EXPECTED.keys()) == [], "routes without a row in EXPECTED: say who may use them"
    assert sorted(EXPECTED.keys() - routes) == [], "rows in EXPECTED for routes the app does not have"


async def _registered_case(api: Api) -> tuple[str, str, dict[str, Any]]:
    """A case of Region Exempel (REGION) in its secrecy review, its call's id, and the application."""
    harness = api.harness
    call, days = harness.call("export-samverkan-2021")
    data = harness.application(application_2021(), call, days)
    number = await harness.submit(data)
    assert (await harness.settled(number)).stage is Stage.SECRECY_REVIEW
    return number, call.id, data


def _url(path: str, number: str, call_id: str) -> str:
    return (path.replace("{case_number}", number).replace("{call_id}", call_id).replace("{file_id}", "1")
            .replace("{request_id}", "no-such-request").replace("{org_number}", CLUSTER)
            .replace("{team}", "handlaggning-norr").replace("{person}", "anna"))


async def _send(api: Api, method: str, url: str, headers: dict[str, str], body: Any = None) -> httpx.Response:
    if method == "GET":
        return await api.http.get(url, headers=headers)
    return await api.http.request(method, url, headers=headers, json={} if body is None else body)


def _is_problem(response: httpx.Response) -> bool:
    return response.headers.get("content-type", "").startswith("application/problem+json")


def _got_in(response: httpx.Response, row: tuple[str, str]) -> bool:
    return response.status_code in GOT_IN or (response.status_code == 404 and row in ABSENT_TARGETS)


def _rows() -> Iterator[tuple[tuple[str, str], frozenset[ApiRole] | str]]:
    yield from sorted(EXPECTED.items(), key=lambda row: row[0] == LAST)  # stable: the table's order, LAST last


async def test_every_role_on_every_route_is_let_in_or_refused_as_the_table_says(api: Api) -> None:
    number, call_id, _ = await _registered_case(api)
    tokens = {role.value: api.token(role, org_number=REGION if role is APPLICANT else None) for role in ApiRole}
    wrong: list[str] = []

    for (method, path), who in _rows():
        url = _url(path, number, call_id)
        for name, headers in NOT_SIGNED_IN.items():
            response = await _send(api, method, url, headers)
            if who == ANYONE:
                if not _got_in(response, (method, path)):
                    wrong.append(f"{name} {method} {path}: {response.status_code}, expected to get in")
            elif (response.status_code != 401 or not _is_problem(response)
                  or not response.headers.get("www-authenticate", "").lower().startswith("bearer")):
                wrong.append(f"{name} {method} {path}: {response.status_code} "
                             f"{response.headers.get('content-type')} WWW-Authenticate="
                             f"{response.headers.get('www-authenticate')!r}, expected 401 problem+json with Bearer")
        for role in ApiRole:
            response = await _send(api, method, url, api.auth(tokens[role.value]))
            if who == ANYONE or role in who:
                if not _got_in(response, (method, path)):
                    wrong.append(f"{role.value} {method} {path}: {response.status_code}, expected to get in "
                                 f"({response.text[:200]})")
            elif response.status_code != 403 or not _is_problem(response):
                wrong.append(f"{role.value} {method} {path}: {response.status_code}, expected 403 problem+json")

    assert wrong == [], "\n".join(wrong)


def _valid_bodies(application: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Bodies an applicant's action would accept, so that the answer is about the case, not the body."""
    start = date.fromisoformat(application["project"]["start"])
    return {
        "submit-completion": {"application": application},
        "reply-to-communication": {"text": "Vi har inget att tillägga."},
        "withdraw": {"reason": "Fel ärende."},
        "request-decision": {"text": "Vi begär att myndigheten avgör ärendet."},
        "file-payment-request": payment_request(start, 0, 30, "10000.00", cost("personnel", "10000.00", "V1")),
        "submit-final-report": final_report(),
    }


async def test_an_applicant_of_another_organisation_learns_nothing_of_a_case(api: Api) -> None:
    """On every route of a case: the same answer as for a case that does not exist, never a 2xx; and
    404 wherever an applicant may use the route (with a body the action would accept)."""
    number, call_id, application = await _registered_case(api)
    stranger = api.auth(api.token(APPLICANT, "klustret", org_number=CLUSTER))
    nobody = f"{number[:4]}-99999"
    bodies = _valid_bodies(application)
    wrong: list[str] = []

    for (method, path), who in _rows():
        if "{case_number}" not in path or who == ANYONE:
            continue
        body = bodies.get(path.rpartition("/")[2]) if path.startswith("/cases/{case_number}/actions/") else None
        real = await _send(api, method, _url(path, number, call_id), stranger, body)
        ghost = await _send(api, method, _url(path, nobody, call_id), stranger, body)
        if (real.status_code, real.text) != (ghost.status_code, ghost.text):
            wrong.append(f"{method} {path}: {real.status_code} {real.text[:120]} for the case, but "
                         f"{ghost.status_code} {ghost.text[:120]} for none")
        if APPLICANT in who and real.status_code != 404:
            wrong.append(f"{method} {path}: {real.status_code}, expected 404 ({real.text[:200]})")
        elif real.status_code not in (403, 404):
            wrong.append(f"{method} {path}: {real.status_code}, expected 403 or 404 ({real.text[:200]})")

    assert wrong == [], "\n".join(wrong)
    assert (await api.harness.state(number)).stage is Stage.SECRECY_REVIEW  # nothing of it touched the case
