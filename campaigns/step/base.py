"""What every part of a campaign's step shares: its records, its queues, finishing contacts.

The account step (`campaigns.engine`) makes one `CampaignStep` per campaign it looks at in
an instant; the layers on top of this one are split by SPEC's seams: intake (contacts and
batches), commands, outcomes (with callbacks, skipped calls and the end date), and the
candidates and calls of the account round.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Generic, TypeVar

from campaigns import queues
from campaigns.dialing import CallPlan
from campaigns.events import (
    FINAL_CAMPAIGN,
    CampaignStatus,
    ContactFinal,
    ContactStatus,
    Event,
    StatusChanged,
)
from campaigns.models import CampaignDefinition
from campaigns.queues import FifoQueue, TimeQueue
from campaigns.state import AccountState, CampaignState, ContactState
from campaigns.store import account_scope
from campaigns.windows import OpenHours

if TYPE_CHECKING:
    from campaigns.engine import Engine

END_OF_TIME_US = 2**62  # later than any wake-up
EARLY_KEY = "\x00early:"  # index keys of contacts that came before the create, per account
LIST_SCOPE = (
    "\x00list:"  # store scopes of the lists a draft's edits started (no campaign id has NUL)
)
SWEEP = 1000  # contacts of an edited-away list a step drops at most (about a batch's rows)
MAX_CONTACTS = 100_000_000  # more contacts than this in one campaign is not a real count
CONTACT_BATCH = "contact_batch"  # the `command` of a refused batch's CommandRejected
# A campaign that may complete; bound once (in CPython 3.11 an attribute of an Enum class
# goes through `EnumType.__getattr__`, about 10x a global) since every final contact asks.
LIVE = (CampaignStatus.running, CampaignStatus.paused)
# Bits of ContactState.held_by: the rules that have held a contact back (counted once each).
HELD_BITS = {"local_time": 1, "attempt_limit": 2, "preset:us_tcpa": 4, "preset:fr_2022_1313": 8}


def call_id(campaign_id: str, contact_id: str, attempt: int) -> str:
    return f"{campaign_id}/{contact_id}/{attempt}"


def campaign_of_call(value: str) -> str:
    """The campaign part of a call id ('' when there is none): campaign ids hold no '/'."""
    campaign_id, sep, _ = value.partition("/")
    return campaign_id if sep else ""


def batch_key(account_id: str | None, batch_id: str) -> str:
    """A batch's key in the store: per account, so another account's batch id cannot make
    the owner's batch look like a replay (None: written before batches named accounts)."""
    return f"{account_id}\x00{batch_id}" if account_id else batch_id


def early_key(account_id: str, contact_id: str) -> str:
    """The index key of a contact that came before the create, in a batch of `account_id`."""
    return f"{EARLY_KEY}{account_id}\x00{contact_id}"


def list_scope(campaign_id: str, generation: int) -> str:
    """Where the contacts and contact index of a campaign's list live in the store.

    The first list lives under the campaign id itself (as it always did); each edit of a
    draft starts the next generation under a scope of its own, so the old list's rows are
    out of reach at once, whatever its size, and are dropped later (`StepBase.sweep`).
    """
    return campaign_id if generation == 0 else f"{campaign_id}{LIST_SCOPE}{generation}"


def parse_call_id(campaign_id: str, value: str) -> tuple[str, int] | None:
    """(contact_id, attempt) of a call id of this campaign, or None."""
    prefix = campaign_id + "/"
    if not value.startswith(prefix):
        return None
    contact_id, sep, attempt = value[len(prefix) :].rpartition("/")
    if not sep or not contact_id or not attempt.isdigit():
        return None
    return contact_id, int(attempt)


Q = TypeVar("Q", FifoQueue, TimeQueue)


class _Queue(Generic[Q]):
    """A campaign queue of the step, made on first read and then an ordinary attribute.

    Not `__getattr__` on the step: in CPython 3.11 a class with `__getattr__` makes every
    attribute read of its instances a slow generic lookup, and the per-call paths read
    `self.*` all the time. Not `functools.cached_property` either: in 3.11 it takes a lock
    and turns the instance's attributes into a dict on each first read, costly for steps
    made by the thousand (issue 22's account round)."""

    def __init__(self, kind: type[Q], name: str) -> None:
        self.kind: type[Q] = kind
        self.name = name
        self.attr = ""

    def __set_name__(self, owner: type, attr: str) -> None:
        self.attr = attr

    def __get__(self, step: StepBase, owner: type | None = None) -> Q:
        made = self.kind(step.store, step.camp, self.name)
        # A non-data descriptor: the instance's value wins. Not `step.__dict__[...]`: in
        # 3.11 that makes the instance's inline attribute values a dict (slower reads).
        setattr(step, self.attr, made)
        return made


