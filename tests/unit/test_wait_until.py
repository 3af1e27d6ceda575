"""tests.helpers.wait_until: slowness never fails a wait, a stall does."""

from __future__ import annotations

import itertools

import pytest

from tests.helpers import wait_until


def test_a_wait_that_keeps_moving_never_fails_however_long_it_takes() -> None:
    """A zero stall window: only a poll that sees no progress could fail it."""
    ticks = itertools.count()
    seen: list[int] = []

    def done() -> int | None:
        seen.append(next(ticks))
        return seen[-1] if seen[-1] >= 8 else None

    assert (
        wait_until(done, "eight ticks", progress=lambda: len(seen), stall_seconds=0, poll_seconds=0)
        == 8
    )


def test_a_wait_without_progress_fails_naming_what_it_waited_for() -> None:
    with pytest.raises(AssertionError, match=r"no progress for 0 s waiting for the moon.*7"):
        wait_until(lambda: False, "the moon", progress=lambda: 7, stall_seconds=0.05)


def test_a_wait_without_a_progress_signal_is_a_bound_from_the_start() -> None:
    with pytest.raises(AssertionError, match="waiting for nothing"):
        wait_until(lambda: None, "nothing", stall_seconds=0.05)


def test_the_value_that_ended_the_wait_is_returned() -> None:
    assert wait_until(lambda: {"status": "completed"}, "a body") == {"status": "completed"}
