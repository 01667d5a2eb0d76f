"""A call for funding as data: its terms, its rules and its assessment criteria.

Each call is one TOML file in `domain/calls/`, beside the call text it encodes.
`parse_call` turns the text of such a file into a `Call` or a `CallFileError` that
names the file, the key and the reason, so that a broken call never reaches a case.
"""

from __future__ import annotations

import tomllib
from collections import Counter
from datetime import timedelta
from fractions import Fraction
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

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
        _unique_ids([r.id for r in self.rules] + [c.id for c in self.assessment.criteria], "rule and criterion")
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
