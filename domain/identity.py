"""Swedish organisation numbers and personnummer: parsing, check digits and legal form.

An applicant is identified by an organisationsnummer, or, for a sole trader, by a
personnummer (or samordningsnummer). Both share one ten-digit shape with a Luhn check
digit, so a single parser decides which it is: digits 3–4 are at least 20 in an
organisation number and a month in a personnummer.

A personnummer is personal data. `IdentityNumber` therefore shows only its date part
in `repr`/`str`, and no exception reason here ever quotes the number it rejected, so
neither a log line nor a finding shown to a case officer can leak one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from functools import lru_cache
from types import MappingProxyType

_ASCII_DIGITS = frozenset("0123456789")


class LegalForm(StrEnum):
    PUBLIC = "public"
    ESTATE = "estate"
    FOREIGN = "foreign"
    LIMITED_COMPANY = "limited_company"
    SIMPLE_PARTNERSHIP = "simple_partnership"
    ECONOMIC_ASSOCIATION = "economic_association"
    NON_PROFIT = "non_profit"
    PARTNERSHIP = "partnership"
    NATURAL_PERSON = "natural_person"


LEGAL_FORM_LABELS_SV: Mapping[LegalForm, str] = MappingProxyType({
    LegalForm.PUBLIC: "stat, region eller kommun",
    LegalForm.ESTATE: "dödsbo",
    LegalForm.FOREIGN: "utländsk juridisk person",
    LegalForm.LIMITED_COMPANY: "aktiebolag",
    LegalForm.SIMPLE_PARTNERSHIP: "enkelt bolag",
    LegalForm.ECONOMIC_ASSOCIATION: "ekonomisk förening",
    LegalForm.NON_PROFIT: "ideell förening eller stiftelse",
    LegalForm.PARTNERSHIP: "handelsbolag eller kommanditbolag",
    LegalForm.NATURAL_PERSON: "fysisk person",
})

# No legal form begins with 0 or 4; leaving them out is what makes such numbers invalid.
_LEGAL_FORM_BY_FIRST_DIGIT: Mapping[str, LegalForm] = MappingProxyType({
    "1": LegalForm.ESTATE,
    "2": LegalForm.PUBLIC,
    "3": LegalForm.FOREIGN,
    "5": LegalForm.LIMITED_COMPANY,
    "6": LegalForm.SIMPLE_PARTNERSHIP,
    "7": LegalForm.ECONOMIC_ASSOCIATION,
    "8": LegalForm.NON_PROFIT,
    "9": LegalForm.PARTNERSHIP,
})

# `[0-9]` with re.ASCII, not `\d`: `\d` also matches Arabic-Indic and full-width digits,
# which int() would then silently accept.
_SHAPE = re.compile(r"(?P<head>[0-9]{6}|[0-9]{8})(?P<separator>[-+]?)(?P<tail>[0-9]{4})", re.ASCII)

_ORGANISATION_PREFIX = "16"
_CENTURIES = frozenset({"18", "19", "20"})
# Skatteverket forms a samordningsnummer by adding 60 to the day of birth.
_COORDINATION_OFFSET = 60


class InvalidIdentityNumber(ValueError):
    """Raised with a Swedish `reason` that can be shown to a case officer as it is."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _is_ascii_digits(text: str) -> bool:
    return bool(text) and all(char in _ASCII_DIGITS for char in text)


def luhn_check_digit(digits: str) -> int:
    """The Luhn (mod 10) check digit to append to `digits`.

    Weights alternate 2, 1, ... from the right-hand end, which for the nine digits of a
    Swedish number is the familiar 2, 1, 2, ... from the left.
    """
    if not _is_ascii_digits(digits):
        raise ValueError("luhn_check_digit needs a non-empty string of ASCII digits")
    total = 0
    for position, char in enumerate(reversed(digits)):
        product = int(char) * (2 if position % 2 == 0 else 1)
        total += product - 9 if product > 9 else product
    return (10 - total % 10) % 10


def _require_plausible_birth_date(digits: str) -> None:
    # Without the century the year is unknown, so "31" is accepted for every month;
    # the 12-digit form is checked against the real calendar instead.
    month = int(digits[2:4])
    day = int(digits[4:6])
    if not 1 <= month <= 12:
        raise InvalidIdentityNumber(
            "siffra 3–4 ska vara minst 20 i ett organisationsnummer "
            "eller en månad (01–12) i ett personnummer"
        )
    if not (1 <= day <= 31 or 1 + _COORDINATION_OFFSET <= day <= 31 + _COORDINATION_OFFSET):
        raise InvalidIdentityNumber(
            "dagen i personnumret ska vara 01–31, eller 61–91 i ett samordningsnummer"
        )


def _require_calendar_date(century: str, digits: str) -> None:
    day = int(digits[4:6])
    if day > _COORDINATION_OFFSET:
        day -= _COORDINATION_OFFSET
    try:
        date(int(century + digits[0:2]), int(digits[2:4]), day)
    except ValueError:
        raise InvalidIdentityNumber("födelsedatumet i personnumret finns inte") from None


