"""Which number is dialled and which caller ID is shown on attempt k (SPEC section 3)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from campaigns.models import Strategy

T = TypeVar("T")
# Bound once: in CPython 3.11 an attribute of an Enum class goes through
# `EnumType.__getattr__`, about 10x a global, and a call's number is picked here.
ROLLING, CLAMP = Strategy.rolling, Strategy.clamp


def pick(strategy: Strategy, options: Sequence[T], index: int, fallback: T) -> T:
    """The option for 0-based slot `index`: one rule serves alternates and caller IDs.

    rolling cycles, clamp repeats the last, custom falls back once the list runs out.
    An empty list always gives the fallback.
    """
    n = len(options)
    if n == 0:
        return fallback
    if strategy is ROLLING:
        return options[index % n]
    if strategy is CLAMP:
        return options[min(index, n - 1)]
    return options[index] if index < n else fallback


def destination_index(strategy: Strategy, alternates: int, attempt: int) -> int | None:
    """Index into the alternates for attempt k (1-based), or None for the primary number."""
    if attempt == 1:
        return None
    slots: Sequence[int | None] = range(alternates)
    return pick(strategy, slots, attempt - 2, None)


def caller_id(strategy: Strategy, numbers: Sequence[str], attempt: int, source_number: str) -> str:
    """Caller ID for attempt k (1-based)."""
    return pick(strategy, numbers, attempt - 1, source_number)
