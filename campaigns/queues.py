"""Time-ordered queues over the store: first-in-first-out logs and one-minute buckets.

Call deadlines (deadline, call order, contact, attempt) and retries (due time,
contact) are made in time order, since `now_us` only grows and the delays are fixed
per campaign: they live in a `FifoQueue`, one store key per instant they were
made at, so a step writes one small value per queue whatever the rate. Entries that come out of order (a
parked retry given back with its old due time) go to a bucketed `TimeQueue`
beside it. Parked contacts (wake time, contact) wake in no particular order and
use a `TimeQueue`: one store key per minute of wake times. The campaign record
holds only counters and bucket ids.
"""

from __future__ import annotations

from bisect import insort
from enum import StrEnum
from typing import NamedTuple

from campaigns.state import BUCKET_US, CampaignState, FifoCursor
from campaigns.store import QueueEntry, Store


class QueueName(StrEnum):
    """Every queue the engine keeps in the store; the values are the stored names."""

    RETRY = "r"  # (due time, contact)
    DEADLINE = "d"  # (deadline, call order, contact, attempt)
    PARKED = "p"  # (wake time, contact)
    EXPIRY = "x"  # calls an attempt limit may still count: (forget at, order, contact, position)
    ACCOUNT_EXPIRY = "xa"  # the same, for the account's call log across campaigns (SPEC 8)
    CALLBACK = "cb"  # (due time, contact): callbacks asked for (SPEC 9), due in any order
    # Never-called contacts given back after being parked: (-seq,) sorted, so the next one
    # (lowest row) is last and taking it costs nothing, however many a wave of parking left.
    RETURNED = "back"
    # A contact's outcomes that came before their call, one queue per contact (`held`):
    # (attempt, status, opt_out)
    HELD = "held:"


class RetryEntry(NamedTuple):
    due_us: int
    contact_seq: int


class DeadlineEntry(NamedTuple):
    deadline_us: int
    call_order: int
    contact_seq: int
    attempt: int


class ExpiryEntry(NamedTuple):
    forget_at_us: int
    call_order: int
    contact_seq: int
    position: int  # the alternate dialled (0: the primary)


class CallbackEntry(NamedTuple):
    due_us: int
    contact_seq: int


class ParkedEntry(NamedTuple):
    wake_us: int
    contact_seq: int


# The entries above are tuples: stored as arrays, sorted and compared as tuples (time
# first), read back as plain tuples by a store (`Entry(*stored)` names them again). The
# per-call paths push the tuple itself, field for field (a NamedTuple's `__new__` is a
# Python function, several times the cost of a tuple display).


def held(contact_seq: int) -> str:
    """The name of a contact's queue of held outcomes."""
    return f"{QueueName.HELD.value}{contact_seq}"


class TimeQueue:
    # Slots: a step makes its campaign's queues anew, and an account round may step
    # a thousand campaigns.
    __slots__ = ("store", "campaign", "kind", "ids")

    def __init__(self, store: Store, campaign: CampaignState, kind: str) -> None:
        self.store = store
        self.campaign = campaign
        self.kind = kind
        ids = campaign.buckets.get(kind)  # `campaign.bucket_ids(kind)`, without its call
        if ids is None:
            ids = campaign.buckets[kind] = []
        self.ids = ids

    def _name(self, bucket: int) -> str:
        return f"{self.kind}:{bucket}"

    def push(self, entry: QueueEntry) -> None:
        bucket = entry[0] // BUCKET_US
        name = self._name(bucket)
        campaign_id = self.campaign.campaign_id
        entries = self.store.get_queue(campaign_id, name)
        if not entries:
            insort(self.ids, bucket)
            entries = [entry]
        elif entries[-1] <= entry:  # the usual case: times only grow
            entries.append(entry)
        else:
            insort(entries, entry)
        self.store.put_queue(campaign_id, name, entries)

    def peek(self) -> QueueEntry | None:
        if not self.ids:
            return None
        entries = self.store.get_queue(self.campaign.campaign_id, self._name(self.ids[0]))
        return entries[0] if entries else None

    def pop_due(self, now_us: int) -> QueueEntry | None:
        """Remove and return the earliest entry whose time is <= now."""
        if not self.ids or self.ids[0] * BUCKET_US > now_us:
            return None
        campaign_id = self.campaign.campaign_id
        name = self._name(self.ids[0])
        entries = self.store.get_queue(campaign_id, name)
        if not entries or entries[0][0] > now_us:
            return None
        entry = entries.pop(0)
        if not entries:
            self.ids.pop(0)
        self.store.put_queue(campaign_id, name, entries)
        return entry

    def pop_all_due(self, now_us: int) -> list[QueueEntry]:
        due: list[QueueEntry] = []
        campaign_id = self.campaign.campaign_id
        while self.ids and self.ids[0] * BUCKET_US <= now_us:
            name = self._name(self.ids[0])
            entries = self.store.get_queue(campaign_id, name)
            cut = 0
            while cut < len(entries) and entries[cut][0] <= now_us:
                cut += 1
            due.extend(entries[:cut])
            rest = entries[cut:]
            self.store.put_queue(campaign_id, name, rest)
            if rest:
                break
            self.ids.pop(0)
        return due

    def drain(self) -> None:
        campaign_id = self.campaign.campaign_id
        for bucket in self.ids:
            self.store.put_queue(campaign_id, self._name(bucket), [])
        self.ids.clear()


