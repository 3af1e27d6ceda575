"""The engine: one deterministic step per account and instant, over a storage port.

`step(account_id, now_us, ...)` applies what happened to the account's campaigns at
`now_us` in SPEC 8's order: contacts, scheduled starts, commands (by campaign id), inbound
calls starting and ending, outcomes and timeouts (in the order their calls were created,
across campaigns), the end dates of SPEC 9, then the account round, which shares the
account's lines among its ready campaigns by priority. It never reads a clock: `now_us` is
given, and `next_wake_us` says when the account next needs a step if nothing else
happens. The live worker and `campaignflow simulate` both drive this class.

Each campaign's part of a step is a `campaigns.step.CampaignStep` (intake, commands,
outcomes, calls); this module holds what spans campaigns.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, NamedTuple

from campaigns.compliance import Gate
from campaigns.contacts import Contact
from campaigns.dialing import CallPlan
from campaigns.events import (
    CallOutcome,
    Command,
    CommandKind,
    ContactBatch,
    Event,
    InboundCall,
    InputRejected,
)
from campaigns.models import AccountSettings, CampaignDefinition
from campaigns.state import AccountState, CampaignState
from campaigns.step.base import (
    CONTACT_BATCH,
    END_OF_TIME_US,
    MAX_CONTACTS,
    batch_key,
    call_id,
    campaign_of_call,
    parse_call_id,
)
from campaigns.step.calls import NO_LINE, READY, CampaignStep
from campaigns.step.outcomes import CREATION_ORDER, Resolution
from campaigns.store import Directory, Store

__all__ = [
    "CONTACT_BATCH",
    "END_OF_TIME_US",
    "MAX_CONTACTS",
    "Engine",
    "batch_key",
    "call_id",
    "campaign_of_call",
    "parse_call_id",
]

_NONE: Mapping[str, Any] = MappingProxyType({})


class Rank(NamedTuple):
    """A campaign's place in the account round: higher priority, fewer in flight, smaller id."""

    neg_priority: int
    in_flight: int
    campaign_id: str


class WakeIndex:
    """When each campaign of an account next needs a step: a heap with lazy deletion.

    Derived from the campaign records (built from them on first use), so a step looks only
    at the campaigns that are due, not at every campaign of the account."""

    def __init__(self, wakes: Iterable[tuple[str, int | None]]) -> None:
        self.current = {cid: w for cid, w in wakes if w is not None}
        self.heap = [(w, cid) for cid, w in self.current.items()]
        heapq.heapify(self.heap)

    def set(self, campaign_id: str, wake_us: int | None) -> None:
        if wake_us is None:
            self.current.pop(campaign_id, None)
        elif self.current.get(campaign_id) != wake_us:
            self.current[campaign_id] = wake_us
            heapq.heappush(self.heap, (wake_us, campaign_id))

    def pop_due(self, now_us: int) -> list[str]:
        due: list[str] = []
        heap = self.heap
        while heap and heap[0][0] <= now_us:
            wake_us, cid = heapq.heappop(heap)
            if self.current.get(cid) == wake_us:
                del self.current[cid]
                due.append(cid)
        return due

    def first(self) -> int | None:
        heap = self.heap
        while heap and self.current.get(heap[0][1]) != heap[0][0]:
            heapq.heappop(heap)
        return heap[0][0] if heap else None


