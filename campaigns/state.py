"""The engine's records: one small record per campaign, one per contact, queue entries.

These are what the storage port keeps. The campaign record stays small whatever the
campaign's size: contacts live in their own records, the never-called queue is a
cursor over arrival order, retries and deadlines are first-in-first-out logs whose
counters the campaign record keeps, parked contacts sit in time buckets whose ids
(not contents) it lists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from campaigns.contacts import Contact
from campaigns.events import CampaignStatus, ContactStatus

BUCKET_US = 60_000_000  # one minute of due times per bucket
RECENT_COMMANDS = 256


class Phase:
    """Where a contact is while it is not final."""

    waiting: Final = "waiting"  # never considered yet (behind or at the cursor)
    in_call: Final = "in_call"
    retry: Final = "retry"  # in a retry bucket
    parked: Final = "parked"  # passed over for its local time; in a parked bucket
    callback: Final = "callback"  # waiting for a callback (SPEC 9); in the callback queue


@dataclass(slots=True)
class FifoCursor:
    """Where a `campaigns.queues.FifoQueue` stands; kept in the campaign record.

    Stored as the list `[head, tail, last_time_us, last_key, used]` (`as_list`), the
    shape every version kept; records of the first versions hold only `[head, tail]`.
    """

    head: int = 0  # the first group not used up
    tail: int = 0  # the index the next group gets
    last_time_us: int = -1  # time of the last entry pushed (entries after it are in order)
    last_key: int = -1  # that entry's tie-break (its second field: a row or a call order)
    used: int = 0  # entries already taken from the head group

    def as_list(self) -> list[int]:
        return [self.head, self.tail, self.last_time_us, self.last_key, self.used]

    @classmethod
    def from_list(cls, stored: list[int]) -> FifoCursor:
        return cls(*stored)


@dataclass(slots=True)
class CampaignState:
    campaign_id: str
    status: CampaignStatus | None = None  # None: contacts arrived before the create command
    expected: int = 0
    arrived: int = 0  # accepted contacts; also the next contact's sequence number
    duplicates: int = 0  # contacts of new batches refused as already present (counted as arrived)
    final: int = 0
    cursor: int = 0  # next never-considered sequence number
    in_flight: int = 0
    calls: int = 0  # calls created; a call's creation order
    start_at_us: int | None = None
    next_wake_us: int | None = None
    finished_at_us: int | None = None
    held: int = 0  # outcomes kept for calls not made yet (see Engine hold)
    counts: dict[str, int] = field(default_factory=dict)  # contacts by final status
    held_back: dict[str, int] = field(default_factory=dict)  # SPEC 7 rule -> contacts it held back
    buckets: dict[str, list[int]] = field(default_factory=dict)  # queue kind -> sorted bucket ids
    fifos: dict[str, FifoCursor] = field(default_factory=dict)  # queue kind -> its cursor
    recent_commands: list[str] = field(default_factory=list)
    # Before the create command: [batch id, account ("" = written before accounts), first
    # seq, end seq] of each batch taken, checked against the create's account when it comes.
    pending: list[list[str | int]] = field(default_factory=list)
    refused: int = 0  # contacts of another account's early batches (arrived, never final)
    # The owner's early contacts keep their early index keys (`early_key(owner, id)`) from
    # the create on: a contact id is looked up there too (`StepBase.find`), so the create
    # moves none of them (issue 26: one step per contact list, past the worker's lease).
    early_owner: str | None = None
    # A draft's edit starts its new list under a new store scope (`list_scope`): the old
    # list's rows become unreachable at once and later steps drop them a bounded number
    # at a time (`StepBase.sweep`), so the edit does no work per contact (issue 26).
    list_gen: int = 0
    # Lists an edit left, still to drop: [generation, next seq, end seq, early owner or ""].
    stale: list[list[int | str]] = field(default_factory=list)
    ended: bool = False  # the ends_at expiry of SPEC 9 has run

    def bucket_ids(self, kind: str) -> list[int]:
        return self.buckets.setdefault(kind, [])


@dataclass(slots=True)
class ContactState:
    seq: int
    contact: Contact
    phase: str = Phase.waiting
    status: ContactStatus | None = None  # set once final
    attempts: int = 0
    call_open: bool = False  # the last attempt's call has no outcome yet
    call_order: int = -1  # creation order of the last call
    retry_due_us: int | None = None
    # Per attempt: the alternate position it dialled (0 = primary), the number an opt-out
    # names even when it comes late or twice (SPEC section 7); and its call's creation
    # order, by which a late outcome of an earlier attempt takes its turn (SPEC section 5).
    dialled: list[int] = field(default_factory=list)
    orders: list[int] = field(default_factory=list)
    held_by: int = 0  # bits of the SPEC 7 rules that have held this contact back (engine.HELD_BITS)
    # SPEC 9: callbacks granted so far, when the waiting one is due, and the attempt whose
    # number, caller ID and variables it reuses.
    callbacks: int = 0
    callback_due_us: int | None = None
    callback_of: int = 0

    @property
    def is_final(self) -> bool:
        return self.status is not None


@dataclass(slots=True)
class AccountState:
    """What the account's campaigns share (SPEC 8): its lines, the calls holding them, the
    order calls were made in across campaigns, and which campaigns wait for a line.

    Small: one entry per campaign id and per inbound call in progress."""

    account_id: str
    lines: int | None = None  # None: no account limit
    inbound_max_us: int = 240 * 60_000_000
    campaigns: list[str] = field(default_factory=list)  # sorted ids of the account's campaigns
    calls: int = 0  # calls created across campaigns; a call's creation order
    in_flight: int = 0  # outbound calls of every campaign with no outcome or timeout yet
    inbound: dict[str, int] = field(default_factory=dict)  # inbound call id -> its cut-off
    # Campaigns left waiting for a line: a heap of [-priority, in flight, campaign id], and
    # each one's current entry (the heap's other entries for it are stale).
    blocked: list[list[int | str]] = field(default_factory=list)
    waiting: dict[str, list[int | str]] = field(default_factory=dict)
    # Of those, the ones that have not looked for their next call since (SPEC 8: they look,
    # and suppress, at the first round that has a line for them).
    unlooked: dict[str, bool] = field(default_factory=dict)  # a set, kept as a dict
    # The across-account call log keeps every call this long and this many per number.
    log_period_us: int = 0
    log_calls: int = 0
    next_wake_us: int | None = None

    def busy(self) -> int:
        """Lines in use: outbound in flight plus inbound in progress (SPEC 8)."""
        return self.in_flight + len(self.inbound)
