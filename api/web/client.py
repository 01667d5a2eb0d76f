"""The web's way into the API: its own HTTP endpoints, called in-process with the signed-in person's token.

Every page asks the API exactly what any other client would, so roles, which cases a person may see,
the case's own checks and idempotency keys are the API's and nobody else's: the web has no way around them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import Request


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes = b""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def detail(self) -> str:
        """The problem's Swedish detail, or a plain sentence when the answer has none."""
        if isinstance(self.body, dict) and isinstance(self.body.get("detail"), str):
            return str(self.body["detail"])
        return f"Tjänsten svarade med fel {self.status}."

    @property
    def field_errors(self) -> dict[str, str]:
        """Each field's reason, by its path in the request body ($.scores[0].score → scores.0.score)."""
        found: dict[str, str] = {}
        errors = self.body.get("errors", []) if isinstance(self.body, dict) else []
        for error in errors:
            path = str(error.get("field", "")).removeprefix("$").removeprefix(".")
            path = path.replace("[", ".").replace("]", "")
            found[path] = str(error.get("reason", ""))
        return found


class Api:
    """The API, as the signed-in person (or as no one)."""

    def __init__(self, request: Request, token: str | None) -> None:
        self._app = request.app
        self._token = token

    async def call(self, method: str, url: str, *, params: Any = None, json: Any = None,
                   headers: dict[str, str] | None = None) -> Answer:
        sent = dict(headers or {})
        if self._token:
            sent["Authorization"] = f"Bearer {self._token}"
        transport = httpx.ASGITransport(app=self._app)
        async with httpx.AsyncClient(transport=transport, base_url="http://grantflow.internal") as http:
            response = await http.request(method, url, params=params, json=json, headers=sent)
        kind = response.headers.get("content-type", "")
        body = response.json() if "json" in kind and response.content else None
        return Answer(status=response.status_code, body=body, headers=dict(response.headers),
                      content=response.content)

    async def get(self, url: str, **params: Any) -> Answer:
        return await self.call("GET", url, params={k: v for k, v in params.items() if v not in (None, "", [])})
