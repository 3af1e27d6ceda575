"""The simulator adapter: places no real call, decides each outcome from a script or a model.

Deterministic per call: the random draws for a call are uniforms cut from a hash of
(seed, call_id), so a call ends the same way whatever the order or concurrency it is
placed in, and a re-run with the same seed reproduces a campaign (a hash is several
times cheaper than seeding a Mersenne Twister per call). `time_scale` multiplies every
wait (1 = real time, 0 = instant outcomes, 0.01 = a 30 s call lasts 0.3 s). At
time_scale 0 the adapter is `instant`: the dialer places its calls with
`place_call_now`, without an asyncio task per call.
"""

from __future__ import annotations

import asyncio
import bisect
import hashlib
import itertools
import math
import random
import struct
import time
import uuid
from dataclasses import dataclass, field
from typing import NamedTuple

from campaigns.simulate import NO_OUTCOME
from dialer.adapter import (
    ENDED,
    IN_PROGRESS,
    SILENT,
    HandOff,
    InboundSink,
    Lookup,
    OrphanSink,
    no_handoff,
)
from dialer.calls import STATUSES, Call, Inbound, Outcome, now_ms
from dialer.script import Script

CALLBACK_SHARE = "callback"  # among the shares: of answered calls, those asking for a callback
DEFAULT_SHARES: dict[str, float] = {
    "answered": 0.35,
    "no_answer": 0.35,
    "busy": 0.1,
    "voicemail": 0.15,
    "failed": 0.05,
}


@dataclass
class SimulatorConfig:
    """Outcome shares, durations (seconds, before time_scale) and the inbound-call model."""

    shares: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_SHARES))
    seed: int = 0
    time_scale: float = 1.0
    answer_delay_min: float = 3.0
    answer_delay_max: float = 15.0
    talk_median: float = 60.0  # answered calls: log-normal talk time
    talk_sigma: float = 0.8
    ring_timeout: float = 30.0  # no_answer rings this long
    busy_seconds: float = 2.0
    voicemail_seconds: float = 20.0
    # Inbound calls: a Poisson stream per account (of the calls seen), each on one of the
    # account's agents, lasting a log-normal time (median, sigma), all times before time_scale.
    inbound_per_minute: float = 0.0  # per account (0 = none)
    inbound_median_seconds: float = 120.0
    inbound_sigma: float = 0.5
    # Share of answered calls that ask to be called back (SPEC 9), at a time 1 to 4 hours
    # (before time_scale) after the call; `callback=0.05` among the shares sets it.
    callback_share: float = 0.0
    callback_min_hours: float = 1.0
    callback_max_hours: float = 4.0
    script: Script = field(default_factory=Script)

    def __post_init__(self) -> None:
        if self.time_scale < 0 or not math.isfinite(self.time_scale):
            raise ValueError("time_scale must be finite and >= 0")
        if not (math.isfinite(self.inbound_per_minute) and self.inbound_per_minute >= 0):
            raise ValueError("the inbound rate must be a finite number of calls a minute, >= 0")
        if not (math.isfinite(self.inbound_median_seconds) and self.inbound_median_seconds > 0):
            raise ValueError("the inbound calls' median duration must be > 0 seconds")
        if CALLBACK_SHARE in self.shares:
            self.callback_share = self.shares.pop(CALLBACK_SHARE)
        if not (0.0 <= self.callback_share <= 1.0):
            raise ValueError(f"{CALLBACK_SHARE} must be a share of answered calls in [0, 1]")
        if not self.shares or any(w < 0 for w in self.shares.values()):
            raise ValueError("shares must be non-negative, at least one")
        unknown = [k for k in self.shares if k not in STATUSES or k == "timeout"]
        if unknown:
            raise ValueError(f"unknown status(es) in shares: {', '.join(unknown)}")
        if sum(self.shares.values()) <= 0:
            raise ValueError("shares must not all be 0")
        if self.answer_delay_min > self.answer_delay_max:
            raise ValueError("answer_delay_min must be <= answer_delay_max")


class Plan(NamedTuple):
    """How a simulated call goes, in simulated seconds from dial (or creation, if scripted).

    A NamedTuple: one is made per call, and a frozen dataclass costs a setattr per field."""

    status: str  # a call status or "none"
    answer_after: float | None
    end_after: float
    talk_seconds: float | None
    from_creation: bool
    opt_out: bool = False  # scripted: the outcome carries an opt-out
    callback_after: float | None = None  # answered: asks to be called back this long after the end


class InboundDraw(NamedTuple):
    """One inbound call of an account's stream: when after the last, on which agent, how long."""

    gap_seconds: float
    agent_id: str
    length_seconds: float


