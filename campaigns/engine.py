"""The engine: one deterministic step per instant, over a storage port.

`step(campaign_id, now_us, ...)` applies what happened at `now_us` in SPEC order
(contacts and commands, then outcomes and timeouts in call-creation order, then one
round of call creation) and returns the events to publish. It never reads a clock:
`now_us` is given, and `next_wake_us` says when the campaign next needs a step if nothing
else happens. The live worker and `campaignflow simulate` both drive this class.
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Iterable, Sequence
from operator import itemgetter
from typing import NamedTuple

from campaigns import queues
from campaigns.compliance import CONTACT_KEY, NUMBER_KEY, Gate, Hold, forget, remember
from campaigns.contacts import Contact
from campaigns.dialing import (
    CallPlan,
    Dial,
    call_variables,
    choose_destination,
)
from campaigns.events import (
    FINAL_CAMPAIGN,
    Batch,
    CallCreated,
    CampaignStatus,
    Command,
    CommandKind,
    CommandRejected,
    ContactFinal,
    ContactRejected,
    ContactsAccepted,
    ContactStatus,
    Event,
    InputRejected,
    NumberOptedOut,
    Outcome,
    OutcomeRecorded,
    StatusChanged,
)
from campaigns.lifecycle import NEEDS_SUBSCRIPTION, transition
from campaigns.models import CALL_STATUSES, CampaignDefinition
from campaigns.queues import FifoQueue, TimeQueue
from campaigns.retries import Retry, verdict
from campaigns.state import RECENT_COMMANDS, CampaignState, ContactState, Phase
from campaigns.store import Directory, QueueEntry, Store
from campaigns.windows import Window

END_OF_TIME_US = 2**62  # later than any wake-up
EARLY_KEY = "\x00early:"  # index keys of contacts that came before the create, per account
MAX_CONTACTS = 100_000_000  # more contacts than this in one campaign is not a real count
CONTACT_BATCH = "contact_batch"  # the `command` of a refused batch's CommandRejected
# Bits of ContactState.held_by: the rules that have held a contact back (counted once each).
HELD_BITS = {"local_time": 1, "attempt_limit": 2, "preset:us_tcpa": 4, "preset:fr_2022_1313": 8}


def call_id(campaign_id: str, contact_id: str, attempt: int) -> str:
    return f"{campaign_id}/{contact_id}/{attempt}"


def batch_key(account_id: str | None, batch_id: str) -> str:
    """A batch's key in the store: per account, so another account's batch id cannot make
    the owner's batch look like a replay (None: written before batches named accounts)."""
    return f"{account_id}\x00{batch_id}" if account_id else batch_id


def parse_call_id(campaign_id: str, value: str) -> tuple[str, int] | None:
    """(contact_id, attempt) of a call id of this campaign, or None."""
    prefix = campaign_id + "/"
    if not value.startswith(prefix):
        return None
    contact_id, sep, attempt = value[len(prefix) :].rpartition("/")
    if not sep or not contact_id or not attempt.isdigit():
        return None
    return contact_id, int(attempt)


class Resolution(NamedTuple):
    """An outcome or a timeout to apply; those of one instant go by call creation, then
    by arrival (`_CREATION_ORDER`)."""

    call_order: int
    arrival: int  # index among the step's outcomes (timeouts come after them)
    outcome: Outcome | None  # None: the call's deadline passed
    contact: ContactState
    attempt_or_deadline_us: int  # the outcome's attempt, or the timeout's deadline


_CREATION_ORDER = itemgetter(0, 1)


