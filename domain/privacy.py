"""Personnummer in free text: found and masked, wherever text leaves for a place that must not hold one.

The logs (worker/logging.py), the public register's subject and sender, and anything the project
shows in Temporal UI use this one mask.
"""

from __future__ import annotations

import re

MASK = "[personnummer]"

# A personnummer or samordningsnummer: (YY)YYMMDD, an optional - or + (+ for people over 100),
# then four digits, with a month 01-12 in the right place. Organisation numbers have 20 or more
# there and are left visible. Not glued to other letters or digits, and not one group of a UUID
# (run ids are UUIDs, and "20240315-1234-..." must not be masked). No Luhn check: a mistyped
# personnummer is personal data too; masking a few look-alikes is the cheaper mistake.
PERSONNUMMER = re.compile(
    r"(?<![0-9A-Za-z-])(?:\d{2})?\d{2}(?:0[1-9]|1[0-2])\d{2}[-+]?\d{4}(?![0-9A-Za-z]|-[0-9A-Za-z])"
)


def mask_text(text: str) -> str:
    """The text with every personnummer-like number replaced by [personnummer]."""
    return PERSONNUMMER.sub(MASK, text)
