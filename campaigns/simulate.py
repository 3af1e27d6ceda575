"""`campaignflow simulate`: the engine on a simulated clock with a simulated dialer.

The same `Engine` as the live worker, over a `MemoryStore`. The clock jumps from one
instant to the next thing that happens: a command, a dialer outcome, or the engine's
own next wake-up (retry due, window opening, call deadline, scheduled start).
"""

from __future__ import annotations

import heapq
import random
from bisect import bisect
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Sized
from dataclasses import dataclass, field
from itertools import accumulate, chain
from typing import Any

from campaigns.compliance import preview
from campaigns.contacts import Contact, Rejection
from campaigns.engine import Engine
from campaigns.events import (
    FINAL_CAMPAIGN,
    CallCreated,
    CampaignStatus,
    Command,
    CommandKind,
    CommandRejected,
    ContactFinal,
    ContactRejected,
    ContactsAccepted,
    Event,
    NumberOptedOut,
    Outcome,
    OutcomeRecorded,
    StatusChanged,
)
from campaigns.models import CALL_STATUSES, CampaignDefinition
from campaigns.store import MemoryStore, StaticDirectory, Store
from campaigns.windows import US, iso

NO_OUTCOME = "none"
DIALER_STATUSES = tuple(s for s in CALL_STATUSES if s != "timeout") + (NO_OUTCOME,)


def parse_model(spec: str) -> list[tuple[str, float]]:
    """'answered=0.3,no_answer=0.5' -> outcome shares (`simulate --model`, the API's forecast);
    ValueError naming the bad part."""
    out: list[tuple[str, float]] = []
    for part in spec.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep or name not in DIALER_STATUSES:
            raise ValueError(
                f"{part!r} must be status=share with a status among {', '.join(DIALER_STATUSES)}"
            )
        try:
            share = float(value)
        except ValueError:
            raise ValueError(f"share of {name} is not a number: {value!r}") from None
        if not share >= 0 or share == float("inf"):
            raise ValueError(f"share of {name} must be a finite number >= 0")
        out.append((name, share))
    if sum(share for _, share in out) <= 0:
        raise ValueError("the shares add up to 0")
    return out


@dataclass(frozen=True)
class ScriptedCall:
    status: str  # a call status, or "none": no outcome ever arrives
    duration_us: int
    opt_out: bool = False  # the outcome carries opt_out: true (SPEC section 7)


@dataclass
class SimDialer:
    """Decides how each created call ends: a script per (contact, attempt), else a model or defaults."""

    script: Mapping[tuple[str, int], ScriptedCall] = field(default_factory=dict)
    default: ScriptedCall = ScriptedCall("no_answer", 30 * US)
    model: Sequence[tuple[str, float]] = ()
    seed: int = 0

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._drawn = [ScriptedCall(s, self.default.duration_us) for s, _ in self.model]
        self._cumulative = list(accumulate(w for _, w in self.model))

    def outcome(self, call: CallCreated) -> ScriptedCall:
        return self.outcome_for(call.contact_id, call.attempt)

    def outcome_for(self, contact_id: str, attempt: int) -> ScriptedCall:
        """Draws from the model in call-creation order, so a seed gives one forecast."""
        if self.script:
            scripted = self.script.get((contact_id, attempt))
            if scripted is not None:
                return scripted
        if self._drawn:
            pick = bisect(self._cumulative, self._rng.random() * self._cumulative[-1])
            return self._drawn[min(pick, len(self._drawn) - 1)]
        return self.default


