"""Candidates and calls: which contact a campaign calls next in the account round (SPEC 5,
7, 8 and 9), the limits' call logs, parked contacts, and when the campaign next needs a step."""

from __future__ import annotations

from bisect import insort
from dataclasses import dataclass

from campaigns import queues
from campaigns.compliance import (
    CONTACT_KEY,
    Gate,
    Hold,
    Keep,
    account_keep,
    forget,
    remember,
)
from campaigns.dialing import CallPlan, Dial, call_variables, choose_destination
from campaigns.events import FINAL_CAMPAIGN, CallCreated, CampaignStatus, ContactStatus
from campaigns.state import ContactState, Phase
from campaigns.step.base import END_OF_TIME_US, HELD_BITS, call_id
from campaigns.step.outcomes import Outcomes
from campaigns.store import QueueEntry

CALLBACK, RETRY, RETURNED, FRESH = "callback", "retry", "returned", "fresh"  # NextCall.source
# Enum members the per-call paths compare with, bound once: in CPython 3.11 reading an
# attribute of an Enum class goes through `EnumType.__getattr__`, about 10x a global.
RUNNING, SCHEDULED = CampaignStatus.running, CampaignStatus.scheduled
RETURNED_QUEUE = queues.QueueName.RETURNED
READY, NOT_READY, NO_LINE = 0, 1, 2  # CampaignStep.readiness


@dataclass(slots=True)
class NextCall:
    """The call a campaign would create next in the round, and where its contact came from;
    with the campaign's plan and rules it was found under (the definition's, for this step)."""

    contact: ContactState
    attempt: int
    dial: Dial
    from_: str
    source: str
    plan: CallPlan
    gate: Gate


