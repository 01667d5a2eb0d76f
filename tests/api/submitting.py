"""Submitting the example applications through the API, to open copies of the seed calls."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import httpx

from domain.call import Call
from tests.api.conftest import Api

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EXPORT_2021 = "export-samverkan-2021"
DIGITAL_2022 = "saker-digitalisering-2022"
REGIONAL_2021 = f"{EXPORT_2021}/eligible-regional-livsmedel-ostergotland.json"
SCIENCE_PARK_2022 = f"{DIGITAL_2022}/eligible-science-park-med-personalutbildning.json"


def example(path: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / path).read_text(encoding="utf-8"))
    return data


def open_call(api: Api, seed: str, **options: Any) -> tuple[Call, int]:
    """An open copy of a seed call (the API shares the harness's catalog)."""
    return api.harness.call(seed, **options)


def application_for(api: Api, path: str, call: Call, days: int) -> dict[str, Any]:
    return api.harness.application(example(path), call, days)


def org_number(data: dict[str, Any]) -> str:
    value: str = data["applicant"]["org_number"]
    return value


def applicant(api: Api, data: dict[str, Any]) -> str:
    """A token of someone signed in for the application's own organisation."""
    return api.token("applicant", org_number=org_number(data))


def files_of(data: dict[str, Any]) -> list[tuple[str, tuple[str, bytes, str]]]:
    """The attachments the form names, each with the content whose SHA-256 the examples give (its name)."""
    files = [("files", (a["name"], a["name"].encode(), "application/pdf")) for a in data["attachments"]]
    for (_, (_, content, _)), a in zip(files, data["attachments"], strict=True):
        assert hashlib.sha256(content).hexdigest() == a["sha256"]
    return files


async def submit_json(api: Api, token: str, data: dict[str, Any], key: str | None = None) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    return await api.as_(token, "POST", "/applications", json=data, headers=headers)


async def submit_multipart(api: Api, token: str, data: dict[str, Any], files: list[Any],
                           key: str | None = None) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    return await api.as_(token, "POST", "/applications", data={"application": json.dumps(data)}, files=files,
                         headers=headers)
