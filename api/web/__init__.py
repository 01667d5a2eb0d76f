"""The officers' web interface: HTML pages over the API's own endpoints (docs/decisions/0032)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

STATIC = "/webb/static"


def install(app: FastAPI) -> None:
    """Serve the pages under `/` and their stylesheet under /webb/static; neither is in the OpenAPI document."""
    from api.web.pages import NotSignedIn, not_signed_in, router

    app.include_router(router)
    app.add_exception_handler(NotSignedIn, not_signed_in)
    app.mount(STATIC, StaticFiles(directory=Path(__file__).parent / "static"), name="web-static")
