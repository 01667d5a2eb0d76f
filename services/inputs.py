"""JSON text as clients send it: files saved by any editor, arguments typed in a shell.

Every reader of client JSON (an application, an action's fields) goes through here, so a
byte-order mark, another encoding or a hostile nesting depth gets the same clear answer.
"""

from __future__ import annotations

import codecs
import hashlib
from typing import Any

from pydantic import TypeAdapter, ValidationError

from infra.errors import InputError
from infra.messages import reason

# A client's retry key (Idempotency-Key): visible ASCII without spaces, as long as a UUID or a hash
# written out and then some.
IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]{1,200}$"


def keyed_id(scope: str, key: str) -> str:
    """The id a client's retry key stands for, kept apart per `scope` (a person, an organisation).

    Hashed: one scope's key can never reach another's action or submission, nor an id the system
    gives its own records (`event-00004`), and no personal number ends up in a workflow id.
    """
    return "api-" + hashlib.sha256(f"{scope}\x00{key}".encode()).hexdigest()[:40]


_UTF16_32 = (
    (codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16"),
)
_SAVE_AS_UTF8 = "spara den som UTF-8"


def json_text(raw: bytes | str, field: str) -> str:
    """The text of a JSON document: UTF-8, with or without a byte-order mark (Windows editors write one).

    Another encoding is refused with what to do, rather than as "expected value at line 1 column 1".
    """
    if isinstance(raw, str):
        return raw.removeprefix("\ufeff")
    for bom, name in _UTF16_32:
        if raw.startswith(bom):
            raise _not_utf8(field, f"texten är kodad i {name}")
    # Without a mark, UTF-16 shows as a NUL byte beside each ASCII character such as the opening brace.
    if len(raw) >= 2 and (raw[0] == 0) != (raw[1] == 0):
        raise _not_utf8(field, "texten ser ut att vara kodad i UTF-16")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _not_utf8(field, f"ogiltig UTF-8 vid byte {exc.start}") from None


def _not_utf8(field: str, why: str) -> InputError:
    return InputError.one(field, f"{why}; {_SAVE_AS_UTF8}")


_OBJECT: TypeAdapter[dict[str, Any]] = TypeAdapter(dict[str, Any])


def json_object(raw: bytes | str, field: str) -> dict[str, Any]:
    """A JSON object, or InputError naming `field`: also for nesting too deep for any parser's stack."""
    try:
        # pydantic's parser has a depth limit where json.loads raises RecursionError.
        return _OBJECT.validate_json(json_text(raw, field))
    except ValidationError as exc:
        raise InputError.one(field, reason(exc.errors(include_url=False)[0])) from None


__all__ = ["json_object", "json_text"]
