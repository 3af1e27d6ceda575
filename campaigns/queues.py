"""Time-ordered queues over the store: first-in-first-out logs and one-minute buckets.

Call deadlines (deadline, call order, contact, attempt) and retries (due time,
contact) are made in time order, since `now` only grows and the delays are fixed
per campaign: they live in a `FifoQueue`, one store key per instant they were
made at, so a step writes one small value per queue whatever the rate. Entries that come out of order (a
parked retry given back with its old due time) go to a bucketed `TimeQueue`
beside it. Parked contacts (wake time, contact) wake in no particular order and
use a `TimeQueue`: one store key per minute of wake times. The campaign record
holds only counters and bucket ids.
"""

from __future__ import annotations

from bisect import insort

from campaigns.state import BUCKET_US, CampaignState
from campaigns.store import QueueEntry, Store

RETRY = "r"
DEADLINE = "d"
PARKED = "p"
EXPIRY = (
    "x"  # calls whose time an attempt limit may still count: (forget at, order, contact, position)
)
# Never-called contacts given back after being parked: (-seq,) sorted, so the next one
# (lowest row) is last and taking it costs nothing, however many a wave of parking left.
RETURNED = "back"
OLD_RETURNED = "fresh"  # the same, as older versions kept it: (seq,) sorted


class TimeQueue:
    def __init__(self, store: Store, campaign: CampaignState, kind: str) -> None:
        self.store = store
        self.campaign = campaign
        self.kind = kind
        self.ids = campaign.bucket_ids(kind)

    def _name(self, bucket: int) -> str:
        return f"{self.kind}:{bucket}"

    def push(self, entry: QueueEntry) -> None:
        bucket = entry[0] // BUCKET_US
        name = self._name(bucket)
        cid = self.campaign.campaign_id
        entries = self.store.get_queue(cid, name)
        if not entries:
            insort(self.ids, bucket)
            entries = [entry]
        elif entries[-1] <= entry:  # the usual case: times only grow
            entries.append(entry)
        else:
            insort(entries, entry)
        self.store.put_queue(cid, name, entries)

    def peek(self) -> QueueEntry | None:
        if not self.ids:
            return None
        entries = self.store.get_queue(self.campaign.campaign_id, self._name(self.ids[0]))
        return entries[0] if entries else None

    def pop_due(self, now: int) -> QueueEntry | None:
        """Remove and return the earliest entry whose time is <= now."""
        if not self.ids or self.ids[0] * BUCKET_US > now:
            return None
        cid = self.campaign.campaign_id
        name = self._name(self.ids[0])
        entries = self.store.get_queue(cid, name)
        if not entries or entries[0][0] > now:
            return None
        entry = entries.pop(0)
        if not entries:
            self.ids.pop(0)
        self.store.put_queue(cid, name, entries)
        return entry

    def pop_all_due(self, now: int) -> list[QueueEntry]:
        due: list[QueueEntry] = []
        cid = self.campaign.campaign_id
        while self.ids and self.ids[0] * BUCKET_US <= now:
            name = self._name(self.ids[0])
            entries = self.store.get_queue(cid, name)
            cut = 0
            while cut < len(entries) and entries[cut][0] <= now:
                cut += 1
            due.extend(entries[:cut])
            rest = entries[cut:]
            self.store.put_queue(cid, name, rest)
            if rest:
                break
            self.ids.pop(0)
        return due

    def drain(self) -> None:
        cid = self.campaign.campaign_id
        for bucket in self.ids:
            self.store.put_queue(cid, self._name(bucket), [])
        self.ids.clear()


class FifoQueue:
    """Entries pushed in time order, read from the front.

    Entries pushed in one step with the same time share one store key (a group): a
    step that creates a thousand calls at one instant writes one deadline record,
    not a thousand. Popping moves an offset kept in the campaign record; a group's
    key is deleted once it is used up.
    """

    def __init__(self, store: Store, campaign: CampaignState, kind: str) -> None:
        self.store = store
        self.cid = campaign.campaign_id
        self.kind = kind
        # head group, next group, (time, key) of the last entry pushed, entries used in head
        self.state = campaign.fifos.setdefault(kind, [0, 0, -1, -1, 0])
        self.state.extend([-1, -1, 0][len(self.state) - 2 :])  # records of older versions
        self.late = TimeQueue(store, campaign, kind + "~")
        self._head: list[QueueEntry] | None = None  # the head group, once read
        self._open: list[QueueEntry] | None = None  # the group this step appends to
        self._open_index = -1

    def _key(self, index: int) -> str:
        return f"{self.kind}:{index}"

    def push(self, entry: QueueEntry) -> None:
        """Append, unless the entry sorts before the last one (ties order by key: row)."""
        state = self.state
        time, key = entry[0], entry[1]
        if time < state[2] or (time == state[2] and key < state[3]):
            self.late.push(entry)
            return
        state[3] = key
        if time == state[2] and self._open is not None:
            self._open.append(entry)
            return
        state[2] = time
        self._open = [entry]
        self._open_index = state[1]
        state[1] += 1
        if self._open_index == state[0]:
            self._head = self._open

    def flush(self) -> None:
        """Write the group this step appended to; call once at the end of a step."""
        if self._open is not None and self._open_index >= self.state[0]:
            self.store.put_queue(self.cid, self._key(self._open_index), self._open)
        self._open = None

    def _front(self) -> QueueEntry | None:
        head, tail, used = self.state[0], self.state[1], self.state[4]
        if head >= tail:
            return None
        group = self._head
        if group is None:
            if head == self._open_index and self._open is not None:
                group = self._open  # made in this step, not written yet
            else:
                group = self.store.get_queue(self.cid, self._key(head))
            self._head = group
        return group[used] if used < len(group) else None

    def peek(self) -> QueueEntry | None:
        front = self._front()
        if self.late.ids:  # rare: entries that came out of order
            late = self.late.peek()
            if front is None or (late is not None and late < front):
                return late
        return front

    def pop_due(self, now: int) -> QueueEntry | None:
        front = self._front()
        if self.late.ids:
            late = self.late.peek()
            if front is None or (late is not None and late < front):
                return self.late.pop_due(now)
        if front is None or front[0] > now:
            return None
        state = self.state
        state[4] += 1
        group = self._head
        if group is not None and state[4] >= len(group):
            self.store.put_queue(self.cid, self._key(state[0]), [])
            if self._open is group:
                self._open = None
            state[0] += 1
            state[4] = 0
            self._head = None
        return front

    def pop_all_due(self, now: int) -> list[QueueEntry]:
        due: list[QueueEntry] = []
        while (entry := self.pop_due(now)) is not None:
            due.append(entry)
        return due

    def drain(self) -> None:
        head, tail = self.state[0], self.state[1]
        for i in range(head, tail):
            self.store.put_queue(self.cid, self._key(i), [])
        self.state[0] = tail
        self.state[4] = 0
        self._head = self._open = None
        self.late.drain()