def to_line(event: Event) -> dict[str, Any] | None:
    """The JSON Lines form of an engine event (SPEC section 6); None for one it does not print."""
    at_us = iso(event.at_us)
    if isinstance(event, StatusChanged):
        return {
            "at": at_us,
            "type": "campaign.status",
            "campaign_id": event.campaign_id,
            "status": event.status.value,
        }
    if isinstance(event, CallCreated):
        return {
            "at": at_us,
            "type": "call.create",
            "call_id": event.call_id,
            "contact_id": event.contact_id,
            "attempt": event.attempt,
            "to": event.to,
            "from": event.from_,
            "variables": event.variables,
        }
    if isinstance(event, OutcomeRecorded):
        line: dict[str, Any] = {
            "at": at_us,
            "type": "call.outcome",
            "call_id": event.call_id,
            "status": event.status,
        }
        if event.opt_out:
            line["opt_out"] = True
        return line
    if isinstance(event, (NumberOptedOut, ContactsAccepted)):
        return None  # for the live readers only; the events of section 6 are unchanged
    if isinstance(event, ContactFinal):
        return {
            "at": at_us,
            "type": "contact.final",
            "contact_id": event.contact_id,
            "status": event.status.value,
            "attempts": event.attempts,
        }
    if isinstance(event, CommandRejected):
        return {
            "at": at_us,
            "type": "command.rejected",
            "command": event.command,
            "reason": event.reason,
        }
    if isinstance(event, ContactRejected):
        return {
            "at": at_us,
            "type": "contact.rejected",
            "row": event.row,
            "column": None,
            "reason": event.reason,
        }
    return {"at": at_us, "type": "input.rejected", "what": event.what, "reason": event.reason}


