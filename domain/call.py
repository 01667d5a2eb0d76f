"""A call for funding as data: its terms, its rules and its assessment criteria.

Each call is one TOML file in `domain/calls/`, beside the call text it encodes.
`parse_call` turns the text of such a file into a `Call` or a `CallFileError` that
names the file, the key and the reason, so that a broken call never reaches a case.
"""

from __future__ import annotations

import threading
import tomllib
from collections import Counter
from datetime import timedelta
from fractions import Fraction
from typing import Annotated, Any, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    model_validator,
)
from pydantic_core import PydanticSerializationError, to_json

from domain.rules import AnyRule
from domain.rules.base import BoolPath, Heading, RuleId
from domain.rules.funding import CoFinancingShare
from domain.rules.period import PeriodEndsBy
from domain.terms import CallTerms, Terms


class Criterion(Terms):
    """One assessment criterion, scored by the officer with a written motivation."""

    id: RuleId
    text: Annotated[str, Field(min_length=1, max_length=2000)]
    when: BoolPath | None = None  # e.g. only regional projects are scored on regional anchoring


class Assessment(Terms):
    section: Heading
    scale_min: int = 1
    scale_max: int = 5
    criteria: Annotated[list[Criterion], Field(min_length=1)]

    @model_validator(mode="after")
    def _scale(self) -> Assessment:
        if self.scale_min >= self.scale_max:
            raise ValueError("scale_min must be below scale_max")
        return self


def _unique_ids(ids: list[str], what: str) -> None:
    repeated = sorted(i for i, n in Counter(ids).items() if n > 1)
    if repeated:
        raise ValueError(f"{what} ids must be unique; repeated: {', '.join(repeated)}")


class Call(CallTerms):
    rules: Annotated[list[AnyRule], Field(min_length=1)]
    assessment: Assessment

    @model_validator(mode="after")
    def _consistent(self) -> Call:
        _unique_ids([r.id for r in self.rules] + [c.id for c in self.assessment.criteria]
                    + [c.id for c in self.state_aid.ceilings], "rule and criterion")
        if sum(isinstance(r, CoFinancingShare) for r in self.rules) > 1:
            raise ValueError("a call has at most one co_financing_share rule: it defines the support rate")
        for rule in self.rules:
            if isinstance(rule, PeriodEndsBy) and getattr(self.timeline, rule.by) is None:
                raise ValueError(f"rule {rule.id} needs timeline.{rule.by}, which the call does not set")
        return self

    @property
    def support_rate(self) -> Fraction:
        """The share of eligible costs the grant may cover: 1 − the required co-financing."""
        for rule in self.rules:
            if isinstance(rule, CoFinancingShare):
                return 1 - rule.minimum
        return Fraction(1)


_SHARED_MAX = 256
_shared: dict[bytes, Call] = {}
_shared_lock = threading.Lock()


def _one_per_content(value: Any, handler: ValidatorFunctionWrapHandler) -> Call:
    """The call of that content validated once per process, then shared by everything that carries it.

    Every case, its intake, its checks and the call's own workflow carry the whole call, and a
    worker decodes it again each time it replays a case: the call's rules are the largest and
    slowest part of a case's input to validate. A call is frozen, so one instance can serve
    them all. The key is the parsed input written out as JSON again, so two inputs share an
    instance only when they hold the same content (in the same order, as every encoding of one
    call does).
    """
    if isinstance(value, Call):
        return value
    try:
        key = to_json(value)
    except PydanticSerializationError:
        validated: Call = handler(value)  # not a call's content at all: validation says why
        return validated
    call = _shared.get(key)
    if call is None:
        call = handler(value)
        with _shared_lock:
            if len(_shared) >= _SHARED_MAX:
                del _shared[next(iter(_shared))]
            _shared[key] = call
    return call


SharedCall = Annotated[Call, WrapValidator(_one_per_content)]
"""A call in a model that carries one: validated as a `Call`, one instance per content."""


class FormRules(BaseModel):
    """The rules of the application form that hold for every call."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: Annotated[list[AnyRule], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique(self) -> FormRules:
        _unique_ids([r.id for r in self.rules], "rule")
        return self


class CallFileError(ValueError):
    """A call file that cannot be used, with where and why."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


def _where(loc: tuple[int | str, ...], raw: dict[str, Any]) -> str:
    parts: list[str] = []
    node: Any = raw
    for i, part in enumerate(loc):
        if isinstance(part, int):
            parts.append(f"[{part}]")
            node = node[part] if isinstance(node, list) and part < len(node) else None
            if isinstance(node, dict) and "id" in node:
                parts.append(f" ({node['id']})")
            continue
        # A discriminated union puts the `check` value in the path; the file has no such key.
        if isinstance(node, dict) and node.get("check") == part and i > 0:
            continue
        parts.append(f".{part}" if parts else part)
        node = node.get(part) if isinstance(node, dict) else None
    return "".join(parts) or "(top level)"


M = TypeVar("M", bound=BaseModel)


def _load(model: type[M], text: str, source: str) -> M:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CallFileError(source, [f"not valid TOML: {exc}"]) from exc
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = [f"{_where(tuple(e['loc']), raw)}: {e['msg']}" for e in exc.errors()]
        raise CallFileError(source, problems) from exc


def parse_call(text: str, source: str) -> Call:
    return _load(Call, text, source)


def parse_form_rules(text: str, source: str) -> FormRules:
    return _load(FormRules, text, source)


def shifted(call: Call, *, days: int, new_id: str) -> Call:
    """A copy of `call` with every date moved by `days`: for demonstrations and tests of old calls."""
    by = timedelta(days=days)
    window, timeline = call.window, call.timeline
    return call.model_copy(update={
        "id": new_id,
        "window": window.model_copy(update={
            "opens": window.opens + by if window.opens else None, "closes": window.closes + by,
        }),
        "timeline": timeline.model_copy(update={
            "operations_end": timeline.operations_end + by if timeline.operations_end else None,
            "final_report_due": timeline.final_report_due + by,
        }),
    })