class StepBase:
    """The work of one instant on one campaign of the account being stepped."""

    def __init__(
        self,
        engine: Engine,
        account: AccountState,
        camp: CampaignState,
        definition: CampaignDefinition | None,
        now_us: int,
        out: list[Event],
    ) -> None:
        self.engine = engine
        self.store = engine.store
        self.directory = engine.directory
        self.account = account
        self.account_scope = account_scope(account.account_id)
        self.camp = camp
        self.campaign_id = camp.campaign_id
        self.scope = list_scope(camp.campaign_id, camp.list_gen)  # of the contact rows
        self.now_us = now_us
        self.out = out
        self.definition: CampaignDefinition | None = None
        self.plan: CallPlan | None = None  # the definition's call plan (None: no definition)
        self.set_definition(definition)
        self.seen: dict[int, ContactState] = {}  # contacts read in this step
        self.listed_now = False  # an opt-out put a number on the do-not-call list this step
        self.sweep_later = False  # an edit in this step: its old list is not dropped in it
        self._open_now = False
        self._open_for: CampaignDefinition | None = None  # the definition _open_now is of

    # The campaign's queues, made when first used: a step touches few of them, and an
    # account step may touch many campaigns.
    retries = _Queue(FifoQueue, queues.QueueName.RETRY)
    deadlines = _Queue(FifoQueue, queues.QueueName.DEADLINE)
    expiries = _Queue(FifoQueue, queues.QueueName.EXPIRY)
    account_expiries = _Queue(FifoQueue, queues.QueueName.ACCOUNT_EXPIRY)
    parked = _Queue(TimeQueue, queues.QueueName.PARKED)
    callbacks = _Queue(TimeQueue, queues.QueueName.CALLBACK)

    def set_definition(self, definition: CampaignDefinition | None) -> None:
        """The campaign's definition, and with it its call plan: the rules the per-call
        paths read, as slots (set together, so `plan` is always the definition's)."""
        self.definition = definition
        self.plan = None if definition is None else self.engine.plan(definition)

    def contact(self, seq: int) -> ContactState | None:
        """One object per contact for the whole step, whatever the store hands out."""
        found = self.seen.get(seq)
        if found is None:
            found = self.store.get_contact(self.scope, seq)
            if found is not None:
                self.seen[seq] = found
        return found

    def find(self, contact_id: str) -> int | None:
        """The sequence number of a contact id of the campaign: in the index, else among the
        owner's early contacts, which the create left under their early keys (`settle`)."""
        seq = self.store.find_contact(self.scope, contact_id)
        owner = self.camp.early_owner
        if seq is None and owner is not None:
            seq = self.store.find_contact(self.scope, early_key(owner, contact_id))
        return seq

    def sweep(self, limit: int = SWEEP) -> None:
        """Drop at most `limit` contacts of the lists edits left, oldest first.

        Nothing reads those rows any more (`list_scope`); dropping them a bounded number
        a step keeps every step short however long the old list was (issue 26: a
        100,000-contact edit in one step held the worker past its lease). Emits nothing,
        so when it runs changes no output: `simulate` and the worker agree whatever steps
        each of them takes.
        """
        stale = self.camp.stale
        while stale and limit > 0:
            generation, first, end, owner = stale[0]
            assert isinstance(generation, int) and isinstance(first, int) and isinstance(end, int)
            scope = list_scope(self.campaign_id, generation)
            stop = min(end, first + limit)
            for seq in range(first, stop):
                state = self.store.get_contact(scope, seq)
                if state is not None:
                    self.drop(scope, str(owner), seq, state.contact.contact_id)
            limit -= stop - first
            if stop == end:
                stale.pop(0)
            else:
                stale[0][1] = stop

    def drop(self, scope: str, owner: str, seq: int, contact_id: str) -> None:
        """A contact's record and its index keys: by id, and the early keys it may have
        come under (the owner's, or a batch's written before accounts; `settle`, `owner`
        "" when the list came after the create); a key not there is not written."""
        keys = [contact_id]
        if owner:
            keys += [early_key(owner, contact_id), early_key("", contact_id)]
        found = [k for k in keys if self.store.find_contact(scope, k) == seq]
        for key in found or keys[:1]:
            self.store.drop_contact(scope, seq, key)

    @property
    def window(self) -> OpenHours:
        """The campaign's own callable instants (hours, days, blackout dates, holidays)."""
        assert self.definition is not None
        return self.engine.gate(self.definition).schedule

    def open_now(self) -> bool:
        """`window.is_open` at the step's instant, once per definition: the round and
        `next_wake_us` both ask it of every campaign stepped."""
        if self._open_for is not self.definition:
            self._open_now = self.window.is_open(self.now_us)
            self._open_for = self.definition
        return self._open_now

    @property
    def ends_at_us(self) -> int | None:
        return self.plan.ends_at_us if self.plan is not None else None

    def past_end(self) -> bool:
        """Whether the campaign's end date has come (SPEC 9: no call from that instant)."""
        ends = self.ends_at_us
        return ends is not None and self.now_us >= ends

    def set_status(self, status: CampaignStatus) -> None:
        self.camp.status = status
        if status in FINAL_CAMPAIGN:
            self.camp.finished_at_us = self.now_us
        self.out.append(StatusChanged(self.now_us, self.campaign_id, status))

    def finalize(
        self, contact: ContactState, status: ContactStatus, at_us: int | None = None
    ) -> None:
        contact.status = status
        contact.phase = "waiting"
        contact.retry_due_us = None
        contact.callback_due_us = None
        self.camp.final += 1
        key = status.value  # an Enum's `value` is a Python-level property: read it once
        self.camp.counts[key] = self.camp.counts.get(key, 0) + 1
        self.store.put_contact(self.scope, contact)
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
            and c.status in LIVE
        ):
            self.set_status(CampaignStatus.completed)

    def flush(self) -> None:
        """Write the queues' open groups; once, at the end of the account step."""
        made = self.__dict__
        for name in ("retries", "deadlines", "expiries", "account_expiries"):
            if name in made:
                made[name].flush()
