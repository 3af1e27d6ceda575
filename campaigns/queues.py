"""Time-ordered queues kept in one-minute buckets.

Retries (due time, contact), call deadlines (deadline, call order, contact, attempt)
and parked contacts (wake time, contact) all live here. Only the bucket ids are in
the campaign record; each bucket is one store key, so a step touches the few
buckets around `now` and never the whole queue.
"""

from __future__ import annotations

from bisect import insort

from campaigns.state import BUCKET_US, CampaignState
from campaigns.store import QueueEntry, Store

RETRY = "r"
DEADLINE = "d"
PARKED = "p"
RETURNED = "fresh"  # never-called contacts given back after being parked, by sequence


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