@dataclass
class Simulation:
    definition: CampaignDefinition
    # A list, or a stream read once (the CLI's, straight from the file): contacts reach the
    # engine as they are read and `rejections` fills meanwhile; both are complete once the
    # first step has run, which is before the first line is printed.
    contacts: Iterable[Contact]
    rejections: Sequence[Rejection]
    start_us: int
    commands: Sequence[tuple[int, Command]] | None = None  # None: a start command at `start_us`
    dialer: SimDialer = field(default_factory=SimDialer)
    dnc: frozenset[str] = frozenset()
    until_us: int | None = None
    # How contacts and the first commands reach the engine at `start_us`, one step each;
    # None: all contacts, then create and the commands of `start_us`, in one step.
    arrivals: Sequence[tuple[Sequence[Contact], Sequence[Command]]] | None = None
    # Where the engine keeps its records; tests pass stores that copy like the live one.
    store_factory: Callable[[], Store] = MemoryStore
    # What the last run left, for summary(): its engine, applied outcomes, end and clock.
    engine: Engine = field(init=False, repr=False)
    calls: Counter[str] = field(init=False, repr=False, default_factory=Counter)
    finished_us: int | None = field(init=False, repr=False, default=None)
    started_us: int | None = field(init=False, repr=False, default=None)  # first `running`
    now_us: int = field(init=False, repr=False, default=0)
    accepted: int = field(init=False, repr=False, default=0)  # contacts read so far

    def _counted(self) -> Iterator[Contact]:
        self.accepted = 0
        for contact in self.contacts:
            self.accepted += 1
            yield contact

    def run(self, summary: bool = False) -> Iterator[dict[str, Any]]:
        """The JSON Lines of SPEC section 6, in time order."""
        events = self.events()
        first = next(events, None)  # the first step reads every contact (and rejection)
        for r in self.rejections:
            yield {
                "at": iso(self.start_us),
                "type": "contact.rejected",
                "row": r.row,
                "column": r.column,
                "reason": r.reason,
            }
        head = [first] if first is not None else []
        for ev in chain(head, events):
            line = to_line(ev)
            if line is not None:
                yield line
        if summary:
            yield self.summary()

    def events(self) -> Iterator[Event]:
        """Drive the engine from `start_us` until the campaign is final, `until_us`, or nothing is left."""
        campaign_id = self.definition.campaign_id
        engine = self.engine = Engine(self.store_factory(), StaticDirectory(set(self.dnc)))
        self.accepted = len(self.contacts) if isinstance(self.contacts, Sized) else 0

        def create_then(batch: list[Command]) -> Iterator[Command]:
            """The create, made once the step has read the contacts (it carries their count)."""
            yield Command(
                "create",
                CommandKind.create,
                definition=self.definition,
                expected_contacts=self.accepted,
            )
            yield from batch

        scripted = (
            self.commands
            if self.commands is not None
            else [(self.start_us, Command("start", CommandKind.start))]
        )
        commands = sorted(scripted, key=lambda c: c[0])  # stable: file order within an instant
        # (time, creation order, call id, status, opt_out)
        pending: list[tuple[int, int, str, str, bool]] = []
        self.calls = Counter()
        self.finished_us = None
        self.started_us = None
        created = ci = 0
        now_us = self.start_us
        outcome_for, push = self.dialer.outcome_for, heapq.heappush
        first = True
        while True:
            batch: list[Command] = []
            while ci < len(commands) and commands[ci][0] <= now_us:
                batch.append(commands[ci][1])
                ci += 1
            outcomes: list[Outcome] = []
            while pending and pending[0][0] <= now_us:
                _, _, call_id, status, opt_out = heapq.heappop(pending)
                outcomes.append(Outcome(call_id, status, opt_out))
            if first and self.arrivals is not None:
                events = [
                    e
                    for cs, ks in self.arrivals
                    for e in engine.step(campaign_id, now_us, contacts=cs, commands=ks)
                ]
                events += engine.step(campaign_id, now_us, commands=batch, outcomes=outcomes)
            elif first:
                events = engine.step(
                    campaign_id,
                    now_us,
                    contacts=self._counted(),
                    commands=create_then(batch),
                    outcomes=outcomes,
                )
            else:
                events = engine.step(campaign_id, now_us, commands=batch, outcomes=outcomes)
            first = False
            for ev in events:
                if type(ev) is CallCreated:
                    plan = outcome_for(ev.contact_id, ev.attempt)
                    if plan.status != NO_OUTCOME:
                        ends = ev.at_us + plan.duration_us
                        push(pending, (ends, created, ev.call_id, plan.status, plan.opt_out))
                    created += 1
                elif type(ev) is OutcomeRecorded:
                    if ev.applied:
                        self.calls[ev.status] += 1
                elif type(ev) is StatusChanged:
                    if ev.status in FINAL_CAMPAIGN:
                        self.finished_us = ev.at_us
                    elif ev.status is CampaignStatus.running and self.started_us is None:
                        self.started_us = ev.at_us
            yield from events
            self.now_us = now_us
            if self.finished_us is not None:
                break
            wake_us = engine.next_wake_us(campaign_id)
            nexts = [wake_us] if wake_us is not None else []
            if ci < len(commands):
                nexts.append(commands[ci][0])
            if pending:
                nexts.append(pending[0][0])
            if not nexts or (self.until_us is not None and min(nexts) > self.until_us):
                break
            now_us = min(nexts)

    def _stored_contacts(self) -> Iterator[Contact]:
        """The contacts as the engine keeps them, in row order: a streamed list is read once."""
        store, campaign_id = self.engine.store, self.definition.campaign_id
        camp = store.get_campaign(campaign_id)
        for seq in range(camp.arrived if camp else 0):
            state = store.get_contact(campaign_id, seq)
            if state is not None:
                yield state.contact

    def summary(self) -> dict[str, Any]:
        """The forecast line: when the campaign finished, contacts by final status, calls by outcome."""
        camp = self.engine.store.get_campaign(self.definition.campaign_id)
        calls = dict(sorted(self.calls.items()))
        if camp and camp.in_flight:
            calls["in_flight"] = camp.in_flight
        return {
            "at": iso(self.finished_us if self.finished_us is not None else self.now_us),
            "type": "summary",
            "status": camp.status.value if camp and camp.status else None,
            "finished_at": iso(self.finished_us) if self.finished_us is not None else None,
            "contacts": {
                "accepted": self.accepted,
                "rejected": len(self.rejections),
                **(camp.counts if camp else {}),
            },
            "calls": calls,
            # SPEC 7 launch preview, at the instant the campaign first ran (None: it never did).
            "preview": (
                preview(
                    self.definition,
                    self._stored_contacts(),
                    self.started_us,
                    StaticDirectory(set(self.dnc)),
                )
                if self.started_us is not None
                else None
            ),
        }
