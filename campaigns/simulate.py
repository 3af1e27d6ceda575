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
    CallOutcome,
    CampaignStatus,
    Command,
    CommandKind,
    CommandRejected,
    ContactFinal,
    ContactRejected,
    ContactsAccepted,
    Event,
    InboundCall,
    NumberOptedOut,
    OutcomeRecorded,
    StatusChanged,
)
from campaigns.models import CALL_STATUSES, AccountSettings, CampaignDefinition
from campaigns.step.base import list_scope
from campaigns.store import MemoryStore, StaticDirectory, Store, account_scope
from campaigns.windows import US, iso

NO_OUTCOME = "none"
DIALER_STATUSES = tuple(s for s in CALL_STATUSES if s != "timeout") + (NO_OUTCOME,)
# (time, creation order, call id, status, opt_out, callback_at_us): outcomes to come
Pending = tuple[int, int, str, str, bool, int | None]


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
    callback_at_us: int | None = None  # the outcome asks for a callback then (SPEC 9)


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


def to_line(event: Event, with_campaign: bool = False) -> dict[str, Any] | None:
    """The JSON Lines form of an engine event (SPEC section 6); None for one it does not print.
    `with_campaign`: every line names its campaign (an account's run, SPEC 8)."""
    line = _line(event)
    if line is not None and with_campaign:
        line["campaign_id"] = event.campaign_id
    return line


def _line(event: Event) -> dict[str, Any] | None:
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
        if event.callback_at_us is not None:
            line["callback_at"] = iso(event.callback_at_us)
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
    """One campaign on its own (SPEC 6): the account step of its account, with no settings."""

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
    # What the last run left, for summary().
    last: CampaignRun | None = field(init=False, repr=False, default=None)
    driver: Driver | None = field(init=False, repr=False, default=None)

    @property
    def engine(self) -> Engine:
        assert self.driver is not None
        return self.driver.engine

    def _driver(self) -> Driver:
        run = self.last = CampaignRun(
            self.definition, self.contacts, self.rejections, self.commands, self.dialer
        )
        self.driver = Driver(
            account_id=self.definition.account_id,
            runs=[run],
            start_us=self.start_us,
            dnc=self.dnc,
            until_us=self.until_us,
            arrivals=self.arrivals,
            store_factory=self.store_factory,
        )
        return self.driver

    def run(self, summary: bool = False) -> Iterator[dict[str, Any]]:
        """The JSON Lines of SPEC section 6, in time order."""
        return self._driver().lines(summary, with_campaign=False)

    def events(self) -> Iterator[Event]:
        return self._driver().events()

    def summary(self) -> dict[str, Any]:
        assert self.driver is not None and self.last is not None
        return self.driver.summary(self.last)

    @property
    def started_us(self) -> int | None:
        """When the last run's campaign first ran (None: it never did)."""
        return self.last.started_us if self.last is not None else None

    @property
    def finished_us(self) -> int | None:
        return self.last.finished_us if self.last is not None else None


@dataclass
class CampaignRun:
    """One campaign of a simulated account: its inputs, and what its run left."""

    definition: CampaignDefinition
    contacts: Iterable[Contact]
    rejections: Sequence[Rejection]
    commands: Sequence[tuple[int, Command]] | None  # None: `start` at the start instant
    dialer: SimDialer
    calls: Counter[str] = field(default_factory=Counter)  # applied outcomes by status
    finished_us: int | None = None
    started_us: int | None = None  # first `running`
    accepted: int = 0  # contacts read so far
    final: bool = False
    log_before: dict[str, tuple[int, ...]] | None = None  # the account's log when it started
    opted_out_before: frozenset[str] = frozenset()  # the account's own list when it started

    @property
    def campaign_id(self) -> str:
        return self.definition.campaign_id

    def counted(self) -> Iterator[Contact]:
        self.accepted = 0
        for contact in self.contacts:
            self.accepted += 1
            yield contact

    def create_then(self, batch: list[Command]) -> Iterator[Command]:
        """The create, made once the step has read the contacts (it carries their count)."""
        yield Command(
            "create",
            CommandKind.create,
            definition=self.definition,
            expected_contacts=self.accepted,
        )
        yield from batch


