"""The Swedish reasons an applicant or officer reads when what they sent cannot be used.

One catalogue for every model (the application form, each action's fields): pydantic's error
type and its context values in, one Swedish reason out. An error type not listed here keeps
pydantic's English message rather than a made-up translation. Our own validators' messages
(`value_error`) are kept as written.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from pydantic_core import ErrorDetails

_DATE = "ett datum skrivet ÅÅÅÅ-MM-DD, t.ex. 2021-03-15"
_INSTANT = "en tidpunkt med tidszon, t.ex. 2021-03-01T10:00:00+01:00"
_OBJECT = "ska vara ett JSON-objekt ({…})"


def _alternatives(expected: object) -> str:
    # pydantic lists them as "'a', 'b' or 'c'".
    return str(expected).replace(" or ", " eller ")


def _too_short_text(ctx: Mapping[str, Any]) -> str:
    minimum = ctx.get("min_length")
    return "får inte vara tom" if minimum == 1 else f"för kort: minst {minimum} tecken"


def _too_few(ctx: Mapping[str, Any]) -> str:
    return f"för få: minst {ctx.get('min_length')}, nu {ctx.get('actual_length')}"


def _too_many(ctx: Mapping[str, Any]) -> str:
    return f"för många: högst {ctx.get('max_length')}, nu {ctx.get('actual_length')}"


def _own(ctx: Mapping[str, Any]) -> str:
    return str(ctx.get("error", ""))


def _unstorable(ctx: Mapping[str, Any]) -> str:
    what = "en ensam surrogathalva, inget tecken" if ctx.get("surrogate") else "ett styrtecken"
    return (f"innehåller {ctx.get('code')} ({what}) på position {ctx.get('position')}, som ett ärende inte kan "
            "lagra; bara skrivbar text, radbrytningar och tabbar tas emot")


def _json(ctx: Mapping[str, Any]) -> str:
    return f"ogiltig JSON: {json_reason(str(ctx.get('error', '')))}"


_Reason = Callable[[Mapping[str, Any]], str]

REASONS: dict[str, _Reason] = {
    "missing": lambda ctx: "uppgiften saknas",
    "string_type": lambda ctx: "ska vara en text",
    "string_unicode": lambda ctx: "ska vara text i giltig Unicode",
    "string_too_short": _too_short_text,
    "string_too_long": lambda ctx: f"för lång: högst {ctx.get('max_length')} tecken",
    "string_pattern_mismatch": lambda ctx: f"har fel form (ska följa mönstret {ctx.get('pattern')})",
    "int_type": lambda ctx: "ska vara ett heltal",
    "int_parsing": lambda ctx: "ska vara ett heltal",
    "int_from_float": lambda ctx: "ska vara ett heltal, utan decimaler",
    "int_parsing_size": lambda ctx: "talet är för stort",
    "float_type": lambda ctx: "ska vara ett tal",
    "float_parsing": lambda ctx: "ska vara ett tal",
    "finite_number": lambda ctx: "ska vara ett ändligt tal",
    "decimal_type": lambda ctx: "ska vara ett decimaltal",
    "decimal_parsing": lambda ctx: "ska vara ett decimaltal",
    "decimal_max_digits": lambda ctx: f"får ha högst {ctx.get('max_digits')} siffror",
    "decimal_max_places": lambda ctx: f"får ha högst {ctx.get('decimal_places')} decimaler",
    "decimal_whole_digits": lambda ctx: f"får ha högst {ctx.get('whole_digits')} siffror före decimaltecknet",
    "greater_than": lambda ctx: f"ska vara större än {ctx.get('gt')}",
    "greater_than_equal": lambda ctx: f"ska vara minst {ctx.get('ge')}",
    "less_than": lambda ctx: f"ska vara mindre än {ctx.get('lt')}",
    "less_than_equal": lambda ctx: f"ska vara högst {ctx.get('le')}",
    "multiple_of": lambda ctx: f"ska vara en multipel av {ctx.get('multiple_of')}",
    "too_short": _too_few,
    "too_long": _too_many,
    "list_type": lambda ctx: "ska vara en lista ([…])",
    "tuple_type": lambda ctx: "ska vara en lista ([…])",
    "set_type": lambda ctx: "ska vara en lista ([…])",
    "literal_error": lambda ctx: f"ska vara {_alternatives(ctx.get('expected'))}",
    "enum": lambda ctx: f"ska vara {_alternatives(ctx.get('expected'))}",
    "bool_type": lambda ctx: "ska vara true eller false",
    "bool_parsing": lambda ctx: "ska vara true eller false",
    "date_type": lambda ctx: f"ska vara {_DATE}",
    "date_parsing": lambda ctx: f"ska vara {_DATE}",
    "date_from_datetime_parsing": lambda ctx: f"ska vara {_DATE}",
    "date_from_datetime_inexact": lambda ctx: f"ska vara {_DATE}, utan klockslag",
    "datetime_type": lambda ctx: f"ska vara {_INSTANT}",
    "datetime_parsing": lambda ctx: f"ska vara {_INSTANT}",
    "datetime_from_date_parsing": lambda ctx: f"ska vara {_INSTANT}",
    "datetime_object_invalid": lambda ctx: f"ska vara {_INSTANT}",
    "timezone_aware": lambda ctx: f"saknar tidszon: skriv {_INSTANT}",
    "json_invalid": _json,
    "json_type": lambda ctx: "ska vara JSON-text",
    "value_error": _own,
    "assertion_error": _own,
    "model_type": lambda ctx: _OBJECT,
    "model_attributes_type": lambda ctx: _OBJECT,
    "dict_type": lambda ctx: _OBJECT,
    "union_tag_invalid": lambda ctx: (
        f"{ctx.get('discriminator')} {ctx.get('tag')!r} finns inte; ska vara {_alternatives(ctx.get('expected_tags'))}"
    ),
    "union_tag_not_found": lambda ctx: f"uppgiften {ctx.get('discriminator')} saknas",
    "none_required": lambda ctx: "ska vara null",
    "unstorable_text": _unstorable,  # domain/text.py
}


def reason(error: ErrorDetails, *, form: str = "ansökningsformuläret") -> str:
    """The Swedish reason for one pydantic error; `form` names what an unknown field is not part of."""
    if error["type"] == "extra_forbidden":
        return f"okänt fält (ingår inte i {form})"
    explain = REASONS.get(error["type"])
    if explain is None:
        return error["msg"]
    return explain(error.get("ctx") or {})


# The JSON parser's (jiter's) messages, by how they begin.
_JSON_REASONS: tuple[tuple[str, str], ...] = (
    ("recursion limit exceeded", "för djupt nästlad"),
    ("EOF while parsing", "texten tar slut innan JSON-värdet är komplett"),
    ("expected value", "ett JSON-värde väntades"),
    ("trailing characters", "text efter JSON-värdets slut"),
    ("trailing comma", "kommatecken före slutparentes"),
    ("key must be a string", "en nyckel ska vara en text inom citattecken"),
    ("expected `,` or `}`", "kommatecken eller } väntades"),
    ("expected `,` or `]`", "kommatecken eller ] väntades"),
    ("expected `:`", "kolon väntades"),
    ("expected ident", "okänt ord (true, false eller null väntades)"),
    ("invalid number", "ogiltigt tal"),
    ("number out of range", "talet är för stort"),
    ("control character", "kontrolltecken i en text (skriv dem som \\n, \\t eller \\uXXXX)"),
    ("invalid escape", "ogiltig escape-sekvens (\\)"),
    ("invalid unicode code point", "ogiltig Unicode-kod"),
    ("unexpected end of hex escape", "ogiltig \\u-kod"),
    ("lone leading surrogate", "ogiltig \\u-kod (ensam surrogat)"),
)
_POSITION = re.compile(r"^(?P<what>.*) at line (?P<line>\d+) column (?P<column>\d+)$", re.DOTALL)


def json_reason(error: str) -> str:
    """The JSON parser's English message in Swedish, with its line and column."""
    found = _POSITION.match(error)
    what, where = (found["what"], f" (rad {found['line']}, kolumn {found['column']})") if found else (error, "")
    for start, swedish in _JSON_REASONS:
        if what.startswith(start):
            return swedish + where
    return what + where


__all__ = ["REASONS", "json_reason", "reason"]
