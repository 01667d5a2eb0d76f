"""Money and shares: exact arithmetic only.

Amounts are Swedish kronor as `Decimal` rounded to whole öre. Shares (co-financing,
support rate, a budget fraction such as "one third") are `Fraction`s so that a rule
like "at most a third of the budget" is compared exactly, with no rounding at all.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Annotated

from pydantic import BeforeValidator, Field, PlainSerializer, WithJsonSchema

ORE = Decimal("0.01")

# Twelve integer digits is a trillion kronor: far above any grant, low enough that a
# hostile "1e999999" is refused at the door instead of becoming a huge number. The sign
# is let through so that "-1.00" is told it is negative, not that it is malformed.
_KRONOR_TEXT = re.compile(r"-?[0-9]{1,12}(\.[0-9]{1,2})?", re.ASCII)
KRONOR_PATTERN = r"^[0-9]{1,12}(\.[0-9]{1,2})?$"
# What an applicant or officer reads, so in Swedish.
_WRITE_AMOUNTS = 'skriv belopp som en text, t.ex. "400000.00"'


def _parse_kronor(value: object) -> object:
    # A JSON number with a fraction has already been through a float by the time we see
    # it (100.000000000000000001 arrives as 100.0), so only text and whole numbers are exact.
    if isinstance(value, bool):
        raise ValueError(f"ett belopp kan inte vara true eller false; {_WRITE_AMOUNTS}")
    if isinstance(value, float):
        raise ValueError(f"ett JSON-tal med decimaler kan tappa ören; {_WRITE_AMOUNTS}")
    if isinstance(value, int):
        value = Decimal(value)
    elif isinstance(value, str):
        if _KRONOR_TEXT.fullmatch(value) is None:
            raise ValueError(
                f"inget belopp i kronor: {_WRITE_AMOUNTS} (siffror, högst två decimaler, ingen exponent)"
            )
        value = Decimal(value)
    if isinstance(value, Decimal) and value.is_zero():
        value = value.copy_abs()  # "-0" is zero, and should not print as "-0.00"
    return value


Kronor = Annotated[
    Decimal,
    # The constraints before the parser, so that pydantic checks them in its own Decimal validator
    # instead of in Python after the parser: an amount is validated in less than half the time.
    Field(ge=0, max_digits=14, decimal_places=2, allow_inf_nan=False),
    BeforeValidator(_parse_kronor),
    # Fixed point, never "1E+3": what is written must read back through the pattern above.
    PlainSerializer(lambda amount: format(amount, "f"), return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": KRONOR_PATTERN, "examples": ["400000.00"]}),
]


def to_ore(amount: Decimal | Fraction) -> Decimal:
    """Round to whole öre, half away from zero, as Swedish accounting does."""
    if isinstance(amount, Fraction):
        amount = Decimal(amount.numerator) / Decimal(amount.denominator)
    return amount.quantize(ORE, rounding=ROUND_HALF_UP)


def total(amounts: Iterable[Decimal]) -> Decimal:
    # sum() starts from int 0; start from Decimal so an empty total is still money.
    return sum(amounts, Decimal(0))


def share_of(part: Decimal, whole: Decimal) -> Fraction:
    """The exact share `part / whole`; zero when there is no whole to share."""
    if whole == 0:
        return Fraction(0)
    return Fraction(part) / Fraction(whole)


def apply_share(share: Fraction, amount: Decimal) -> Decimal:
    """`share × amount`, rounded to öre only at the end."""
    return to_ore(share * Fraction(amount))


def format_kronor(amount: Decimal) -> str:
    """Swedish style: "1 250 000 kr", "1 250,50 kr" (non-breaking thousands space)."""
    rounded = to_ore(amount)
    sign = "-" if rounded < 0 else ""
    whole, _, ore = f"{abs(rounded):.2f}".partition(".")
    groups: list[str] = []
    while whole:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    text = "\u00a0".join(groups)
    if ore != "00":
        text += f",{ore}"
    return f"{sign}{text}\u00a0kr"


# An amount as format_kronor writes it, whole: not preceded by a digit, a group space or a comma, so that
# "1 000 kr" is not read inside "11 000 kr".
_WRITTEN_KRONOR = re.compile(r"(?<![0-9\u00a0,])(-?)([0-9]{1,3}(?:\u00a0[0-9]{3})*)(?:,([0-9]{2}))?\u00a0kr\b")


def amounts_in(text: str) -> list[Decimal]:
    """Every amount written in `text` as `format_kronor` writes it, exactly, in order."""
    return [Decimal(sign + whole.replace("\u00a0", "") + "." + (ore or "00"))
            for sign, whole, ore in _WRITTEN_KRONOR.findall(text)]


def format_share(share: Fraction) -> str:
    """A share as an officer writes it: "25 %", "33,3 %" (one decimal when not whole)."""
    percent = share * 100
    if percent.denominator == 1:
        return f"{percent.numerator}\u00a0%"
    rounded = to_ore(percent).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return f"{str(rounded).replace('.', ',')}\u00a0%"


def _parse_share(value: object) -> Fraction:
    # Call files write shares as "1/3" or "0.25"; a float would smuggle in binary error.
    if isinstance(value, Fraction):
        share = value
    elif isinstance(value, int | str | Decimal) and not isinstance(value, bool):
        try:
            share = Fraction(value)
        except (ValueError, ZeroDivisionError) as exc:
            raise ValueError(f"not a share: {value!r} (write e.g. \"1/3\" or \"0.25\")") from exc
    else:
        raise ValueError(f"a share must be written as a string such as \"1/3\" or \"0.25\", not {value!r}")
    if not 0 <= share <= 1:
        raise ValueError(f"a share must lie between 0 and 1, got {value!r}")
    return share


Share = Annotated[
    Fraction,
    BeforeValidator(_parse_share),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^\d+(/\d+|\.\d+)?$"}),
]
