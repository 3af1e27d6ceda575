"""User-supplied text made harmless to show: control characters written as escapes.

A campaign name, a rejected line or a dead letter's error may carry terminal escape
sequences (ESC [ ..., OSC ... BEL), a carriage return or backspaces that overwrite what
was printed, or bidirectional overrides that reorder it. Printed raw they act on the
operator's terminal; written as `\\x1b`, `\\u202e` they show and do nothing. The one
implementation of that rule: the CLI's output and every CSV cell (`csvsafe`) use it.
"""

from __future__ import annotations

# Unicode's bidirectional controls and line separators: they reorder or break what
# is shown without being Cc characters.
_FORMATTING = (
    0x061C,
    0x200E,
    0x200F,
    0x2028,
    0x2029,
    *range(0x202A, 0x202F),
    *range(0x2066, 0x206A),
)
_CONTROLS = (*range(0x00, 0x20), *range(0x7F, 0xA0), *_FORMATTING)


def _table(keep: str) -> dict[int, str]:
    return {
        c: (f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}") for c in _CONTROLS if chr(c) not in keep
    }


_ONE_LINE = _table("")
_LINES = _table("\n\t")
_CELL = _table("\n\r\t")  # a CSV writer quotes these; a leading tab or CR is csvsafe's


def visible(text: object) -> str:
    """The text on one line, every control character (newlines and tabs too) escaped."""
    return ("" if text is None else str(text)).translate(_ONE_LINE)


def visible_lines(text: object) -> str:
    """As `visible`, keeping newlines and tabs: for messages and logs of several lines."""
    return ("" if text is None else str(text)).translate(_LINES)


def visible_cell(text: object) -> str:
    """As `visible`, keeping what a CSV cell may hold quoted (newline, CR, tab)."""
    return ("" if text is None else str(text)).translate(_CELL)