class Engine:
    def __init__(self, store: Store, directory: Directory) -> None:
        self.store = store
        self.directory = directory
        self._plans: dict[str, CallPlan] = {}
        self._gates: dict[str, Gate] = {}

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

    # ---- the step ------------------------------------------------------------

    def step(
        self,
        campaign_id: str,
        now_us: int,
        *,
        contacts: Iterable[Contact] = (),
        batches: Iterable[Batch] = (),
        commands: Iterable[Command] = (),
        outcomes: Sequence[Outcome] = (),
    ) -> list[Event]:
        out: list[Event] = []
        camp = self.store.get_campaign(campaign_id) or CampaignState(campaign_id)
        ctx = _Step(self, camp, self.store.get_definition(campaign_id), now_us, out)
        for contact in contacts:
            ctx.add_contact(contact)
        for batch in batches:
            ctx.add_batch(batch)
        for command in commands:
            ctx.command(command)
        ctx.scheduled_start()
        ctx.expire_recent()
        ctx.resolve_calls(outcomes)
        ctx.wake_parked()
        ctx.round()
        ctx.check_completed()
        camp.next_wake_us = ctx.next_wake_us()
        ctx.retries.flush()
        ctx.deadlines.flush()
        ctx.expiries.flush()
        if camp.status is not None or camp.arrived:
            self.store.put_campaign(camp)
        return out

    def next_wake_us(self, campaign_id: str) -> int | None:
        camp = self.store.get_campaign(campaign_id)
        return camp.next_wake_us if camp else None


