"""Every text a person sends is one the register can store and a letter can carry.

The walk below visits every text field of the application form and of every action's model,
nested ones included, without naming any: a field added later is covered by it, and fails here
if it takes a text without `domain.text.Clean`.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Iterator
from enum import Enum
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, TypeAdapter, ValidationError

import domain.actions  # noqa: F401  (every action module, so that Action knows all its subclasses)
from domain.application import Application
from domain.case import Action, PrepareDecision
from domain.text import clean
from tests.factories import application_2021

REFUSED = ["\x00", "\x07", "\ud800", "\x1b", "\x7f", "\x85", "\udfff"]
# No longer than the first sample, so that a short field (a criterion's id) takes them too.
ACCEPTED = ["Åsa Öberg, Malmö", "rad ett\nrad två", "kolumn\tkolumn", "Ärende: 50 000 kr"]
# A value some text field takes as it is, to put a refused character into the middle of.
SAMPLES = ["Åsa Öberg i Malmö", "anna.berg@example.se", "anna", "556000-4615"]


def _all_actions() -> list[type[Action]]:
    found, todo = [], [Action]
    while todo:
        for sub in todo.pop().__subclasses__():
            found.append(sub)
            todo.append(sub)
    return found


Wrap = Callable[[str], Any]


def _texts(annotation: Any, wrap: Wrap, models: list[type[BaseModel]]) -> Iterator[Wrap]:
    """A wrap for every place a text goes in `annotation` (wrap(text) is a value with the text there);
    the models it holds are added to `models`, to be walked in turn."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        yield from _texts(typing.get_args(annotation)[0], wrap, models)
    elif origin in (typing.Union, types.UnionType):
        for arm in typing.get_args(annotation):
            if arm is not type(None):
                yield from _texts(arm, wrap, models)
    elif origin in (list, tuple, set, frozenset):
        yield from _texts(typing.get_args(annotation)[0], lambda text: wrap([text]), models)
    elif origin is dict:
        key, value = typing.get_args(annotation)
        yield from _texts(value, lambda text: wrap({"k": text}), models)
        yield from _texts(key, lambda text: wrap({text: None}), models)
    elif origin is typing.Literal or (isinstance(annotation, type) and issubclass(annotation, Enum)):
        return  # a fixed set of values, no free text
    elif annotation is str:
        yield wrap
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        models.append(annotation)


def _validating(adapter: TypeAdapter[Any], wrap: Wrap) -> Wrap:
    return lambda text: adapter.validate_python(wrap(text))


def _text_fields(*roots: type[BaseModel]) -> list[tuple[str, Wrap]]:
    """Every text field of the roots and of every model they hold, each as a validating function."""
    fields: dict[str, Wrap] = {}
    todo, seen = list(roots), set()
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.add(model)
        for name, info in model.model_fields.items():
            annotated = typing.Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
            adapter = TypeAdapter(annotated)
            for i, wrap in enumerate(_texts(info.annotation, lambda text: text, todo)):
                fields[f"{model.__name__}.{name}{'#' + str(i) if i else ''}"] = _validating(adapter, wrap)
    return sorted(fields.items())


FIELDS = _text_fields(Application, *_all_actions())


def test_the_walk_finds_the_texts_of_the_form_and_of_the_actions():
    paths = {path for path, _ in FIELDS}
    # A few from every depth, so that a walk that silently stopped finding fields fails here.
    assert {"Project.title", "ContactPerson.email", "BudgetLine.description", "PrepareDecision.reasons",
            "SectionRuling.section", "CostClaim.vouchers", "GoalResult.result", "Actor.id"} <= paths
    assert len(paths) > 60
    assert {"Project.title", "PrepareDecision.reasons"} <= {path for path, _ in FREE_TEXT}


def _takes(validate: Wrap, text: str) -> bool:
    try:
        validate(text)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize(("path", "validate"), FIELDS, ids=[path for path, _ in FIELDS])
def test_every_text_field_refuses_what_the_register_cannot_store(path: str, validate: Wrap):
    for bad in REFUSED:
        # Alone, unless stripping takes it away (NEL is whitespace): then it is not in the text.
        assert bad.isspace() or not _takes(validate, bad), f"{path} took {bad!r}"
        for sample in SAMPLES:
            if _takes(validate, sample):
                middle = len(sample) // 2
                assert not _takes(validate, sample[:middle] + bad + sample[middle:]), f"{path} took {bad!r}"


# Free text: the fields that take a Swedish sentence (not a pattern such as an e-mail address, an id, a checksum).
FREE_TEXT = [(path, validate) for path, validate in FIELDS if _takes(validate, SAMPLES[0])]


@pytest.mark.parametrize(("path", "validate"), FREE_TEXT, ids=[path for path, _ in FREE_TEXT])
def test_every_free_text_field_takes_swedish_newlines_and_tabs(path: str, validate: Wrap):
    for text in ACCEPTED:
        assert _takes(validate, text), f"{path} refused {text!r}"


def test_a_refusal_names_the_field_and_the_character_but_never_echoes_the_text():
    data = application_2021()
    data["project"]["title"] = "Projekt för anna@example.se\x00 och mer"
    with pytest.raises(ValidationError) as caught:
        Application.model_validate(data)
    [error] = caught.value.errors(include_url=False)
    assert error["loc"] == ("project", "title")
    assert "U+0000" in error["msg"] and "anna@example.se" not in error["msg"]


def test_an_action_refuses_a_nul_in_its_reasons():
    with pytest.raises(ValidationError) as caught:
        PrepareDecision.model_validate({"action_id": "a-1", "actor": {"id": "anna", "role": "officer"},
                                        "kind": "reject", "reasons": "Avslag\x00"})
    assert [e["loc"] for e in caught.value.errors()] == [("reasons",)]


def test_line_breaks_written_on_windows_become_newlines():
    assert clean("rad ett\r\nrad två\rrad tre") == "rad ett\nrad två\nrad tre"


@given(st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs"))))
def test_text_without_control_characters_or_surrogates_is_kept_as_it_is(text: str):
    assert clean(text) == text


@given(st.text(), st.sampled_from(REFUSED))
def test_any_text_with_a_refused_character_is_refused(text: str, bad: str):
    with pytest.raises(ValueError, match="U\\+"):
        clean(text + bad)
