"""Text a case can hold: what the register can store and a letter can carry.

PostgreSQL's text cannot hold NUL, UTF-8 (and so the register, JSON and e-mail) cannot hold a
lone surrogate, and other control characters (a bell, an escape) garble a letter or a terminal.
Every text a person sends (the application form, every action) is checked here, at the boundary,
so that such a text is refused with the field's name before anything is recorded, instead of
wedging the case's register write later. Newline and tab are text; a carriage return is the end
of a line written on Windows (browsers send every line break of a textarea as CR LF), so CR LF and
a lone CR become a newline rather than a refusal.

The types here are `str` with the check attached: use them (or `Clean` in your own `Annotated`)
for every text field of a model people send. tests/domain/test_text.py walks every field of the
form and of every action, so a field that forgets it fails there.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

# C0 controls but tab and newline, DEL, C1 controls, and UTF-16 surrogates (which Python strings
# may hold alone, e.g. from JSON's "\ud800", and UTF-8 cannot encode).
_REFUSED = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_LINE_BREAK = re.compile("\r\n?")


def refused_character(text: str) -> tuple[int, str] | None:
    """The first character in `text` that a case cannot hold, and where (0-based), if any.

    A carriage return counts: call `clean` to turn line breaks into newlines first."""
    found = _REFUSED.search(text)
    return None if found is None else (found.start(), found.group())


def describe(char: str) -> str:
    """A character as a reason can name it without quoting it: "U+0000 (NUL)"."""
    code = f"U+{ord(char):04X}"
    if "\ud800" <= char <= "\udfff":
        return f"{code} (a lone surrogate, not a character)"
    name = unicodedata.name(char, "")
    return f"{code} (a control character{', ' + name if name else ''})"


def clean(text: str) -> str:
    """`text` with its line breaks as newlines; refused (with the character and its place, never the
    text itself) if it holds a character the register cannot store or a letter cannot carry."""
    if "\r" in text:
        text = _LINE_BREAK.sub("\n", text)
    found = refused_character(text)
    if found is not None:
        at, char = found
        raise PydanticCustomError(
            "unstorable_text",
            "contains {character} at position {position}, which a case cannot hold; "
            "only printable text, newlines and tabs are accepted",
            {"character": describe(char), "position": at + 1, "code": f"U+{ord(char):04X}",
             "surrogate": "\ud800" <= char <= "\udfff"},
        )
    return text


Clean = AfterValidator(clean)

# Free text of any length up to a bound; each model keeps its own bounds with these.
Text = Annotated[str, Clean]

