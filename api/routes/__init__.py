"""The API's routers, one module per kind of person (and the public's records requests)."""

from __future__ import annotations

from fastapi import APIRouter

from api.routes import inbox

ROUTERS: list[APIRouter] = [inbox.router]