_FOUR_LONGS = struct.Struct("<4Q")
_UNIT = 2.0**-53


def _draws(seed: int, call_id: str) -> tuple[float, float, float, float]:
    """Four independent uniforms in [0, 1) for a (seed, call), from one 32-byte hash."""
    digest = hashlib.blake2b(f"{seed}:{call_id}".encode(), digest_size=32).digest()
    a, b, c, d = _FOUR_LONGS.unpack(digest)
    return (a >> 11) * _UNIT, (b >> 11) * _UNIT, (c >> 11) * _UNIT, (d >> 11) * _UNIT


def _normal(u1: float, u2: float) -> float:
    """A standard normal draw from two uniforms (Box-Muller)."""
    return math.sqrt(-2.0 * math.log(1.0 - u1)) * math.cos(2.0 * math.pi * u2)


def parse_shares(text: str) -> dict[str, float]:
    """`answered=0.3,no_answer=0.5,busy=0.2` -> dict (the `--model` syntax of simulate)."""
    out: dict[str, float] = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        if not sep:
            raise ValueError(f"share {part!r} is not status=weight")
        out[name.strip()] = float(value)
    return out


class SimulatorAdapter:
    """A telephony adapter that simulates calls (see module doc)."""

    name = "simulator"

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config or SimulatorConfig()
        self._statuses = list(self.config.shares)
        self._cumulative = list(itertools.accumulate(self.config.shares[s] for s in self._statuses))
        self._inbound: InboundSink | None = None
        self._agents: dict[str, list[str]] = {}  # account -> its agents seen, in order
        self._run = uuid.uuid4().hex[:8]  # in inbound call ids: a restart reuses none
        self._inbound_tasks: set[asyncio.Task[None]] = set()

    def plan(self, call: Call) -> Plan:
        """The deterministic plan of a call (no waiting; used by place_call and by tests)."""
        c = self.config
        scripted = c.script.lookup(call)
        if scripted is not None:
            status = scripted.status
            answer = min(c.answer_delay_min, scripted.duration_seconds)
            answered = status == "answered"
            return Plan(
                status=status,
                answer_after=answer if answered else None,
                end_after=scripted.duration_seconds,
                talk_seconds=scripted.duration_seconds - answer if answered else None,
                from_creation=True,
                opt_out=scripted.opt_out,
            )
        u_status, u_delay, u_a, u_b = _draws(c.seed, call.call_id)
        cumulative = self._cumulative
        pick = bisect.bisect_right(cumulative, u_status * cumulative[-1])
        status = self._statuses[min(pick, len(self._statuses) - 1)]
        delay = c.answer_delay_min + (c.answer_delay_max - c.answer_delay_min) * u_delay
        if status == "answered":
            talk = math.exp(math.log(c.talk_median) + c.talk_sigma * _normal(u_a, u_b))
            return Plan(status, delay, delay + talk, talk, False, False, self._callback(call))
        if status == "voicemail":
            return Plan(status, delay, delay + c.voicemail_seconds, None, False)
        if status == "no_answer":
            return Plan(status, None, c.ring_timeout, None, False)
        if status == "busy":
            return Plan(status, None, c.busy_seconds, None, False)
        return Plan(status, None, 0.5 + 2.5 * u_a, None, False)

    def _callback(self, call: Call) -> float | None:
        """Seconds after its end that an answered call asks to be called back, or None
        (drawn from a second hash: adding callbacks leaves every other draw as it was)."""
        c = self.config
        if c.callback_share <= 0:
            return None
        u_ask, u_when, _u3, _u4 = _draws(c.seed, f"{call.call_id}#callback")
        if u_ask >= c.callback_share:
            return None
        hours = c.callback_min_hours + (c.callback_max_hours - c.callback_min_hours) * u_when
        return hours * 3600.0

    async def start(self, inbound: InboundSink, orphan: OrphanSink) -> None:
        self._inbound = inbound

    @property
    def instant(self) -> bool:
        """Every outcome comes at once (time_scale 0): `place_call_now` may be used."""
        return self.config.time_scale == 0

    async def place_call(self, call: Call, on_handoff: HandOff = no_handoff) -> Outcome | None:
        outcome, ends_at = self._begin(call, on_handoff)
        if outcome is not None and self.config.time_scale > 0:
            wait = ends_at - time.time()
            if wait > 0:
                await asyncio.sleep(wait)
        return outcome

    def place_call_now(self, call: Call, on_handoff: HandOff = no_handoff) -> Outcome | None:
        """`place_call` without waiting: right when `instant` (time_scale 0), early otherwise."""
        return self._begin(call, on_handoff)[0]

    def _begin(self, call: Call, on_handoff: HandOff) -> tuple[Outcome | None, float]:
        """Hand the call off and decide its outcome; (outcome, epoch seconds it ends)."""
        on_handoff()
        if self.config.inbound_per_minute > 0:
            self._seen(call.account_id, call.agent_id)
        return self._outcome(call, call.placed_at or now_ms())

    def _outcome(self, call: Call, started: int) -> tuple[Outcome | None, float]:
        """The scripted or drawn outcome of a call dialled at `started`; (outcome, ends at, s)."""
        plan = self.plan(call)
        scale = self.config.time_scale
        origin = call.created_at if plan.from_creation else started
        ended = origin + int(plan.end_after * scale * 1000)
        ends_at = ended / 1000
        if plan.status == NO_OUTCOME:
            return None, ends_at
        ended = max(ended, started)
        answered = None
        if plan.answer_after is not None:
            answered = min(ended, max(started, origin + int(plan.answer_after * scale * 1000)))
        outcome = Outcome(
            status=plan.status,
            started_at=started,
            answered_at=answered,
            ended_at=ended,
            duration_seconds=plan.talk_seconds,
            hangup_cause=_CAUSES.get(plan.status),
            opt_out=plan.opt_out,
            callback_at=None
            if plan.callback_after is None
            else ended + int(plan.callback_after * scale * 1000),
            # a machine answered: the call's message, if it has one, was left (issue 23)
            voicemail_left=plan.status == "voicemail" and bool(call.voicemail_message),
        )
        return outcome, ends_at

    async def lookup(self, call: Call, placed_at: int) -> Lookup:
        """What became of a call placed at `placed_at` (by any dialer): from its script or seed."""
        outcome, ends_at = self._outcome(call, placed_at)
        if ends_at * 1000 > now_ms():
            return Lookup(IN_PROGRESS, ends_at_ms=int(ends_at * 1000))
        if outcome is None:
            return Lookup(SILENT)
        return Lookup(ENDED, outcome)

    def _seen(self, account_id: str, agent_id: str) -> None:
        """Start the inbound stream of an account at its first call; note its agents."""
        agents = self._agents.get(account_id)
        if agents is None:
            agents = self._agents[account_id] = []
            task = asyncio.ensure_future(self._inbound_for(account_id, agents))
            self._inbound_tasks.add(task)
            task.add_done_callback(self._inbound_tasks.discard)
        if agent_id not in agents:
            agents.append(agent_id)

    def next_inbound(self, rng: random.Random, agents: list[str]) -> InboundDraw:
        """The next inbound call of an account's stream (simulated seconds, before time_scale)."""
        c = self.config
        return InboundDraw(
            gap_seconds=rng.expovariate(c.inbound_per_minute / 60.0),
            agent_id=agents[rng.randrange(len(agents))],
            length_seconds=rng.lognormvariate(math.log(c.inbound_median_seconds), c.inbound_sigma),
        )

    async def _inbound_for(self, account_id: str, agents: list[str]) -> None:
        """Poisson arrivals of an account's inbound calls, each a started then an ended event."""
        scale = self.config.time_scale
        rng = random.Random(f"{self.config.seed}:inbound:{account_id}")
        n = 0
        while True:
            draw = self.next_inbound(rng, agents)
            await asyncio.sleep(max(draw.gap_seconds * scale, 0.001))
            n += 1
            call_id, agent_id = f"inbound/{self._run}/{n}", draw.agent_id
            self._emit(Inbound(call_id, agent_id, "started", now_ms(), account_id))
            length = draw.length_seconds * scale
            task = asyncio.ensure_future(self._end_inbound(call_id, agent_id, account_id, length))
            self._inbound_tasks.add(task)
            task.add_done_callback(self._inbound_tasks.discard)

    async def _end_inbound(self, call_id: str, agent_id: str, account: str, after: float) -> None:
        await asyncio.sleep(after)
        self._emit(Inbound(call_id, agent_id, "ended", now_ms(), account))

    def _emit(self, event: Inbound) -> None:
        if self._inbound is not None:
            self._inbound(event)

    async def close(self) -> None:
        for task in list(self._inbound_tasks):
            task.cancel()
        self._inbound_tasks.clear()


_CAUSES = {
    "answered": "NORMAL_CLEARING",
    "no_answer": "NO_ANSWER",
    "busy": "USER_BUSY",
    "voicemail": "NORMAL_CLEARING",
    "failed": "NETWORK_OUT_OF_ORDER",
    "invalid_number": "UNALLOCATED_NUMBER",
}
