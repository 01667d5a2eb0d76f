"""Swedish bankgiro numbers: the account a grant is paid to, and the one it is paid from.

A bankgiro number has 7 or 8 digits, written NNN-NNNN or NNNN-NNNN, and its last digit
is a Luhn (mod 10) check digit over the others: the same check as an organisation
number, so one mistyped digit, or two neighbouring digits swapped (other than 0 and 9), is
caught before money goes to the wrong account. Bank files carry the digits alone;
people read and write the number with its hyphen.
"""

from __future__ import annotations

import re

from domain.identity import luhn_check_digit

# [0-9] with re.ASCII, not \d: \d also matches other scripts' digits, which int() accepts.
_SHAPE = re.compile(r"([0-9]{3,4})-?([0-9]{4})", re.ASCII)


class InvalidBankgiro(ValueError):
    """Raised with a reason that can be shown to an officer; it never quotes the number."""


def normalize_bankgiro(text: str) -> str:
    """The number's digits alone (as a bank file carries them), or InvalidBankgiro saying why."""
    match = _SHAPE.fullmatch(text.strip())
    if match is None:
        raise InvalidBankgiro("a bankgiro number has 7 or 8 digits, written NNN-NNNN or NNNN-NNNN")
    digits = match[1] + match[2]
    if luhn_check_digit(digits[:-1]) != int(digits[-1]):
        raise InvalidBankgiro("the bankgiro number's check digit is wrong")
    return digits


def is_bankgiro(text: str) -> bool:
    """Whether `text` is a bankgiro number: 7–8 digits, hyphen optional, correct check digit."""
    try:
        normalize_bankgiro(text)
    except InvalidBankgiro:
        return False
    return True


def format_bankgiro(text: str) -> str:
    """As people write it: 1234566 -> 123-4566, 50501055 -> 5050-1055."""
    digits = normalize_bankgiro(text)
    return f"{digits[:-4]}-{digits[-4:]}"
