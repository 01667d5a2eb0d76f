"""The API's routers, one module per kind of person (and the public's records requests)."""

from __future__ import annotations

from fastapi import APIRouter

from api.routes import actions, applicants, calls, cases, finance, inbox, records, state_aid, teams

ROUTERS: list[APIRouter] = [applicants.router, cases.router, actions.router, records.router, finance.router,
                            calls.router, inbox.router, state_aid.router, teams.router]