class _Step:
    """The work of one step on one campaign; holds what every rule needs."""

    def __init__(
        self,
        engine: Engine,
        camp: CampaignState,
        definition: CampaignDefinition | None,
        now_us: int,
        out: list[Event],
    ) -> None:
        self.engine = engine
        self.store = engine.store
        self.directory = engine.directory
        self.camp = camp
        self.campaign_id = camp.campaign_id
        self.now_us = now_us
        self.out = out
        self.definition = definition
        self.retries = FifoQueue(self.store, camp, queues.QueueName.RETRY)
        self.deadlines = FifoQueue(self.store, camp, queues.QueueName.DEADLINE)
        self.parked = TimeQueue(self.store, camp, queues.QueueName.PARKED)
        self.expiries = FifoQueue(self.store, camp, queues.QueueName.EXPIRY)
        self.seen: dict[int, ContactState] = {}  # contacts read in this step
        self.listed_now = False  # an opt-out put a number on the do-not-call list this step
        self.no_due_retries = False  # set during a round, see next_candidate
        self.no_returned = False

    # ---- small helpers -------------------------------------------------------

    def contact(self, seq: int) -> ContactState | None:
        """One object per contact for the whole step, whatever the store hands out."""
        found = self.seen.get(seq)
        if found is None:
            found = self.store.get_contact(self.campaign_id, seq)
            if found is not None:
                self.seen[seq] = found
        return found

    @property
    def window(self) -> Window:
        """The campaign's own callable instants (hours, days, blackout dates, holidays)."""
        assert self.definition is not None
        return self.engine.gate(self.definition).schedule

    def set_status(self, status: CampaignStatus) -> None:
        self.camp.status = status
        if status in FINAL_CAMPAIGN:
            self.camp.finished_at_us = self.now_us
        self.out.append(StatusChanged(self.now_us, self.campaign_id, status))

    def finalize(
        self, contact: ContactState, status: ContactStatus, at_us: int | None = None
    ) -> None:
        contact.status = status
        contact.phase = Phase.waiting
        contact.retry_due_us = None
        self.camp.final += 1
        self.camp.counts[status.value] = self.camp.counts.get(status.value, 0) + 1
        self.store.put_contact(self.campaign_id, contact)
        self.out.append(
            ContactFinal(
                self.now_us if at_us is None else at_us,
                self.campaign_id,
                contact.contact.contact_id,
                status,
                contact.attempts,
            )
        )
        self.check_completed()

    def check_completed(self) -> None:
        c = self.camp
        if (
            c.final + c.refused == c.arrived
            and c.arrived - c.refused + c.duplicates >= c.expected
            and c.status in (CampaignStatus.running, CampaignStatus.paused)
        ):
            self.set_status(CampaignStatus.completed)

    # ---- contacts and commands ---------------------------------------------------

    def add_batch(self, batch: Batch) -> None:
        """A batch from a producer: a batch seen before is a replay and changes nothing.

        In a new batch, a contact id the campaign already has is rejected and counted,
        so the add-contacts command that counted it cannot keep the campaign open.
        A batch of another account than the campaign's is refused whole. Before the
        create command nobody knows the campaign's account: the batch is taken, its
        contacts indexed under its account, and the create sorts them out (`settle`).
        """
        account = batch.account_id
        if account == "":
            self.refuse_batch(batch.batch_id, "contact batch carries no account_id")
            return
        if self.definition is not None and account not in (None, self.definition.account_id):
            self.refuse_batch(batch.batch_id, self.foreign(account))
            return
        key = batch_key(account, batch.batch_id)
        if self.store.has_batch(self.campaign_id, key):
            return
        if self.camp.status not in FINAL_CAMPAIGN:
            self.store.add_batch(self.campaign_id, key)
        first = self.camp.arrived
        early = self.camp.status is None and self.definition is None
        accepted = [
            position
            for position, contact in enumerate(batch.contacts)
            if self.add_contact(
                contact, count_duplicates=True, early=(account or "") if early else None
            )
        ]
        self.out.append(ContactsAccepted(self.now_us, self.campaign_id, batch.batch_id, accepted))
        if early and self.camp.arrived > first:
            self.camp.pending.append([batch.batch_id, account or "", first, self.camp.arrived])

    def foreign(self, account: str) -> str:
        """The reason for another account's input (the owner's name is not told)."""
        return f"account {account!r} is not the account of campaign {self.campaign_id}"

    def refuse_batch(self, batch_id: str, reason: str) -> None:
        self.out.append(
            CommandRejected(
                self.now_us, self.campaign_id, batch_id, CONTACT_BATCH, reason, dead_letter=True
            )
        )

    def settle(self, owner: str) -> None:
        """At the create: early contacts of the owner's account join; other accounts' are refused.

        Early contacts were indexed per account, so another account's rows could not
        take the owner's contact ids; here the owner's (and those written before
        accounts existed) are indexed by contact id, the rest are passed over for good.
        """
        pending, self.camp.pending = self.camp.pending, []
        for batch_id, account, first, end in pending:
            assert isinstance(account, str) and isinstance(first, int) and isinstance(end, int)
            ours = account in ("", owner)
            refused = 0
            for seq in range(first, end):
                state = self.contact(seq)
                if state is None:
                    continue
                contact_id = state.contact.contact_id
                if ours and self.store.find_contact(self.campaign_id, contact_id) is None:
                    self.store.index_contact(self.campaign_id, contact_id, seq)
                    continue
                # Passed over by every loop (final), counted in `refused`, not in `final`.
                state.status = ContactStatus.cancelled
                self.store.put_contact(self.campaign_id, state)
                self.camp.refused += 1
                if ours:
                    self.camp.duplicates += 1
                    reason = f"contact_id {contact_id!r} is already in the campaign"
                    self.out.append(
                        ContactRejected(
                            self.now_us, self.campaign_id, contact_id, state.contact.row, reason
                        )
                    )
                else:
                    refused += 1
            if refused:
                self.refuse_batch(
                    str(batch_id), f"{self.foreign(account)}: {refused} contact(s) not added"
                )

    def add_contact(
        self, contact: Contact, count_duplicates: bool = False, early: str | None = None
    ) -> bool:
        """Take one contact; False when it is not added (a final campaign, a known id)."""
        c = self.camp
        if c.status in FINAL_CAMPAIGN:
            self.out.append(
                ContactRejected(
                    self.now_us,
                    self.campaign_id,
                    contact.contact_id,
                    contact.row,
                    f"campaign is {c.status}: contact not added",
                )
            )
            return False
        index_key = (
            contact.contact_id if early is None else f"{EARLY_KEY}{early}\x00{contact.contact_id}"
        )
        if self.store.find_contact(self.campaign_id, index_key) is not None:
            if count_duplicates:
                c.duplicates += 1
                self.out.append(
                    ContactRejected(
                        self.now_us,
                        self.campaign_id,
                        contact.contact_id,
                        contact.row,
                        f"contact_id {contact.contact_id!r} is already in the campaign",
                    )
                )
            return False  # without a batch id: a replay or a second upload of the same row
        seq = c.arrived
        c.arrived += 1
        self.store.index_contact(self.campaign_id, index_key, seq)
        state = self.seen[seq] = ContactState(seq, contact)
        self.store.put_contact(self.campaign_id, state)
        return True

    def refusal(self, cmd: Command) -> str | None:
        """Why `cmd` is refused as unauthorised or absurd, or None.

        Checked before its id is remembered: another account's command cannot use up the
        id of the owner's (add-contacts ids are deterministic, so guessable).
        """
        account = cmd.account_id
        if account == "":
            return "command carries no account_id"
        d = self.definition
        if cmd.kind is CommandKind.create:
            if cmd.definition is not None and account not in (None, cmd.definition.account_id):
                return (
                    f"account {account!r} may not create a campaign of account"
                    f" {cmd.definition.account_id!r}"
                )
            creator = account or (cmd.definition.account_id if cmd.definition else None)
            if d is not None and creator is not None and creator != d.account_id:
                return f"campaign {self.campaign_id} already exists under another account"
            if not 0 <= cmd.expected_contacts <= MAX_CONTACTS:
                return f"expected_contacts must be between 0 and {MAX_CONTACTS}, not {cmd.expected_contacts}"
            return None
        if d is not None and account is not None and account != d.account_id:
            return self.foreign(account)
        if cmd.kind is CommandKind.add_contacts and not (
            0 <= cmd.count <= MAX_CONTACTS and self.camp.expected + cmd.count <= MAX_CONTACTS
        ):
            return (
                f"add_contacts count must be between 0 and {MAX_CONTACTS} (with the"
                f" {self.camp.expected} already expected), not {cmd.count}"
            )
        return None

    def command(self, cmd: Command) -> None:
        c = self.camp
        if cmd.command_id in c.recent_commands:
            return
        refused = self.refusal(cmd)
        if refused is not None:
            self.reject(cmd, refused, dead_letter=True)
            return
        if cmd.kind is not CommandKind.create and (c.status is None or self.definition is None):
            # Not remembered either: anyone could send it before the create, under the id
            # the owner's command will carry.
            self.reject(cmd, "unknown campaign: no create command was seen for it")
            return
        c.recent_commands.append(cmd.command_id)
        del c.recent_commands[:-RECENT_COMMANDS]
        if cmd.kind is CommandKind.create:
            self.create(cmd)
            return
        assert c.status is not None and self.definition is not None  # checked above
        if cmd.kind is CommandKind.add_contacts:
            if c.status in FINAL_CAMPAIGN:
                self.reject(cmd, f"campaign is {c.status.value}: no contacts can be added")
            else:
                c.expected += cmd.count
            return
        nxt = transition(c.status, cmd.kind)
        if not isinstance(nxt, CampaignStatus):
            self.reject(cmd, nxt)
            return
        if cmd.kind in NEEDS_SUBSCRIPTION and not self.directory.subscription_active(
            self.definition.account_id
        ):
            self.reject(cmd, f"account {self.definition.account_id} has no active subscription")
            return
        if cmd.kind is CommandKind.schedule:
            if cmd.start_at_us is None:
                self.reject(cmd, "schedule needs a start time")
                return
            c.start_at_us = cmd.start_at_us
        self.set_status(nxt)
        if nxt is CampaignStatus.cancelled:
            self.cancel_all()

    def create(self, cmd: Command) -> None:
        c = self.camp
        if c.status is not None:
            self.reject(cmd, f"campaign {self.campaign_id} already exists ({c.status.value})")
            return
        if cmd.definition is None or cmd.definition.campaign_id != self.campaign_id:
            self.reject(
                cmd, "create needs a definition whose campaign_id is the command's campaign"
            )
            return
        self.definition = cmd.definition
        self.store.put_definition(cmd.definition)
        c.expected = max(c.expected, cmd.expected_contacts)
        self.settle(cmd.definition.account_id)
        self.set_status(CampaignStatus.draft)

    def reject(self, cmd: Command, reason: str, dead_letter: bool = False) -> None:
        self.out.append(
            CommandRejected(
                self.now_us, self.campaign_id, cmd.command_id, cmd.kind.value, reason, dead_letter
            )
        )

    def cancel_all(self) -> None:
        for seq in range(self.camp.arrived):
            contact = self.contact(seq)
            if contact is not None and not contact.is_final:
                self.finalize(contact, ContactStatus.cancelled)
        for q in (self.retries, self.parked):
            q.drain()
        self.store.put_queue(self.campaign_id, queues.QueueName.RETURNED, [])
        self.camp.cursor = self.camp.arrived

    def scheduled_start(self) -> None:
        c = self.camp
        if (
            c.status is CampaignStatus.scheduled
            and c.start_at_us is not None
            and c.start_at_us <= self.now_us
        ):
            self.set_status(CampaignStatus.running)

    # ---- outcomes and timeouts ---------------------------------------------------

    def resolve_calls(self, outcomes: Sequence[Outcome]) -> None:
        """Outcomes and timeouts at this instant, applied in the order their calls were created."""
        work: list[Resolution] = []
        for i, o in enumerate(outcomes):
            parsed = parse_call_id(self.campaign_id, o.call_id)
            seq = self.store.find_contact(self.campaign_id, parsed[0]) if parsed else None
            contact = self.contact(seq) if seq is not None else None
            if parsed is not None and contact is not None and self.hold(contact, parsed[1], o):
                continue
            if parsed is None or contact is None or parsed[1] > contact.attempts or parsed[1] < 1:
                self.out.append(
                    InputRejected(
                        self.now_us,
                        self.campaign_id,
                        f"outcome {o.call_id}",
                        "unknown call: the engine never created it",
                        call_id=o.call_id,
                    )
                )
                continue
            work.append(Resolution(self.call_order(contact, parsed[1]), i, o, contact, parsed[1]))
        expired = self.deadlines.pop_all_due(self.now_us)
        for deadline_us, order, seq, _attempt in expired:
            contact = self.contact(seq)
            if contact is not None and contact.call_open and contact.call_order == order:
                work.append(Resolution(order, len(outcomes), None, contact, deadline_us))
        work.sort(key=_CREATION_ORDER)
        for r in work:
            if r.outcome is None:
                self.apply_timeout(r.contact, r.call_order, r.attempt_or_deadline_us)
            else:
                self.apply_outcome(r.contact, r.attempt_or_deadline_us, r.outcome, r.call_order)

    @staticmethod
    def call_order(contact: ContactState, attempt: int) -> int:
        """Creation order of an attempt's call (-1 for records older than the per-attempt list)."""
        if attempt == contact.attempts:
            return contact.call_order
        if attempt <= len(contact.orders):
            return contact.orders[attempt - 1]
        return -1

    def hold(self, contact: ContactState, attempt: int, outcome: Outcome) -> bool:
        """Keep an outcome of an attempt not made yet; it is applied when the call is made.

        Live, after a restart the worker replays its inputs from the last commit, and a
        dialer's outcome may be read before the input that makes its call again (they
        come on different topics). Rejecting it would leave the call to time out and be
        dialled once more.
        """
        if (
            attempt <= contact.attempts
            or contact.is_final
            or self.definition is None
            or attempt > self.definition.rules.attempts_allowed
            or outcome.status not in CALL_STATUSES
        ):
            return False
        key = queues.held(contact.seq)
        entries = self.store.get_queue(self.campaign_id, key)
        if all(e[0] != attempt for e in entries):
            entry = (attempt, CALL_STATUSES.index(outcome.status), int(outcome.opt_out))
            entries = [*entries, entry]
            self.store.put_queue(self.campaign_id, key, entries)
            self.camp.held += 1
        elif outcome.opt_out:  # a repeat changes nothing, but its opt-out is still honoured
            entries = [(e[0], e[1], 1) if e[0] == attempt else e for e in entries]
            self.store.put_queue(self.campaign_id, key, entries)
        return True

    def release_held(self, contact: ContactState) -> None:
        """Apply the held outcome of the call just made; drop those of earlier attempts."""
        key = queues.held(contact.seq)
        entries = self.store.get_queue(self.campaign_id, key)
        if not entries:
            return
        attempt = contact.attempts
        rest = [e for e in entries if e[0] > attempt]
        self.store.put_queue(self.campaign_id, key, rest)
        self.camp.held -= len(entries) - len(rest)
        for e in entries:
            if e[0] == attempt:
                cid_ = call_id(self.campaign_id, contact.contact.contact_id, attempt)
                outcome = Outcome(cid_, CALL_STATUSES[e[1]], len(e) > 2 and bool(e[2]))
                self.apply_outcome(contact, attempt, outcome, contact.call_order)

    def apply_outcome(
        self, contact: ContactState, attempt: int, outcome: Outcome, order: int
    ) -> None:
        live = contact.call_open and attempt == contact.attempts and contact.call_order == order
        self.out.append(
            OutcomeRecorded(
                self.now_us,
                self.campaign_id,
                outcome.call_id,
                contact.contact.contact_id,
                attempt,
                outcome.status,
                live,
                opt_out=outcome.opt_out,
            )
        )
        if live:
            self.close_call(contact, outcome.status, self.now_us, outcome.opt_out)
        elif outcome.opt_out:  # a duplicate, or late after the timeout: still honoured
            self.honour_opt_out(contact, attempt, self.now_us)

    def apply_timeout(self, contact: ContactState, order: int, deadline_us: int) -> None:
        """No outcome by the deadline: the engine records `timeout` at the deadline itself.

        Its retry is due `retry_delay` after the step that noticed it: the same
        instant in simulate; live, ticks may notice it up to a tick late, and due
        times must keep growing for the retry log to stay in order.
        """
        if not (contact.call_open and contact.call_order == order):
            return  # an outcome at this same instant came first
        cid_ = call_id(self.campaign_id, contact.contact.contact_id, contact.attempts)
        self.out.append(
            OutcomeRecorded(
                deadline_us,
                self.campaign_id,
                cid_,
                contact.contact.contact_id,
                contact.attempts,
                "timeout",
                True,
                timeout=True,
            )
        )
        self.close_call(contact, "timeout", deadline_us)

    def close_call(
        self, contact: ContactState, status: str, at_us: int, opt_out: bool = False
    ) -> None:
        assert self.definition is not None
        contact.call_open = False
        self.camp.in_flight -= 1
        if opt_out:  # whatever the status and the retries left
            self.honour_opt_out(contact, contact.attempts, at_us)
            return
        if contact.is_final:  # cancelled while the call was in flight: recorded, nothing scheduled
            self.store.put_contact(self.campaign_id, contact)
            return
        result = verdict(self.definition.rules, status, contact.attempts, self.now_us)
        if isinstance(result, Retry):
            contact.phase = Phase.retry
            contact.retry_due_us = result.due_us
            self.retries.push(queues.RetryEntry(result.due_us, contact.seq))
            self.store.put_contact(self.campaign_id, contact)
        else:
            self.finalize(contact, result, at_us)

    # ---- opt-outs (SPEC section 7) -------------------------------------------------------

    def honour_opt_out(self, contact: ContactState, attempt: int, at_us: int) -> None:
        """The number attempt `attempt` dialled joins the account's list; the contact ends opted_out.

        Applied to the engine's directory at once (the next contact that comes up sees it),
        and emitted for the shell to publish on the do-not-call topic.
        """
        assert self.definition is not None
        account_id = self.definition.account_id
        number = self.dialled_number(contact, attempt)
        self.directory.add_blocked(account_id, number)
        self.listed_now = True
        self.out.append(
            NumberOptedOut(
                at_us,
                self.campaign_id,
                account_id,
                number,
                call_id(self.campaign_id, contact.contact.contact_id, attempt),
            )
        )
        if contact.is_final:
            self.store.put_contact(self.campaign_id, contact)
        else:
            self.finalize(contact, ContactStatus.opted_out, at_us)

    def dialled_number(self, contact: ContactState, attempt: int) -> str:
        """The number a call of this contact dialled, from the positions kept per attempt."""
        c = contact.contact
        position = contact.dialled[attempt - 1]
        if position:
            for alt in c.alternates:
                if alt.position == position:
                    return alt.phone_number
        return c.phone_number

    # ---- parked contacts -----------------------------------------------------------

    def returned(self) -> list[QueueEntry]:
        """Never-called contacts given back, next last."""
        return self.store.get_queue(self.campaign_id, queues.QueueName.RETURNED)

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
            if contact.retry_due_us is not None:
                contact.phase = Phase.retry
                self.retries.push(queues.RetryEntry(contact.retry_due_us, seq))
            else:
                contact.phase = Phase.waiting
                back.append((-seq,))
            self.store.put_contact(self.campaign_id, contact)
        if len(back) < 32:
            for entry in back:
                insort(returned, entry)
        else:  # a wave (a window opening for many at once): one sort of two sorted runs
            returned.extend(back)
            returned.sort()
        self.store.put_queue(self.campaign_id, queues.QueueName.RETURNED, returned)

    # ---- call creation -----------------------------------------------------------------

    def next_candidate(self) -> ContactState | None:
        """Retries due by (due, row), then never-called contacts by row.

        A round adds nothing to the retry log or the returned list, so once one is
        empty (or not due) it stays so for the rest of the round.
        """
        while not self.no_due_retries:
            entry = self.retries.pop_due(self.now_us)
            if entry is None:
                self.no_due_retries = True
                break
            contact = self.contact(queues.RetryEntry(*entry).contact_seq)
            if contact is not None and contact.phase == Phase.retry and not contact.is_final:
                return contact
        returned = [] if self.no_returned else self.returned()
        self.no_returned = not returned
        while returned:
            seq = -returned.pop()[0]
            self.store.put_queue(self.campaign_id, queues.QueueName.RETURNED, returned)
            contact = self.contact(seq)
            if contact is not None and not contact.is_final:
                return contact
        while self.camp.cursor < self.camp.arrived:
            seq = self.camp.cursor
            self.camp.cursor += 1
            contact = self.contact(seq)
            if contact is not None and not contact.is_final:
                return contact
        return None

    def round(self) -> None:
        c = self.camp
        if c.status is not CampaignStatus.running or self.definition is None:
            return
        if not self.window.is_open(self.now_us):
            return
        rules = self.definition.rules
        plan = self.engine.plan(self.definition)
        gate = self.engine.gate(self.definition)
        limit = rules.outbound_limit
        while c.in_flight < limit:
            contact = self.next_candidate()
            if contact is None:
                break
            if self.directory.is_blocked(plan.account_id, contact.contact.phone_number):
                self.finalize(contact, ContactStatus.suppressed)
                continue
            attempt = contact.attempts + 1
            dial = choose_destination(self.definition, contact.contact, attempt, self.directory)
            if gate.active:
                hold = gate.check(contact.contact, dial.to, self.now_us, self.recent)
                if hold is not None:
                    self.hold_back(contact, hold)
                    continue
            self.create_call(contact, attempt, dial, plan)
            if gate.keeps:
                self.remember_call(gate, contact, dial)

    # ---- section 7: contacts held back, recent calls ----------------------------------

    def recent(self, key: str) -> tuple[int, ...]:
        return self.store.get_recent(self.campaign_id, key)

    def hold_back(self, contact: ContactState, hold: Hold) -> None:
        """Passed over by a rule: parked until it may be callable, counted once per rule."""
        bit = HELD_BITS.get(hold.reason, 0)
        if not contact.held_by & bit:
            contact.held_by |= bit
            self.camp.held_back[hold.reason] = self.camp.held_back.get(hold.reason, 0) + 1
        self.park(contact, hold.wake_us)

    def remember_call(self, gate: Gate, contact: ContactState, dial: Dial) -> None:
        """Keep the call's time for the limits, and when to forget it."""
        if gate.keep_number is not None:
            key = NUMBER_KEY + dial.to
            self.store.put_recent(
                self.campaign_id, key, remember(self.recent(key), self.now_us, gate.keep_number)
            )
        if gate.keep_contact is not None:
            key = CONTACT_KEY + contact.contact.contact_id
            self.store.put_recent(
                self.campaign_id, key, remember(self.recent(key), self.now_us, gate.keep_contact)
            )
        position = dial.alternate.position if dial.alternate else 0
        self.expiries.push(
            queues.ExpiryEntry(
                self.now_us + gate.retain_us, contact.call_order, contact.seq, position
            )
        )

    def expire_recent(self) -> None:
        """Drop call times no limit can count any more (so the records stay bounded)."""
        if self.definition is None:
            return
        expired = self.expiries.pop_all_due(self.now_us)
        if not expired:
            return
        gate = self.engine.gate(self.definition)
        for _, _, seq, position in expired:
            contact = self.contact(seq)
            if contact is None:
                continue
            c = contact.contact
            number = c.phone_number
            for alt in c.alternates:
                if alt.position == position:
                    number = alt.phone_number
            for key, keep in (
                (NUMBER_KEY + number, gate.keep_number),
                (CONTACT_KEY + c.contact_id, gate.keep_contact),
            ):
                if keep is not None:
                    times = self.recent(key)
                    if times:
                        self.store.put_recent(
                            self.campaign_id, key, forget(times, self.now_us, keep)
                        )

    def park(self, contact: ContactState, wake_us: int | None) -> None:
        """Out of the rounds until `wake`; a contact never callable (None) is parked at the end
        of time, where an opt-out's number still reaches it (`wake_parked`, SPEC 5: it comes up
        again, and do-not-call is checked first)."""
        contact.phase = Phase.parked
        wake_us = END_OF_TIME_US if wake_us is None else wake_us
        self.parked.push(queues.ParkedEntry(wake_us, contact.seq))
        self.store.put_contact(self.campaign_id, contact)

    def create_call(self, contact: ContactState, attempt: int, dial: Dial, plan: CallPlan) -> None:
        assert self.definition is not None
        d = self.definition
        c = self.camp
        contact.attempts = attempt
        contact.phase = Phase.in_call
        contact.call_open = True
        contact.call_order = c.calls
        contact.retry_due_us = None
        del contact.dialled[attempt - 1 :]
        contact.dialled.append(dial.alternate.position if dial.alternate else 0)
        del contact.orders[attempt - 1 :]
        contact.orders.append(contact.call_order)
        c.calls += 1
        c.in_flight += 1
        deadline_us = self.now_us + plan.max_call_us
        self.deadlines.push(
            queues.DeadlineEntry(deadline_us, contact.call_order, contact.seq, attempt)
        )
        self.store.put_contact(self.campaign_id, contact)
        self.out.append(
            CallCreated(
                at_us=self.now_us,
                call_id=call_id(self.campaign_id, contact.contact.contact_id, attempt),
                campaign_id=self.campaign_id,
                account_id=plan.account_id,
                contact_id=contact.contact.contact_id,
                attempt=attempt,
                to=dial.to,
                from_=plan.caller_id(attempt),
                alternate_position=dial.alternate.position if dial.alternate else 0,
                agent_id=plan.agent_id,
                variables=call_variables(d, contact.contact, dial.alternate),
                deadline_us=deadline_us,
            )
        )
        if c.held:
            self.release_held(contact)

    # ---- when to come back ---------------------------------------------------------

    def live_deadline(self) -> tuple[int, ...] | None:
        """The earliest deadline of a call still open; resolved calls' entries are dropped."""
        while (entry := self.deadlines.peek()) is not None:
            d = queues.DeadlineEntry(*entry)
            contact = self.contact(d.contact_seq)
            if contact is not None and contact.call_open and contact.call_order == d.call_order:
                return entry
            self.deadlines.pop_due(d.deadline_us)
        return None

    def next_wake_us(self) -> int | None:
        c = self.camp
        now_us = self.now_us
        cands: list[int] = []
        first_deadline = self.live_deadline()
        if first_deadline is not None:
            cands.append(first_deadline[0])
        if c.status is CampaignStatus.scheduled and c.start_at_us is not None:
            cands.append(c.start_at_us)
        if c.status is CampaignStatus.running and self.definition is not None:
            first_parked = self.parked.peek()
            if first_parked is not None and first_parked[0] < END_OF_TIME_US:
                cands.append(first_parked[0])
            if c.in_flight < self.definition.rules.outbound_limit:
                pending_from: int | None = None
                first_retry = self.retries.peek()
                if first_retry is not None:
                    pending_from = max(first_retry[0], now_us)
                if c.cursor < c.arrived or self.returned():
                    pending_from = now_us
                if pending_from is not None:
                    opens = self.window.next_open(pending_from)
                    if opens is not None:
                        cands.append(opens)
        later = [t for t in cands if t > now_us]
        return min(later) if later else None