class CampaignStep(Outcomes):
    pending: NextCall | None = None  # found by find_next, not made yet
    # When `pending` passed section 7: (instant, the engine's calls_made then).
    pending_checked: tuple[int, int] | None = None
    callable_now: bool | None = None  # SPEC 5/7/9: the campaign's own hours allow a call now
    # ---- parked contacts -----------------------------------------------------------

    def returned(self) -> list[QueueEntry]:
        """Never-called contacts given back, next last."""
        return self.store.get_queue(self.campaign_id, RETURNED_QUEUE)

    def wake_parked(self) -> None:
        # A number listed this instant may leave an alternate out of a parked contact's
        # destinations, so its next call may be callable now: every parked contact is
        # looked at again, not only those whose wake is due.
        until_us = END_OF_TIME_US if self.listed_now else self.now_us
        woken = self.parked.pop_all_due(until_us)
        if not woken:
            return
        returned = self.returned()
        back: list[QueueEntry] = []
        for _, seq in woken:
            contact = self.contact(seq)
            if contact is None or contact.phase != Phase.parked or contact.is_final:
                continue
            if contact.callback_due_us is not None:
                contact.phase = Phase.callback
                self.callbacks.push(queues.CallbackEntry(contact.callback_due_us, seq))
            elif contact.retry_due_us is not None:
                contact.phase = Phase.retry
                self.retries.push(queues.RetryEntry(contact.retry_due_us, seq))
            else:
                contact.phase = Phase.waiting
                back.append((-seq,))
            self.store.put_contact(self.scope, contact)
        if len(back) < 32:
            for entry in back:
                insort(returned, entry)
        else:  # a wave (a window opening for many at once): one sort of two sorted runs
            returned.extend(back)
            returned.sort()
        self.store.put_queue(self.campaign_id, RETURNED_QUEUE, returned)

    # ---- the next call (SPEC 5 order, with SPEC 9's callbacks first) ------------------

    def next_candidate(self) -> tuple[ContactState, str] | None:
        """Callbacks due by (due, row), retries due by (due, row), then never-called contacts
        by row; with the queue it came from (`put_back` returns an unused one there)."""
        while (entry := self.callbacks.pop_due(self.now_us)) is not None:
            contact = self.contact(entry[1])
            if contact is not None and contact.phase == Phase.callback and not contact.is_final:
                return contact, CALLBACK
        while (entry := self.retries.pop_due(self.now_us)) is not None:
            contact = self.contact(entry[1])  # RetryEntry.contact_seq
            if contact is not None and contact.phase == Phase.retry and not contact.is_final:
                return contact, RETRY
        returned = self.returned()
        while returned:
            seq = -returned.pop()[0]
            self.store.put_queue(self.campaign_id, RETURNED_QUEUE, returned)
            contact = self.contact(seq)
            if contact is not None and not contact.is_final:
                return contact, RETURNED
        while self.camp.cursor < self.camp.arrived:
            seq = self.camp.cursor
            self.camp.cursor += 1
            contact = self.contact(seq)
            if contact is not None and not contact.is_final:
                return contact, FRESH
        return None

    def readiness(self, busy: int, lines: int | None) -> int:
        """SPEC 8's tests before a campaign looks at its contacts: READY, NOT_READY or NO_LINE."""
        c, plan = self.camp, self.plan
        if c.status is not RUNNING or plan is None:
            return NOT_READY
        if self.callable_now is None:  # the instant is fixed for the whole step
            self.callable_now = not self.past_end() and self.open_now()
        if not self.callable_now:
            return NOT_READY
        if c.in_flight >= plan.outbound_limit:
            return NOT_READY
        if lines is not None and busy + plan.inbound_free_slots >= lines:
            return NO_LINE
        return READY

    def find_next(self) -> NextCall | None:
        """The call this campaign would create now (kept until made or put back): contacts
        on the do-not-call list are suppressed and those a rule holds are parked on the way."""
        if self.pending is not None:
            return self.pending
        plan = self.plan
        assert self.definition is not None and plan is not None
        gate = self.engine.gate(self.definition)
        is_blocked, account_id = self.directory.is_blocked, plan.account_id
        while (found := self.next_candidate()) is not None:
            contact, source = found
            if is_blocked(account_id, contact.contact.phone_number):
                self.finalize(contact, ContactStatus.suppressed)
                continue
            attempt = contact.attempts + 1
            dial, from_ = self.destination(contact, attempt, source, plan)
            if gate.active:
                hold = gate.check(
                    contact.contact, dial.to, self.now_us, self.recent, self.account_recent
                )
                if hold is not None:
                    self.hold_back(contact, hold)
                    continue
            self.pending = NextCall(contact, attempt, dial, from_, source, plan, gate)
            self.pending_checked = (self.now_us, self.engine.calls_made)
            return self.pending
        return None

    def destination(
        self, contact: ContactState, attempt: int, source: str, plan: CallPlan
    ) -> tuple[Dial, str]:
        """SPEC 3's number and caller ID; a callback's are those of the call that asked for it,
        unless that number is an alternate now on the do-not-call list (SPEC 9)."""
        assert self.definition is not None
        if source == CALLBACK and contact.callback_of:
            asked = contact.callback_of
            position = contact.dialled[asked - 1] if asked <= len(contact.dialled) else 0
            alternate = next(
                (a for a in contact.contact.alternates if a.position == position), None
            )
            if alternate is None:
                return Dial(contact.contact.phone_number, None), plan.caller_id(asked)
            if not self.directory.is_blocked(plan.account_id, alternate.phone_number):
                return Dial(alternate.phone_number, alternate), plan.caller_id(asked)
        dial = choose_destination(self.definition, contact.contact, attempt, self.directory)
        return dial, plan.caller_id(attempt)

    def still_callable(self) -> NextCall | None:
        """The kept call, checked again against the call logs the round's calls have grown
        (a preset or an `across: account` limit counts every campaign's calls); when no
        call was made since it passed, at the same instant, the answer stands."""
        found = self.pending
        if found is None or self.definition is None:
            return found
        if self.pending_checked == (self.now_us, self.engine.calls_made):
            return found
        gate = self.engine.gate(self.definition)
        if gate.active:
            hold = gate.check(
                found.contact.contact, found.dial.to, self.now_us, self.recent, self.account_recent
            )
            if hold is not None:
                self.pending = None
                self.hold_back(found.contact, hold)
                return self.find_next()
        return found

    def make_call(self) -> None:
        """Create the kept call, and log it for the limits."""
        found = self.pending
        assert found is not None and self.definition is not None
        self.pending = None
        self.engine.calls_made += 1
        self.create_call(found)
        self.remember_call(found.gate, found.contact, found.dial)

    def put_back(self) -> None:
        """A call found but not made (no line left): its contact goes back to its place."""
        found = self.pending
        if found is None:
            return
        self.pending = None
        contact = found.contact
        if found.source == CALLBACK:
            assert contact.callback_due_us is not None
            self.callbacks.push(queues.CallbackEntry(contact.callback_due_us, contact.seq))
        elif found.source == RETRY:
            assert contact.retry_due_us is not None
            self.retries.push(queues.RetryEntry(contact.retry_due_us, contact.seq))
        elif found.source == RETURNED:
            returned = self.returned()
            insort(returned, (-contact.seq,))
            self.store.put_queue(self.campaign_id, RETURNED_QUEUE, returned)
        else:
            self.camp.cursor = min(self.camp.cursor, contact.seq)

    # ---- section 7: contacts held back, recent calls ----------------------------------

    def recent(self, key: str) -> tuple[int, ...]:
        return self.store.get_recent(self.campaign_id, key)

    def account_recent(self, key: str) -> tuple[int, ...]:
        """The account's log of calls across its campaigns (SPEC 8)."""
        return self.store.get_recent(self.account_scope, key)

    def account_keep(self, number: str) -> Keep | None:
        return account_keep(number, self.account.log_period_us, self.account.log_calls)

    def hold_back(self, contact: ContactState, hold: Hold) -> None:
        """Passed over by a rule: parked until it may be callable, counted once per rule."""
        bit = HELD_BITS.get(hold.reason, 0)
        if not contact.held_by & bit:
            contact.held_by |= bit
            self.camp.held_back[hold.reason] = self.camp.held_back.get(hold.reason, 0) + 1
        self.park(contact, hold.wake_us)

    def remember_call(self, gate: Gate, contact: ContactState, dial: Dial) -> None:
        """Keep the call's time for the limits (the campaign's and the account's), and when
        to forget it."""
        position = dial.alternate.position if dial.alternate else 0
        if gate.keeps:
            if gate.keep_number is not None:
                times = remember(self.recent(dial.to), self.now_us, gate.keep_number)
                self.store.put_recent(self.campaign_id, dial.to, times)
            if gate.keep_contact is not None:
                key = CONTACT_KEY + contact.contact.contact_id
                times = remember(self.recent(key), self.now_us, gate.keep_contact)
                self.store.put_recent(self.campaign_id, key, times)
            entry = queues.ExpiryEntry(
                self.now_us + gate.retain_us, contact.call_order, contact.seq, position
            )
            self.expiries.push(entry)
        keep = self.account_keep(dial.to)
        if keep is not None:
            times = remember(self.account_recent(dial.to), self.now_us, keep)
            self.store.put_recent(self.account_scope, dial.to, times)
            entry = queues.ExpiryEntry(
                self.now_us + keep.period_us, contact.call_order, contact.seq, position
            )
            self.account_expiries.push(entry)

    def expire_recent(self) -> None:
        """Drop call times no limit can count any more (so the records stay bounded)."""
        fifos = self.camp.fifos
        if self.definition is None or not (
            queues.QueueName.EXPIRY in fifos or queues.QueueName.ACCOUNT_EXPIRY in fifos
        ):
            return  # this campaign never logged a call for a limit
        gate = self.engine.gate(self.definition)
        for _, _, seq, position in self.expiries.pop_all_due(self.now_us):
            contact = self.contact(seq)
            if contact is None:
                continue
            c = contact.contact
            for key, keep in (
                (self.number_at(contact, position), gate.keep_number),
                (CONTACT_KEY + c.contact_id, gate.keep_contact),
            ):
                if keep is not None and (times := self.recent(key)):
                    self.store.put_recent(self.campaign_id, key, forget(times, self.now_us, keep))
        for _, _, seq, position in self.account_expiries.pop_all_due(self.now_us):
            contact = self.contact(seq)
            if contact is None:
                continue
            number = self.number_at(contact, position)
            keep = self.account_keep(number)
            if keep is not None and (times := self.account_recent(number)):
                self.store.put_recent(self.account_scope, number, forget(times, self.now_us, keep))

    @staticmethod
    def number_at(contact: ContactState, position: int) -> str:
        """The contact's number at an alternate position (0: the primary)."""
        for alt in contact.contact.alternates:
            if alt.position == position:
                return alt.phone_number
        return contact.contact.phone_number

    def park(self, contact: ContactState, wake_us: int | None) -> None:
        """Out of the rounds until `wake`; a contact never callable (None) is parked at the end
        of time, where an opt-out's number still reaches it (`wake_parked`, SPEC 5: it comes up
        again, and do-not-call is checked first)."""
        contact.phase = Phase.parked
        wake_us = END_OF_TIME_US if wake_us is None else wake_us
        self.parked.push(queues.ParkedEntry(wake_us, contact.seq))
        self.store.put_contact(self.scope, contact)

    def create_call(self, found: NextCall) -> None:
        contact, attempt, dial, plan = found.contact, found.attempt, found.dial, found.plan
        row = contact.contact
        c, account, now_us = self.camp, self.account, self.now_us
        position = dial.alternate.position if dial.alternate else 0
        order = contact.call_order = account.calls  # creation order across the account
        contact.attempts = attempt
        contact.phase = Phase.in_call
        contact.call_open = True
        contact.retry_due_us = None
        contact.callback_due_us = None
        del contact.dialled[attempt - 1 :]
        contact.dialled.append(position)
        del contact.orders[attempt - 1 :]
        contact.orders.append(order)
        c.calls += 1
        c.in_flight += 1
        account.calls += 1
        account.in_flight += 1
        deadline_us = now_us + plan.max_call_us
        # A DeadlineEntry, as the tuple it is stored as: a NamedTuple's Python-level
        # `__new__` costs several times a tuple display, once per call.
        self.deadlines.push((deadline_us, order, contact.seq, attempt))
        self.store.put_contact(self.scope, contact)
        variables = call_variables(plan.variable_mapping, row, dial.alternate)
        self.out.append(
            CallCreated(
                at_us=now_us,
                call_id=call_id(self.campaign_id, row.contact_id, attempt),
                campaign_id=self.campaign_id,
                account_id=plan.account_id,
                contact_id=row.contact_id,
                attempt=attempt,
                to=dial.to,
                from_=found.from_,
                alternate_position=position,
                agent_id=plan.agent_for(row.agent_id).id,
                variables=variables,
                deadline_us=deadline_us,
                voicemail_message=plan.voicemail_message(attempt, variables),
                predial=plan.predial,
            )
        )
        if c.held:
            self.release_held(contact)

    # ---- when to come back ---------------------------------------------------------

    def live_deadline(self) -> tuple[int, ...] | None:
        """The earliest deadline of a call still open; resolved calls' entries are dropped."""
        deadlines = self.deadlines
        while (entry := deadlines.peek()) is not None:
            deadline_us, order, seq = entry[0], entry[1], entry[2]  # a DeadlineEntry
            contact = self.contact(seq)
            if contact is not None and contact.call_open and contact.call_order == order:
                return entry
            deadlines.pop_due(deadline_us)
        return None

    def next_wake_us(self) -> int | None:
        c = self.camp
        now_us = self.now_us
        cands: list[int] = []
        first_deadline = self.live_deadline()
        if first_deadline is not None:
            cands.append(first_deadline[0])
        if c.status is SCHEDULED and c.start_at_us is not None:
            cands.append(c.start_at_us)
        ends = self.ends_at_us
        if ends is not None and not c.ended and c.status not in FINAL_CAMPAIGN:
            cands.append(ends)
        if c.status is RUNNING and self.plan is not None:
            first_parked = self.parked.peek()
            if first_parked is not None and first_parked[0] < END_OF_TIME_US:
                cands.append(first_parked[0])
            if c.in_flight < self.plan.outbound_limit:
                pending_from: int | None = None
                for first in (self.retries.peek(), self.callbacks.peek()):
                    if first is not None:
                        due = max(first[0], now_us)
                        pending_from = due if pending_from is None else min(pending_from, due)
                if c.cursor < c.arrived or self.returned():
                    pending_from = now_us
                if pending_from == now_us and self.open_now():
                    pending_from = None  # due now: the round has seen it (or waits for a line)
                if pending_from is not None:
                    opens = self.window.next_open(pending_from)
                    if opens is not None:
                        cands.append(opens)
        later = [t for t in cands if t > now_us]
        return min(later) if later else None
