"""Errors that a client caused and can fix, each naming the field and the reason."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, ValidationError

from infra.messages import reason


class InputProblem(BaseModel):
    model_config = ConfigDict(frozen=True)

    field: str  # JSON path into what the client sent, or the name of the parameter
    reason: str


class InputError(ValueError):
    """What the client sent cannot be used as it stands; nothing was changed."""

    def __init__(self, problems: Sequence[InputProblem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(f"{p.field}: {p.reason}" for p in self.problems))

    @classmethod
    def one(cls, field: str, reason: str) -> InputError:
        return cls([InputProblem(field=field, reason=reason)])


class Unavailable(RuntimeError):
    """Something the command needs is not reachable (Temporal, the database, a port): the message
    says what to do. Nothing was changed."""


def json_path(loc: Sequence[int | str]) -> str:
    path = "$"
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def from_validation_error(exc: ValidationError, *, form: str = "ansökningsformuläret") -> InputError:
    """Each of pydantic's errors as a problem with its JSON path and a Swedish reason.

    `form` names what the client filled in (an unknown field is "not part of" it): the
    application form, or an action's fields.
    """
    return InputError([
        InputProblem(field=json_path(error["loc"]), reason=reason(error, form=form))
        for error in exc.errors(include_url=False)
    ])