class Engine:
    def __init__(self, store: Store, directory: Directory) -> None:
        self.store = store
        self.directory = directory
        self._plans: dict[str, CallPlan] = {}
        self._gates: dict[str, Gate] = {}
        self._wakes: dict[str, WakeIndex] = {}
        # Calls made so far: the call logs section 7 counts change only with a call made.
        self.calls_made = 0

    def plan(self, definition: CampaignDefinition) -> CallPlan:
        """The campaign's call plan, kept while the store hands out the same definition."""
        found = self._plans.get(definition.campaign_id)
        if found is None or found.definition is not definition:
            found = self._plans[definition.campaign_id] = CallPlan(definition)
        return found

    def gate(self, definition: CampaignDefinition) -> Gate:
        """The campaign's section 7 rules, kept like the call plan."""
        found = self._gates.get(definition.campaign_id)
        if found is None or found.definition is not definition:
            found = self._gates[definition.campaign_id] = Gate(definition)
        return found

    def wakes(self, account: AccountState) -> WakeIndex:
        found = self._wakes.get(account.account_id)
        if found is None:
            get = self.store.get_campaign
            found = self._wakes[account.account_id] = WakeIndex(
                (cid, camp.next_wake_us if (camp := get(cid)) else None)
                for cid in account.campaigns
            )
        return found

    def forget(self) -> None:
        """The store's records changed under the engine (partitions moved): drop what it derived."""
        self._wakes.clear()

    # ---- the step ------------------------------------------------------------

    def step(
        self,
        account_id: str,
        now_us: int,
        *,
        contacts: Mapping[str, Iterable[Contact]] = _NONE,
        batches: Mapping[str, Iterable[ContactBatch]] = _NONE,
        commands: Mapping[str, Iterable[Command]] = _NONE,
        outcomes: Sequence[CallOutcome] = (),
        inbound: Sequence[InboundCall] = (),
        settings: AccountSettings | None = None,
    ) -> list[Event]:
        """Everything that happened to the account at `now_us`; inputs keyed by campaign id
        (outcomes name theirs in the call id). Returns the events to publish."""
        out: list[Event] = []
        account = self.store.get_account(account_id) or AccountState(account_id)
        if settings is not None:
            account.lines = settings.lines
            account.inbound_max_us = settings.inbound_max_us
        run = _AccountStep(self, account, now_us, out)
        run.intake(contacts, batches)
        run.commands(commands)
        run.inbound(inbound)
        run.resolve(outcomes)
        run.round()
        run.finish()
        return out

    def step_campaign(
        self,
        campaign_id: str,
        now_us: int,
        *,
        contacts: Iterable[Contact] = (),
        batches: Iterable[ContactBatch] = (),
        commands: Iterable[Command] = (),
        outcomes: Sequence[CallOutcome] = (),
    ) -> list[Event]:
        """One campaign's inputs, as the step of its account (for callers that feed one
        campaign: tests and tools). Its account: its definition's, else the create's, else
        the batches'."""
        command_list, batch_list = list(commands), list(batches)
        account = self.account_of(campaign_id, command_list, batch_list)
        return self.step(
            account,
            now_us,
            contacts={campaign_id: contacts},
            batches={campaign_id: batch_list},
            commands={campaign_id: command_list},
            outcomes=outcomes,
        )

    def account_of(
        self, campaign_id: str, commands: list[Command], batches: list[ContactBatch]
    ) -> str:
        found = self.store.get_definition(campaign_id)
        if found is not None:
            return found.account_id
        for cmd in commands:
            if cmd.kind is CommandKind.create and cmd.definition is not None:
                return cmd.definition.account_id
        return next((b.account_id for b in batches if b.account_id), "")

    def next_wake_us(self, account_id: str) -> int | None:
        """When the account next needs a step if no input comes (None: never)."""
        account = self.store.get_account(account_id)
        return account.next_wake_us if account else None


