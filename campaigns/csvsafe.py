"""Cells of every CSV (and TSV) the project writes, neutralised against formula injection.

OWASP's CSV-injection guidance: a cell starting with `=`, `+`, `-`, `@`, a tab or a
carriage return is read as a formula by spreadsheet programs; prefixing it with a
single quote makes them show it as text. Applied to every cell, so `+15550100000`
is written `'+15550100000` too (phone numbers read back the same: the number parser
skips the leading quote). Control characters are written as escapes (`textsafe`), so a
report shown with `cat` or `less` cannot drive the terminal either.
"""

from __future__ import annotations

from collections.abc import Iterable

from campaigns.textsafe import visible_cell

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: object) -> str:
    """The cell as text, control characters escaped, with a leading `'` when a spreadsheet
    would read it as a formula."""
    text = visible_cell(cell)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def neutralise_row(cells: Iterable[object]) -> list[str]:
    return [neutralise(c) for c in cells]
