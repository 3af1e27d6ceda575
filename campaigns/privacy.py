"""Phone numbers in logs and error reasons: every digit but the last four is masked.

One helper for the whole project (`mask_number`), and `mask_numbers_in` for free text
(an exception's message) that may hold a number. Only the rejects report, which the
operator needs to fix the list, keeps the values as they were.
"""

from __future__ import annotations

import re

KEPT_DIGITS = 4
MASK = "*"
# What looks like a phone number: a run of 7 or more digits, possibly with the separators
# numbers are written with, taken whole (atomic: never a shorter piece of a longer run)...
_NUMBER_LIKE = re.compile(
    r"(?<![\w@+.,])"  # not the tail of an id, a decimal or a count written with commas
    r"(?<!offset )(?<!offset=)"  # a Kafka offset is not a number to hide
    r"(?!\d{4}-\d{2}-\d{2}(?!\d))"  # nor is a date
    r"(?>\+?\d(?:[\d .()/-]*\d){6,})"
    # ...and not a quantity: a size, a duration or a count followed by its unit.
    r"(?!\s*(?:bytes?|[KMG]i?B|ms|us|s|seconds?|rows?|contacts?|calls?|messages?|records?)\b)"
)


def mask_number(text: str) -> str:
    """`+12025550143` -> `+*******0143`: digits but the last four masked, the rest kept."""
    hide = sum(1 for c in text if c.isdigit()) - KEPT_DIGITS
    if hide <= 0:
        return text
    out: list[str] = []
    for c in text:
        if hide > 0 and c.isdigit():
            out.append(MASK)
            hide -= 1
        else:
            out.append(c)
    return "".join(out)


def mask_numbers_in(text: str) -> str:
    """Free text with every number-like run of seven or more digits masked."""
    return _NUMBER_LIKE.sub(lambda m: mask_number(m.group(0)), text)