def _classify(digits: str) -> LegalForm:
    """The legal form of a normalised ten-digit number, or why it is not a valid number."""
    if len(digits) != 10 or not _is_ascii_digits(digits):
        raise InvalidIdentityNumber("ska bestå av 10 siffror")
    if int(digits[2:4]) >= 20:
        form = _LEGAL_FORM_BY_FIRST_DIGIT.get(digits[0])
        if form is None:
            raise InvalidIdentityNumber(
                f"första siffran ({digits[0]}) anger ingen känd organisationsform"
            )
    else:
        _require_plausible_birth_date(digits)
        form = LegalForm.NATURAL_PERSON
    if luhn_check_digit(digits[:9]) != int(digits[9]):
        raise InvalidIdentityNumber("kontrollsiffran stämmer inte")
    return form


@dataclass(frozen=True, slots=True, repr=False)
class IdentityNumber:
    """A valid organisation number or personnummer, normalised to ten digits.

    Construction re-validates, so an instance built by hand (or by `dataclasses.replace`)
    is as trustworthy as one from `parse_identity_number`.
    """

    digits: str
    legal_form: LegalForm

    def __post_init__(self) -> None:
        if _classify(self.digits) is not self.legal_form:
            raise InvalidIdentityNumber("organisationsformen stämmer inte med numret")

    @property
    def is_personal(self) -> bool:
        return self.legal_form is LegalForm.NATURAL_PERSON

    def formatted(self) -> str:
        """The full number as NNNNNN-NNNN; for a personnummer this is personal data."""
        return f"{self.digits[:6]}-{self.digits[6:]}"

    def masked(self) -> str:
        if self.is_personal:
            return f"{self.digits[:6]}-****"
        return self.formatted()

    def __repr__(self) -> str:
        return f"IdentityNumber({self.masked()!r}, {self.legal_form.value})"

    def __str__(self) -> str:
        return self.masked()


# The checks of one application parse each of its numbers in several rules. A result is frozen, and a
# number that does not parse raises each time (lru_cache keeps no exceptions).
@lru_cache(maxsize=1024)
def parse_identity_number(text: str) -> IdentityNumber:
    """Parse an organisation number or personnummer in any of its usual written forms.

    Accepted: NNNNNN-NNNN, NNNNNNNNNN, 16NNNNNNNNNN, 16NNNNNN-NNNN, and for personnummer
    also YYMMDD+NNNC and the 12-digit YYYYMMDD-NNNC with or without a separator.
    """
    stripped = text.strip()
    if not stripped:
        raise InvalidIdentityNumber("organisations- eller personnummer saknas")
    if any(char not in _ASCII_DIGITS and char not in "-+" for char in stripped):
        raise InvalidIdentityNumber("får bara innehålla siffror och bindestreck eller plustecken")
    match = _SHAPE.fullmatch(stripped)
    if match is None:
        if sum(char in _ASCII_DIGITS for char in stripped) not in (10, 12):
            raise InvalidIdentityNumber("ska bestå av 10 eller 12 siffror")
        raise InvalidIdentityNumber(
            "bindestreck eller plustecken får bara stå före de fyra sista siffrorna"
        )
    separator = match["separator"]
    digits = match["head"] + match["tail"]
    if len(digits) == 12:
        prefix, digits = digits[:2], digits[2:]
        if prefix == _ORGANISATION_PREFIX:
            return _parse_prefixed_organisation_number(digits, separator)
        if prefix not in _CENTURIES:
            raise InvalidIdentityNumber(
                "ett 12-siffrigt nummer ska börja med 16 (organisationsnummer) "
                "eller med århundradet 18, 19 eller 20 (personnummer)"
            )
        _require_calendar_date(prefix, digits)
    form = _classify(digits)
    if separator == "+" and form is not LegalForm.NATURAL_PERSON:
        raise InvalidIdentityNumber("plustecken används bara i personnummer")
    return IdentityNumber(digits, form)


def _parse_prefixed_organisation_number(digits: str, separator: str) -> IdentityNumber:
    if separator == "+":
        raise InvalidIdentityNumber("plustecken används bara i personnummer")
    try:
        form = _classify(digits)
    except InvalidIdentityNumber as error:
        raise InvalidIdentityNumber(
            f"efter 16 ska ett organisationsnummer följa: {error.reason}"
        ) from None
    if form is LegalForm.NATURAL_PERSON:
        raise InvalidIdentityNumber("efter 16 ska ett organisationsnummer följa, inte ett personnummer")
    return IdentityNumber(digits, form)


def identity_key(text: str) -> str:
    """What makes two written numbers the same organisation: 556912-3408 == 16556912-3408.

    A number that does not parse is compared as written (trimmed), so that its own
    finding is not hidden and two identical typos still count as one organisation.
    """
    try:
        return parse_identity_number(text).digits
    except InvalidIdentityNumber:
        return text.strip()
