"""The telephony adapter port: how the dialer hands a call to whatever places it.

To plug in a telephony or voice-agent API, write a class with these three methods.
`place_call` returns when the call is over (its outcome), or None when no outcome
will ever be reported (the engine then times the call out). It calls `on_handoff()`
as soon as the far side has accepted the call: from then on the call is the far
side's, and the dialer records its id and lets its offset be committed. An adapter
that never calls it is taken to hand off when `place_call` returns.

A dialer taking over a partition asks the adapter about the calls its predecessor placed
and never reported (`lookup`, optional): the outcome if the call ended, `in_progress`
(asked again until it ends or its deadline passes), `silent` (it ended and no outcome will
ever be reported: the engine times it out), or `unknown` (the far side has no such call):
the dialer then reports `failed` with cause `dialer_lost`, as it does for an adapter
without `lookup`.

An adapter whose outcomes come at once (the simulator at time_scale 0) may also offer
the `InstantAdapter` fast path: the dialer then places its calls synchronously, a
fetched batch at a time, instead of running an asyncio task per call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from dialer.calls import Call, Inbound, Outcome

HandOff = Callable[[], None]
InboundSink = Callable[[Inbound], None]
# (account_id, call_id, outcome); raises UnknownCall for a call never placed
OrphanSink = Callable[[str, str, Outcome], None]


def no_handoff() -> None:
    """The default hand-off callback: nothing to do."""


class Adapter(Protocol):
    """What the dialer needs from a telephony adapter."""

    name: str

    async def start(self, inbound: InboundSink, orphan: OrphanSink) -> None:
        """Open connections/servers. `inbound` takes inbound-call events; `orphan` takes
        outcomes for calls this process is not waiting for (e.g. placed before a restart)."""
        ...

    async def place_call(self, call: Call, on_handoff: HandOff = no_handoff) -> Outcome | None:
        """Place one call and return its outcome (None: no outcome will ever come)."""
        ...

    async def close(self) -> None:
        """Release what `start` opened."""
        ...


class InstantAdapter(Adapter, Protocol):
    """An adapter that can also place a call synchronously, when `instant` is true."""

    @property
    def instant(self) -> bool:
        """True when `place_call_now` gives the same outcome `place_call` would, at once."""
        ...

    def place_call_now(self, call: Call, on_handoff: HandOff = no_handoff) -> Outcome | None:
        """`place_call` without an event-loop round trip; only used while `instant`."""
        ...


ENDED = "ended"
IN_PROGRESS = "in_progress"
SILENT = "silent"
UNKNOWN = "unknown"
LOOKUP_STATES = (ENDED, IN_PROGRESS, SILENT, UNKNOWN)


@dataclass(frozen=True)
class Lookup:
    """What an adapter knows of a call placed earlier (see module doc)."""

    state: str
    outcome: Outcome | None = None  # set when state is ENDED
    ends_at_ms: int | None = None  # when an IN_PROGRESS call is expected to end, if known

    def __post_init__(self) -> None:
        if self.state not in LOOKUP_STATES:
            raise ValueError(f"unknown lookup state {self.state!r}; use {', '.join(LOOKUP_STATES)}")
        if (self.state == ENDED) != (self.outcome is not None):
            raise ValueError("a lookup has an outcome exactly when the call ended")


Looker = Callable[[Call, int], Awaitable[Lookup]]


def lookup_of(adapter: Adapter) -> Looker | None:
    """The adapter's `lookup(call, placed_at_ms)`, if it has one."""
    found = getattr(adapter, "lookup", None)
    return found if callable(found) else None


def instant_placer(adapter: Adapter) -> Callable[[Call], Outcome | None] | None:
    """The adapter's synchronous `place_call_now`, if it offers one and is instant now."""
    if getattr(adapter, "instant", False):
        place = getattr(adapter, "place_call_now", None)
        if callable(place):
            return place  # type: ignore[no-any-return]
    return None
