"""Every action of a case as its own endpoint: `POST /cases/{case_number}/actions/{action}`.

One route per action of `services.cases.ACTIONS`, each with a request model of the action's own
fields: everything the action carries but `actor`, which is the signed-in person, and `action_id`,
which is made from the `Idempotency-Key` header and the signed-in person (a fresh id without one).
Sending the same key again with the same content answers with the first receipt; the same key with
other content is refused (409); another person's same key is another action.

Which roles reach an endpoint comes from the domain's table (`domain.actions.roles_for`); the case
itself still checks everything else (stage, four eyes, declarations) and a refusal answers 409
with its Swedish reason. An applicant reaches only their own organisation's cases (`api.access`).
"""

# No `from __future__ import annotations`: the endpoints below are made in a loop, and FastAPI
# reads each one's request model from its annotations, which must be the classes themselves.

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header
from pydantic import BaseModel, ConfigDict, create_model

from api.access import CaseNumberPath, visible_case
from api.app import Ctx
from api.auth import ApiRole, Principal, allowed
from api.problems import PROBLEM_RESPONSES
from domain.actions import roles_for
from domain.case import Action, Receipt, Role
from services.cases import ACTIONS, act, build_command
from services.inputs import IDEMPOTENCY_KEY_PATTERN, keyed_id

# What the case fills in itself: never part of a request's body.
_NOT_IN_BODY = frozenset({"actor", "action_id"})

router = APIRouter(tags=["actions"])


def request_model(action: type[Action]) -> type[BaseModel]:
    """The body of an action's endpoint: the action's own fields, without `actor` and `action_id`.

    Named after the action (`ScoreApplicationRequest`), so that each has its own schema in OpenAPI.
    Unknown fields are refused, `actor` and `action_id` among them, naming the field."""
    fields: dict[str, Any] = {name: (info.annotation, info) for name, info in action.model_fields.items()
                              if name not in _NOT_IN_BODY}
    model: type[BaseModel] = create_model(
        f"{action.__name__}Request", __config__=ConfigDict(extra="forbid"), __doc__=action.__doc__,
        __module__=__name__, **fields)
    return model


def api_roles(action: type[Action]) -> list[ApiRole]:
    """The API roles that may call an action's endpoint: the domain's roles for it.

    The public has no account: it asks for public documents at /records-requests, signed in as no one."""
    return sorted(ApiRole(role.value) for role in roles_for(action) if role is not Role.PUBLIC)


def _route(name: str, action: type[Action]) -> None:
    body_model = request_model(action)
    roles = api_roles(action)
    required = any(info.is_required() for info in body_model.model_fields.values())
    Who = Annotated[Principal, Depends(allowed(*roles))]
    IdempotencyKey = Annotated[
        str | None,
        Header(alias="Idempotency-Key", pattern=IDEMPOTENCY_KEY_PATTERN,
               description="The action's id: sending the same key again answers with the first receipt. "
                           "Without it the action gets a fresh id."),
    ]

    async def take(ctx: Ctx, principal: Who, case_number: CaseNumberPath, body: BaseModel | None,
                   idempotency_key: IdempotencyKey = None) -> Receipt:
        number = await visible_case(ctx, principal, case_number)
        payload = body.model_dump(mode="json", exclude_unset=True) if body is not None else {}
        # The key is the signed-in person's own: the same key from someone else is another action.
        action_id = keyed_id(principal.id, idempotency_key) if idempotency_key else uuid.uuid4().hex
        command = build_command(name, principal.actor().model_dump(mode="json"), payload, action_id)
        return await act(ctx.client, number, name, command)

    # The body's annotation is this action's own model (required when the action has required fields).
    take.__annotations__["body"] = (Annotated[body_model, Body()] if required
                                    else Annotated[body_model | None, Body()])
    if not required:
        take.__defaults__ = (None, None)
    summary = (action.__doc__ or "").strip().split("\n")[0] if action.__doc__ else None
    router.add_api_route(
        f"/cases/{{case_number}}/actions/{name}", take, methods=["POST"], response_model=Receipt,
        name=f"act_{name.replace('-', '_')}", operation_id=f"act_{name.replace('-', '_')}",
        summary=f"{name} ({', '.join(r.value for r in roles)})",
        description=summary or f"Take the action {name} on the case.",
        responses=PROBLEM_RESPONSES,
    )


for _name, (_update, _action) in ACTIONS.items():
    _route(_name, _action)
