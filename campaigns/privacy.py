"""Phone numbers in logs and error reasons: every digit but the last four is masked.

One helper for the whole project (`mask_number`), and `mask_numbers_in` for free text
(an exception's message) that may hold a number. Only the rejects report, which the
operator needs to fix the list, keeps the values as they were.
"""

from __future__ import annotations

import re

KEPT_DIGITS = 4
MASK = "*"
# A run of 7 or more digits, possibly with the separators numbers are written with.
_NUMBER_LIKE = re.compile(r"\+?\d(?:[\d .()/-]*\d){6,}")


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
