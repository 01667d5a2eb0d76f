"""Dotted paths into the application form, as call files name fields.

A call file says `when = "project.regional"` or lists `fields = ["change_logic.current_state"]`;
checking those paths against the form's schema when the file is loaded turns a typo in a
call file into a load error instead of a rule that silently never fires.
"""

from __future__ import annotations

import re
import types
from functools import cache
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel


def _unwrap(annotation: Any) -> list[Any]:
    """The types an annotation admits, without None and without Annotated metadata."""
    if get_origin(annotation) is Annotated:
        return _unwrap(get_args(annotation)[0])
    if get_origin(annotation) in (Union, types.UnionType):
        return [t for a in get_args(annotation) if a is not type(None) for t in _unwrap(a)]
    return [annotation]


def leaf_type(model: type[BaseModel], path: str) -> Any:
    """The annotation at the end of `path`, or ValueError naming the first unknown part."""
    current: Any = model
    walked: list[str] = []
    for part in path.split("."):
        models = [a for a in _unwrap(current) if isinstance(a, type) and issubclass(a, BaseModel)]
        if not models or part not in models[0].model_fields:
            where = ".".join(walked) or "the application"
            raise ValueError(f"{path!r}: {where} has no field {part!r}")
        current = models[0].model_fields[part].annotation
        walked.append(part)
    return current


# Cached: a call's paths are checked again each time the call is read back from a history (every
# replay of a case), and the schema they are checked against is fixed for the life of the process.
# Only paths that exist are kept (an error is not cached), so the cache is bounded by the form.
@cache
def require_path(model: type[BaseModel], path: str, expected: type) -> str:
    found = _unwrap(leaf_type(model, path))
    if not any(a is expected for a in found):
        raise ValueError(f"{path!r} is not a {expected.__name__} field of the application")
    return path


def resolve(obj: BaseModel, path: str) -> object:
    """The value at `path`, or None where a part on the way is left out."""
    current: object = obj
    for part in path.split("."):
        if current is None:
            return None
        current = getattr(current, part)
    return current


def json_path(path: str) -> str:
    return f"$.{path}"


_SECTION_PART = re.compile(r"\.([a-z_][a-z0-9_]*)|\[([0-9]{1,6})\]", re.ASCII)


def section_parts(section: str) -> list[str | int] | None:
    """A secrecy mark's JSON path, `$.budget[1].description`, as ["budget", 1, "description"]; None
    when it is no such path. "change_logic.planned_work" without the "$." means the same."""
    text = section.removeprefix("$")
    if not text.startswith((".", "[")):
        text = "." + text
    parts: list[str | int] = []
    position = 0
    while position < len(text):
        match = _SECTION_PART.match(text, position)
        if match is None:
            return None
        name, index = match.groups()
        parts.append(name if name is not None else int(index))
        position = match.end()
    return parts or None


def value_at(document: object, section: str) -> object:
    """What a secrecy mark points at in an application as JSON (`$.budget[1].description`); None
    where there is nothing there."""
    parts = section_parts(section)
    return None if parts is None else walk(document, parts)


def walk(document: object, parts: list[str | int]) -> object:
    """What `parts` reach in `document` (JSON: objects and lists); None where there is nothing."""
    node = document
    for part in parts:
        if isinstance(part, int):
            node = node[part] if isinstance(node, list) and part < len(node) else None
        else:
            node = node.get(part) if isinstance(node, dict) else None
    return node