class _AccountStep:
    """One instant of one account: its campaigns' steps and the account round."""

    def __init__(self, engine: Engine, account: AccountState, now_us: int, out: list[Event]):
        self.engine = engine
        self.store = engine.store
        self.account = account
        self.now_us = now_us
        self.out = out
        self.steps: dict[str, CampaignStep] = {}
        self.looked: set[str] = set()  # campaigns that looked for a call in this round
        self.wakes = engine.wakes(account)
        for campaign_id in self.wakes.pop_due(now_us):
            self.load(campaign_id)

    def load(self, campaign_id: str) -> CampaignStep:
        found = self.steps.get(campaign_id)
        if found is None:
            camp = self.store.get_campaign(campaign_id) or CampaignState(campaign_id)
            definition = self.store.get_definition(campaign_id)
            found = CampaignStep(self.engine, self.account, camp, definition, self.now_us, self.out)
            self.steps[campaign_id] = found
        return found

    def foreign(self, step: CampaignStep) -> bool:
        """A campaign of another account: its inputs here are refused, it takes no part."""
        plan = step.plan  # the definition's account, read from its plan's slot
        return plan is not None and plan.account_id != self.account.account_id

    def intake(
        self,
        contacts: Mapping[str, Iterable[Contact]],
        batches: Mapping[str, Iterable[ContactBatch]],
    ) -> None:
        for campaign_id in sorted({*contacts, *batches}):
            step = self.load(campaign_id)
            if self.foreign(step):
                for batch in batches.get(campaign_id, ()):
                    step.refuse_batch(batch.batch_id, step.foreign(self.account.account_id))
                continue
            for contact in contacts.get(campaign_id, ()):
                step.add_contact(contact)
            for batch in batches.get(campaign_id, ()):
                step.add_batch(batch)

    def commands(self, commands: Mapping[str, Iterable[Command]]) -> None:
        """Scheduled starts that have come, then commands by campaign id (SPEC 8)."""
        for campaign_id in commands:
            self.load(campaign_id)
        for campaign_id in sorted(self.steps):
            self.steps[campaign_id].scheduled_start()
        for campaign_id in sorted(commands):
            step = self.steps[campaign_id]
            for cmd in commands[campaign_id]:
                if self.foreign(step):
                    step.reject(cmd, step.foreign(self.account.account_id), dead_letter=True)
                else:
                    step.command(cmd)

    def inbound(self, calls: Sequence[InboundCall]) -> None:
        """Inbound calls hold a line from their start to their end, or their cut-off (SPEC 8);
        an end with no start changes nothing."""
        account, now_us = self.account, self.now_us
        if account.inbound:
            account.inbound = {k: cut for k, cut in account.inbound.items() if cut > now_us}
        for call in calls:
            if call.ended:
                account.inbound.pop(call.call_id, None)
            elif call.call_id not in account.inbound:
                cut_us = call.at_us + account.inbound_max_us
                if cut_us > now_us:  # else it started so long ago that it is already over
                    account.inbound[call.call_id] = cut_us

    def resolve(self, outcomes: Sequence[CallOutcome]) -> None:
        """Outcomes and timeouts of every campaign, in the order their calls were created;
        then parked contacts that are due, and the end dates (SPEC 9)."""
        by_campaign: dict[str, list[tuple[int, CallOutcome]]] = {}
        for i, o in enumerate(outcomes):
            campaign_id = campaign_of_call(o.call_id)
            mine = by_campaign.get(campaign_id)
            if mine is None:  # not setdefault: that makes an empty list on every call
                mine = by_campaign[campaign_id] = []
            mine.append((i, o))
        for campaign_id in by_campaign:
            self.load(campaign_id)
        work: list[Resolution] = []
        for campaign_id in sorted(self.steps):
            step = self.steps[campaign_id]
            step.expire_recent()
            mine = by_campaign.get(campaign_id, [])
            if self.foreign(step):
                for _, o in mine:
                    self.out.append(
                        InputRejected(
                            self.now_us,
                            campaign_id,
                            f"outcome {o.call_id}",
                            step.foreign(self.account.account_id),
                            call_id=o.call_id,
                        )
                    )
                continue
            work.extend(step.collect(mine))
        work.sort(key=CREATION_ORDER)
        for r in work:
            r.step.resolve(r)
        if any(step.listed_now for step in self.steps.values()):
            # A number joined the account's list: every running campaign looks at its
            # parked contacts again (an alternate left out may make one callable now).
            for campaign_id in self.account.campaigns:
                self.load(campaign_id).listed_now = True
        for step in self.steps.values():
            if not self.foreign(step):
                step.wake_parked()
                step.expire_at_end()

    def round(self) -> None:
        """SPEC 8's account round: the ready campaign of highest priority, then fewest calls
        in flight, then smallest id, creates its next call, until none is ready.

        The campaigns stepped now look for their next call once, in campaign id order (their
        suppressions happen then); after that only the campaign that called looks again, and
        the others' next calls wait in a heap by rank. Campaigns left waiting for a line in
        earlier rounds wait in the account's own heap by rank and are looked at only when a
        line is free and they could be the next to call, so a call costs O(log n) in the
        account's campaigns, not a scan of them."""
        account = self.account
        lines = account.lines
        busy = account.busy()
        if account.unlooked and (lines is None or busy < lines):
            # Left waiting before they ever looked: they look now, in campaign id order
            # with the others, if a line is theirs (their suppressions happen now).
            for campaign_id in sorted(account.unlooked):
                if campaign_id not in self.steps:
                    self.load(campaign_id).wake_parked()
            account.unlooked = {}
        blocked: dict[str, Rank] = {}
        heap: list[Rank] = []
        for campaign_id in sorted(self.steps):
            step = self.steps[campaign_id]
            if not self.foreign(step) and self.consider(step, busy, lines, blocked):
                heap.append(self.rank(step))
        heapq.heapify(heap)
        while True:
            waiting = self.first_waiting()
            free = lines is None or busy < lines
            if waiting is not None and free and (not heap or waiting < heap[0]):
                heapq.heappop(account.blocked)
                del account.waiting[waiting.campaign_id]
                step = self.load(waiting.campaign_id)
                step.wake_parked()
                if self.consider(step, busy, lines, blocked):
                    heapq.heappush(heap, self.rank(step))
                continue
            if not heap:
                break
            step = self.steps[heapq.heappop(heap).campaign_id]
            state = step.readiness(busy, lines)
            if state == NO_LINE:
                blocked[step.campaign_id] = self.rank(step)
                continue
            if state != READY or step.still_callable() is None:
                continue
            busy = self.call_while_first(step, busy, lines, blocked, heap)
        for step in self.steps.values():
            step.put_back()
        self.keep_waiting(blocked)

    def call_while_first(
        self,
        step: CampaignStep,
        busy: int,
        lines: int | None,
        blocked: dict[str, Rank],
        heap: list[Rank],
    ) -> int:
        """The campaign creates its call, and goes on while it stays the best-ranked ready
        campaign; returns `busy`. The same calls as going through the heap each time: until
        its next call no other call is made, so its readiness and the call it just found
        (checked against the same call logs) stand, and popping it would only check them again."""
        while True:
            step.make_call()
            busy += 1
            if not self.consider(step, busy, lines, blocked):
                return busy
            if not heap and not self.account.blocked:
                continue  # no campaign in the heap, none waiting for a line: it stays first
            rank = self.rank(step)
            if heap and heap[0] < rank:
                break
            if lines is None or busy < lines:
                waiting = self.first_waiting()
                if waiting is not None and waiting < rank:
                    break
        heapq.heappush(heap, rank)
        return busy

    def first_waiting(self) -> Rank | None:
        """The best-ranked campaign left waiting for a line in an earlier round (stale
        entries, of campaigns stepped since, are dropped on the way)."""
        account = self.account
        heap, current = account.blocked, account.waiting
        while heap:
            p, n, c = heap[0]
            campaign_id = str(c)
            if campaign_id not in self.steps and current.get(campaign_id) == heap[0]:
                return Rank(int(p), int(n), campaign_id)
            heapq.heappop(heap)
        return None

    def may_change(self, campaign_id: str) -> bool:
        """Whether what the campaign found may change by the clock or by others' calls alone
        (contact-local time, presets, limits): then it looks again at every round with a
        line for it, as SPEC 8 has every campaign look; otherwise what it found stands
        until it is stepped for its own reasons."""
        definition = self.steps[campaign_id].definition
        return definition is not None and self.engine.gate(definition).active

    def keep_waiting(self, blocked: dict[str, Rank]) -> None:
        """The account's heap of campaigns waiting for a line, with this step's campaigns'
        entries made current (an entry not current is stale and skipped)."""
        account = self.account
        for campaign_id in self.steps:
            account.waiting.pop(campaign_id, None)
            account.unlooked.pop(campaign_id, None)
        for campaign_id, rank in blocked.items():
            if campaign_id not in self.looked or self.may_change(campaign_id):
                account.unlooked[campaign_id] = True
            entry: list[int | str] = list(rank)
            account.waiting[campaign_id] = entry
            heapq.heappush(account.blocked, entry)
        if len(account.blocked) > 2 * len(account.waiting) + 64:
            account.blocked = sorted(account.waiting.values())

    def consider(
        self, step: CampaignStep, busy: int, lines: int | None, blocked: dict[str, Rank]
    ) -> bool:
        """Whether the campaign is ready (and has found its next call)."""
        state = step.readiness(busy, lines)
        if state == NO_LINE:
            blocked[step.campaign_id] = self.rank(step)
            return False
        if state != READY:
            return False
        self.looked.add(step.campaign_id)
        return step.find_next() is not None

    @staticmethod
    def rank(step: CampaignStep) -> Rank:
        assert step.plan is not None
        return Rank(-step.plan.priority, step.camp.in_flight, step.campaign_id)

    def finish(self) -> None:
        """Write back what changed; note when each campaign, and the account, next need a step."""
        for campaign_id, step in self.steps.items():
            camp = step.camp
            step.check_completed()
            camp.next_wake_us = step.next_wake_us()
            step.flush()
            if camp.stale and not step.sweep_later:
                step.sweep()
            if camp.status is not None or camp.arrived:
                self.store.put_campaign(camp)
            if not self.foreign(step) and camp.status is not None:
                self.wakes.set(campaign_id, camp.next_wake_us)
        account = self.account
        wake = self.wakes.first()
        if account.waiting and account.inbound:
            cut = min(account.inbound.values())
            wake = cut if wake is None else min(wake, cut)
        account.next_wake_us = wake
        if account.campaigns or account.inbound or account.lines is not None:
            self.store.put_account(account)