@dataclass
class Driver:
    """The account's campaigns on a simulated clock (SPEC 6 and 8): the clock jumps from one
    instant to the next thing that happens (a command, an outcome, an inbound call starting
    or ending, or the engine's own next wake-up)."""

    account_id: str
    runs: list[CampaignRun]
    start_us: int
    dnc: frozenset[str] = frozenset()
    until_us: int | None = None
    settings: AccountSettings | None = None
    inbound: Sequence[tuple[int, InboundCall]] = ()  # (at, start or end), sorted
    arrivals: Sequence[tuple[Sequence[Contact], Sequence[Command]]] | None = None
    store_factory: Callable[[], Store] = MemoryStore
    engine: Engine = field(init=False, repr=False)
    now_us: int = field(init=False, repr=False, default=0)
    open_runs: int = field(init=False, repr=False, default=0)  # campaigns not final yet
    unstarted: int = field(init=False, repr=False, default=0)  # campaigns never running yet
    log_before: dict[str, tuple[int, ...]] | None = field(init=False, repr=False, default=None)
    opted_out_before: frozenset[str] = field(init=False, repr=False, default=frozenset())
    directory: StaticDirectory = field(init=False, repr=False)  # the engine's, with opt-outs

    def lines(self, summary: bool, with_campaign: bool) -> Iterator[dict[str, Any]]:
        """Every event as a line, rejected rows first; then the summaries, by campaign id."""
        events = self.events()
        first = next(events, None)  # the first step reads every contact (and rejection)
        for run in self.runs:
            for r in run.rejections:
                line: dict[str, Any] = {
                    "at": iso(self.start_us),
                    "type": "contact.rejected",
                    "row": r.row,
                    "column": r.column,
                    "reason": r.reason,
                }
                if with_campaign:
                    line["campaign_id"] = run.campaign_id
                yield line
        head = [first] if first is not None else []
        for ev in chain(head, events):
            printed = to_line(ev, with_campaign)
            if printed is not None:
                yield printed
        if summary:
            for run in sorted(self.runs, key=lambda r: r.campaign_id):
                yield self.summary(run, with_campaign)

    def events(self) -> Iterator[Event]:
        """Drive the engine from `start_us` until every campaign is final, `until_us`, or
        nothing is left."""
        self.directory = StaticDirectory(set(self.dnc))
        self.engine = Engine(self.store_factory(), self.directory)
        self.open_runs = self.unstarted = len(self.runs)
        by_id = {run.campaign_id: run for run in self.runs}
        scripted = [
            (at, i, n, run.campaign_id, cmd)
            for i, run in enumerate(self.runs)
            for n, (at, cmd) in enumerate(
                run.commands
                if run.commands is not None
                else [(self.start_us, Command("start", CommandKind.start))]
            )
        ]
        scripted.sort(key=lambda c: c[:3])  # by time, then file order per campaign
        for run in self.runs:
            run.calls, run.finished_us, run.started_us, run.final = Counter(), None, None, False
            run.accepted = len(run.contacts) if isinstance(run.contacts, Sized) else 0
        pending: list[Pending] = []
        inbound = self.inbound
        created = ci = ii = 0
        self.now_us = now_us = self.start_us
        first = True
        while True:
            due: dict[str, list[Command]] = (
                {run.campaign_id: [] for run in self.runs} if first else {}
            )
            while ci < len(scripted) and scripted[ci][0] <= now_us:
                due.setdefault(scripted[ci][3], []).append(scripted[ci][4])
                ci += 1
            outcomes: list[CallOutcome] = []
            while pending and pending[0][0] <= now_us:
                _, _, call_id, status, opt_out, callback = heapq.heappop(pending)
                outcomes.append(CallOutcome(call_id, status, opt_out, callback))
            calls: list[InboundCall] = []
            while ii < len(inbound) and inbound[ii][0] <= now_us:
                calls.append(inbound[ii][1])
                ii += 1
            if self.unstarted:
                self.log_before = self.account_log()  # for the preview of a campaign starting now
                self.opted_out_before = frozenset(
                    self.directory.by_account.get(self.account_id, ())
                )
            events = self.step(now_us, first, due, outcomes, calls)
            first = False
            for ev in events:
                created = self.track(ev, by_id, pending, created)
            yield from events
            self.now_us = now_us
            if self.open_runs == 0:
                break
            nexts = [t for t in (self.engine.next_wake_us(self.account_id),) if t is not None]
            if ci < len(scripted):
                nexts.append(scripted[ci][0])
            if pending:
                nexts.append(pending[0][0])
            if ii < len(inbound):
                nexts.append(inbound[ii][0])
            if not nexts or (self.until_us is not None and min(nexts) > self.until_us):
                break
            now_us = max(min(nexts), now_us + 1)

    def track(
        self, ev: Event, by_id: dict[str, CampaignRun], pending: list[Pending], created: int
    ) -> int:
        """Note what an event means for the run: a call's outcome to come, counts, the end."""
        if type(ev) is CallCreated:
            plan = by_id[ev.campaign_id].dialer.outcome_for(ev.contact_id, ev.attempt)
            if plan.status != NO_OUTCOME:
                ends = ev.at_us + max(plan.duration_us, 1000)  # SPEC 9: 0 s is 1 ms
                item = (ends, created, ev.call_id, plan.status, plan.opt_out, plan.callback_at_us)
                heapq.heappush(pending, item)
            return created + 1
        if type(ev) is OutcomeRecorded:
            if ev.applied and ev.campaign_id in by_id:
                by_id[ev.campaign_id].calls[ev.status] += 1
        elif type(ev) is StatusChanged and ev.campaign_id in by_id:
            run = by_id[ev.campaign_id]
            if ev.status in FINAL_CAMPAIGN and not run.final:
                run.finished_us, run.final = ev.at_us, True
                self.open_runs -= 1
            elif ev.status is CampaignStatus.running and run.started_us is None:
                run.started_us = ev.at_us
                run.log_before = self.log_before
                run.opted_out_before = self.opted_out_before
                self.unstarted -= 1
        return created

    def step(
        self,
        now_us: int,
        first: bool,
        due: dict[str, list[Command]],
        outcomes: list[CallOutcome],
        inbound: list[InboundCall],
    ) -> list[Event]:
        engine, account = self.engine, self.account_id
        if not first:
            return engine.step(account, now_us, commands=due, outcomes=outcomes, inbound=inbound)
        if self.arrivals is not None:  # tests: contacts and commands reach one campaign in parts
            (run,) = self.runs
            events = [
                e
                for cs, ks in self.arrivals
                for e in engine.step(
                    account,
                    now_us,
                    contacts={run.campaign_id: cs},
                    commands={run.campaign_id: ks},
                    settings=self.settings,
                )
            ]
            return events + engine.step(
                account, now_us, commands=due, outcomes=outcomes, inbound=inbound
            )
        return engine.step(
            account,
            now_us,
            contacts={run.campaign_id: run.counted() for run in self.runs},
            commands={
                run.campaign_id: run.create_then(due.get(run.campaign_id, [])) for run in self.runs
            },
            outcomes=outcomes,
            inbound=inbound,
            settings=self.settings,
        )

    def _stored_contacts(self, run: CampaignRun) -> Iterator[Contact]:
        """The contacts as the engine keeps them, in row order: a streamed list is read once."""
        store, campaign_id = self.engine.store, run.campaign_id
        camp = store.get_campaign(campaign_id)
        scope = list_scope(campaign_id, camp.list_gen if camp else 0)
        for seq in range(camp.arrived if camp else 0):
            state = store.get_contact(scope, seq)
            if state is not None:
                yield state.contact

    def account_log(self) -> dict[str, tuple[int, ...]] | None:
        """A copy of the account's call log across campaigns, as it stands (MemoryStore only;
        None for another store: the preview then reads the log as the run left it)."""
        store = self.engine.store
        if not isinstance(store, MemoryStore):
            return None
        scope = account_scope(self.account_id)
        return dict(store.recent.get(scope, {}))

    def calls_before(self, run: CampaignRun) -> Callable[[str], tuple[int, ...]]:
        """The account's calls before the campaign started (the launch preview's, SPEC 8)."""
        at_us = run.started_us
        assert at_us is not None
        log = run.log_before
        store, scope = self.engine.store, account_scope(self.account_id)

        def recent(key: str) -> tuple[int, ...]:
            times = log.get(key, ()) if log is not None else store.get_recent(scope, key)
            return tuple(t for t in times if t < at_us)

        return recent

    def summary(self, run: CampaignRun, with_campaign: bool = False) -> dict[str, Any]:
        """The forecast line: when the campaign finished, contacts by final status, calls by outcome."""
        camp = self.engine.store.get_campaign(run.campaign_id)
        calls = dict(sorted(run.calls.items()))
        if camp and camp.in_flight:
            calls["in_flight"] = camp.in_flight
        line = {
            "at": iso(run.finished_us if run.finished_us is not None else self.now_us),
            "type": "summary",
            "status": camp.status.value if camp and camp.status else None,
            "finished_at": iso(run.finished_us) if run.finished_us is not None else None,
            "contacts": {
                "accepted": run.accepted,
                "rejected": len(run.rejections),
                **(camp.counts if camp else {}),
            },
            "calls": calls,
            # SPEC 7 launch preview, at the instant the campaign first ran (None: it never did).
            "preview": (
                preview(
                    run.definition,
                    self._stored_contacts(run),
                    run.started_us,
                    # SPEC 7/8: the account's list as it was then, opt-outs of other campaigns too
                    StaticDirectory(
                        set(self.dnc), by_account={self.account_id: set(run.opted_out_before)}
                    ),
                    self.calls_before(run),
                )
                if run.started_us is not None
                else None
            ),
        }
        if with_campaign:
            line["campaign_id"] = run.campaign_id
        return line