class FifoQueue:
    """Entries pushed in time order, read from the front.

    Entries pushed in one step with the same time share one store key (a group): a
    step that creates a thousand calls at one instant writes one deadline record,
    not a thousand. Popping moves an offset kept in the campaign record; a group's
    key is deleted once it is used up.
    """

    __slots__ = (
        "store",
        "campaign_id",
        "kind",
        "cursor",
        "campaign",
        "late_kind",
        "_late",
        "late_ids",
        "_head",
        "_open",
        "_open_index",
    )

    def __init__(self, store: Store, campaign: CampaignState, kind: str) -> None:
        self.store = store
        self.campaign_id = campaign.campaign_id
        self.kind = kind
        cursor = campaign.fifos.get(kind)
        if cursor is None:
            cursor = campaign.fifos[kind] = FifoCursor()
        self.cursor = cursor
        self.campaign = campaign
        self.late_kind = kind + "~"
        self._late: TimeQueue | None = None  # made when first needed (`late`)
        self.late_ids = campaign.buckets.get(self.late_kind)  # its bucket ids, if it has any
        self._head: list[QueueEntry] | None = None  # the head group, once read
        self._open: list[QueueEntry] | None = None  # the group this step appends to
        self._open_index = -1

    def _key(self, index: int) -> str:
        return f"{self.kind}:{index}"

    @property
    def late(self) -> TimeQueue:
        """Entries that came out of order, beside the log (rare: made only when used)."""
        if self._late is None:
            self._late = TimeQueue(self.store, self.campaign, self.late_kind)
            self.late_ids = self._late.ids
        return self._late

    def push(self, entry: QueueEntry) -> None:
        """Append, unless the entry sorts before the last one (ties order by key: row)."""
        cursor = self.cursor
        time_us, key = entry[0], entry[1]
        if time_us < cursor.last_time_us or (
            time_us == cursor.last_time_us and key < cursor.last_key
        ):
            self.late.push(entry)
            return
        cursor.last_key = key
        if time_us == cursor.last_time_us and self._open is not None:
            self._open.append(entry)
            return
        cursor.last_time_us = time_us
        self._open = [entry]
        self._open_index = cursor.tail
        cursor.tail += 1
        if self._open_index == cursor.head:
            self._head = self._open

    def flush(self) -> None:
        """Write the group this step appended to; call once at the end of a step."""
        if self._open is not None and self._open_index >= self.cursor.head:
            self.store.put_queue(self.campaign_id, self._key(self._open_index), self._open)
        self._open = None

    def _front(self) -> QueueEntry | None:
        cursor = self.cursor
        head, used = cursor.head, cursor.used
        if head >= cursor.tail:
            return None
        group = self._head
        if group is None:
            if head == self._open_index and self._open is not None:
                group = self._open  # made in this step, not written yet
            else:
                group = self.store.get_queue(self.campaign_id, self._key(head))
            self._head = group
        return group[used] if used < len(group) else None

    def peek(self) -> QueueEntry | None:
        front = self._front()
        if self.late_ids:  # rare: entries that came out of order
            late = self.late.peek()
            if front is None or (late is not None and late < front):
                return late
        return front

    def pop_due(self, now_us: int) -> QueueEntry | None:
        front = self._front()
        if self.late_ids:
            late = self.late.peek()
            if front is None or (late is not None and late < front):
                return self.late.pop_due(now_us)
        if front is None or front[0] > now_us:
            return None
        cursor = self.cursor
        cursor.used += 1
        group = self._head
        if group is not None and cursor.used >= len(group):
            self.store.put_queue(self.campaign_id, self._key(cursor.head), [])
            if self._open is group:
                self._open = None
            cursor.head += 1
            cursor.used = 0
            self._head = None
        return front

    def pop_all_due(self, now_us: int) -> list[QueueEntry]:
        due: list[QueueEntry] = []
        while (entry := self.pop_due(now_us)) is not None:
            due.append(entry)
        return due

    def drain(self) -> None:
        cursor = self.cursor
        for i in range(cursor.head, cursor.tail):
            self.store.put_queue(self.campaign_id, self._key(i), [])
        cursor.head = cursor.tail
        cursor.used = 0
        self._head = self._open = None
        if self.late_ids:
            self.late.drain()
