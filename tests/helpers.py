"""Shared by the tests: engine builders (a definition, contacts in a few lines) and `wait_until`,
the one wait on a live system that a slow machine does not fail."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from campaignflow.devstack import START_BOUND_SECONDS
from campaigns import testing
from campaigns.contacts import Alternate, Contact
from campaigns.models import CampaignDefinition
from campaigns.windows import from_datetime


def definition(**rules: Any) -> CampaignDefinition:
    """Campaign c1, always open, two lines (a rule given as None is left out)."""
    return testing.definition("c1", **{"concurrent_calls": 2, **rules})


def contact(n: int, alternates: list[str] | None = None, **variables: str) -> Contact:
    return Contact(
        contact_id=f"row-{n}",
        row=n,
        phone_number=f"+1212555{n:04d}",
        alternates=[Alternate(i + 2, a) for i, a in enumerate(alternates or [])],
        variables=variables or {"name": f"N{n}"},
    )


def at(*args: int) -> int:
    """Epoch microseconds of a UTC wall-clock time."""
    return from_datetime(datetime(*args, tzinfo=UTC))  # type: ignore[misc]


T = TypeVar("T")

# How long a wait may see no progress before it fails: a loaded 2-core machine is slow, not
# stuck, and a stuck system shows as minutes without progress. A fast machine never waits it.
STALL_SECONDS = 180.0


def wait_until(
    condition: Callable[[], T],
    what: str,
    *,
    progress: Callable[[], object] | None = None,
    stall_seconds: float = STALL_SECONDS,
    poll_seconds: float = 0.1,
) -> T:
    """Poll `condition` until it returns a truthy value, and return that value.

    Fails (naming `what`) only when `progress()` (a count, an offset: anything that changes
    while the system moves) has not changed for `stall_seconds`; without `progress` the
    window runs from the start, a generous bound. `poll_seconds` apart, as fast as before.
    """
    last_seen = progress() if progress is not None else None
    moved_at = time.monotonic()
    while True:
        value = condition()
        if value:
            return value
        now = time.monotonic()
        if progress is not None:
            seen = progress()
            if seen != last_seen:
                last_seen, moved_at = seen, now
        if now - moved_at > stall_seconds:
            moving = f" (progress stuck at {last_seen!r})" if progress is not None else ""
            raise AssertionError(
                f"no progress for {stall_seconds:.0f} s waiting for {what}{moving}"
            )
        time.sleep(poll_seconds)


def free_port() -> int:
    """A port nothing on 127.0.0.1 listens on now (the services of a test bind it next)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# `dev up` fails by itself, naming the service, once one stops moving (neither CPU nor log);
# this bound on the command only catches a hung `dev up`, never a slow one.
DEV_UP_SECONDS = 4 * START_BOUND_SECONDS
