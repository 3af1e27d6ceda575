"""The engine's storage port over the worker's state table (Faust table, RocksDB, changelog).

One table holds everything, with the kind of record as the first key byte, so all the
writes of a campaign go to one changelog partition, in order (see `streams.rocks`):

    C<cid>                 campaign record (small, whatever the campaign's size)
    D<cid>                 definition
    K<cid>\\0<seq:8 bytes>  one contact
    I<cid>\\0<contact_id>   contact id -> seq
    Q<cid>\\0<queue name>   one queue bucket

Reads go through an object cache (decoded records; the engine edits them in place and
`put`s them back), writes stay dirty in memory until `commit`: a batch of events costs
one encode per changed key, however many times the engine touched it. Commit sends the
changed keys and a closing marker to the changelog, waits for the broker, then writes
RocksDB in one batch with the changelog offset, so local state never runs ahead of it.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from campaigns.models import CampaignDefinition
from campaigns.state import CampaignState, ContactState
from campaigns.store import QueueEntry
from streams import records
from streams.rocks import MARKER, AtomicRocksStore

CAMPAIGN = b"C"
DEFINITION = b"D"
CONTACT = b"K"
INDEX = b"I"
QUEUE = b"Q"
SEP = b"\x00"

_DUMP: dict[int, Callable[[Any], bytes]] = {
    CAMPAIGN[0]: records.dump_campaign,
    DEFINITION[0]: records.dump_definition,
    CONTACT[0]: records.dump_contact,
    INDEX[0]: records.dump_seq,
    QUEUE[0]: records.dump_queue,
}
_LOAD: dict[int, Callable[[bytes], Any]] = {
    CAMPAIGN[0]: records.load_campaign,
    DEFINITION[0]: records.load_definition,
    CONTACT[0]: records.load_contact,
    INDEX[0]: records.load_seq,
    QUEUE[0]: records.load_queue,
}


# (topic, key, value, partition) -> future of the delivery (its result has `.offset`)
Send = Callable[[str, bytes, bytes | None, int | None], Awaitable[Any]]


def campaign_key(cid: str) -> bytes:
    return CAMPAIGN + cid.encode()


def contact_key(cid: str, seq: int) -> bytes:
    return CONTACT + cid.encode() + SEP + seq.to_bytes(8, "big")


class TableStore:
    """`campaigns.store.Store` for the live worker; `partition` says whose rows are touched."""

    def __init__(
        self, rocks: AtomicRocksStore, changelog: str, send: Send, cache_size: int = 200_000
    ) -> None:
        self.rocks = rocks
        self.changelog = changelog  # the state table's changelog topic name
        self.send = send
        self.cache_size = cache_size
        self.partition = 0
        self._cache: OrderedDict[bytes, Any] = OrderedDict()
        self._dirty: dict[int, dict[bytes, Any]] = {}
        self._repaired: set[int] = set()

    # ---- plumbing ------------------------------------------------------------------

    def _get(self, key: bytes) -> Any:
        dirty = self._dirty.get(self.partition)
        if dirty is not None and key in dirty:
            return dirty[key]
        cache = self._cache
        if key in cache:
            cache.move_to_end(key)
            return cache[key]
        raw = self.rocks.db(self.partition).get(key)
        if raw is None:
            return None
        value = _LOAD[key[0]](raw)
        cache[key] = value
        if len(cache) > self.cache_size:
            self._evict()
        return value

    def _evict(self) -> None:
        # Dirty objects stay reachable through `_dirty` until commit, so any entry may go.
        cache = self._cache
        while len(cache) > self.cache_size * 0.9:
            cache.popitem(last=False)

    def _put(self, key: bytes, value: Any) -> None:
        self._dirty.setdefault(self.partition, {})[key] = value
        if value is None:
            self._cache.pop(key, None)
        else:
            self._cache[key] = value

    # ---- the port --------------------------------------------------------------------

    def get_campaign(self, campaign_id: str) -> CampaignState | None:
        value: CampaignState | None = self._get(campaign_key(campaign_id))
        return value

    def put_campaign(self, state: CampaignState) -> None:
        self._put(campaign_key(state.campaign_id), state)

    def get_definition(self, campaign_id: str) -> CampaignDefinition | None:
        value: CampaignDefinition | None = self._get(DEFINITION + campaign_id.encode())
        return value

    def put_definition(self, definition: CampaignDefinition) -> None:
        self._put(DEFINITION + definition.campaign_id.encode(), definition)

    def get_contact(self, campaign_id: str, seq: int) -> ContactState | None:
        value: ContactState | None = self._get(contact_key(campaign_id, seq))
        return value

    def put_contact(self, campaign_id: str, state: ContactState) -> None:
        self._put(contact_key(campaign_id, state.seq), state)

    def find_contact(self, campaign_id: str, contact_id: str) -> int | None:
        value: int | None = self._get(INDEX + campaign_id.encode() + SEP + contact_id.encode())
        return value

    def index_contact(self, campaign_id: str, contact_id: str, seq: int) -> None:
        self._put(INDEX + campaign_id.encode() + SEP + contact_id.encode(), seq)

    def get_queue(self, campaign_id: str, name: str) -> list[QueueEntry]:
        value: list[QueueEntry] | None = self._get(
            QUEUE + campaign_id.encode() + SEP + name.encode()
        )
        return value if value is not None else []

    def put_queue(self, campaign_id: str, name: str, entries: list[QueueEntry]) -> None:
        self._put(QUEUE + campaign_id.encode() + SEP + name.encode(), entries or None)

    # ---- batches -----------------------------------------------------------------------

    def discard(self, campaign_id: str) -> None:
        """Forget the uncommitted changes of one campaign (its step raised)."""
        cid = campaign_id.encode()
        for dirty in self._dirty.values():
            for key in [k for k in dirty if k[1:].startswith(cid)]:
                del dirty[key]
        for key in [k for k in self._cache if k[1:].startswith(cid)]:
            del self._cache[key]

    def forget(self) -> None:
        """Drop every cached row (partitions moved: another worker may write them now)."""
        self._cache.clear()
        self._dirty.clear()
        self._repaired.clear()

    def touch(self, partition: int) -> None:
        """Make sure `partition` gets a commit (to repair an unclosed run) even with no change."""
        self._dirty.setdefault(partition, {})

    def _writes(self, partition: int, dirty: dict[bytes, Any]) -> list[tuple[bytes, bytes | None]]:
        writes: list[tuple[bytes, bytes | None]] = []
        if partition not in self._repaired:
            # A run a dead writer never closed: rewrite those keys with their committed values.
            self._repaired.add(partition)
            db = self.rocks.db(partition)
            writes.extend(
                (k, db.get(k)) for k in self.rocks.take_unclosed(partition) if k not in dirty
            )
        for key, value in dirty.items():
            writes.append((key, None if value is None else _DUMP[key[0]](value)))
        return writes

    async def commit(self, timeout: float = 60.0) -> int:
        """Write every dirty partition: changelog run + marker, wait for acks, then RocksDB."""
        dirty, self._dirty = self._dirty, {}
        runs: list[tuple[int, list[tuple[bytes, bytes | None]], Any]] = []
        for partition, changes in dirty.items():
            writes = self._writes(partition, changes)
            if not writes:
                continue
            for key, value in writes:
                await self.send(self.changelog, key, value, partition)
            marker = await self.send(self.changelog, MARKER, b"", partition)
            runs.append((partition, writes, marker))
        if not runs:
            return 0
        # The marker is acked after every earlier message of its partition (one in-flight
        # batch per partition, idempotent producer), so its ack covers the whole run.
        metas = await asyncio.wait_for(asyncio.gather(*(m for _, _, m in runs)), timeout)
        count = 0
        for (partition, writes, _), meta in zip(runs, metas, strict=True):
            self.rocks.write(partition, writes, meta.offset)
            count += len(writes)
        return count

    # ---- reading a whole partition ----------------------------------------------------------

    def campaigns(self, partition: int) -> Iterator[CampaignState]:
        """Every campaign record stored on `partition` (committed state)."""
        for key, raw in self.rocks.db(partition).items(from_key=CAMPAIGN):
            if not key.startswith(CAMPAIGN):
                break
            yield records.load_campaign(raw)

    def committed_campaign(self, partition: int, campaign_id: str) -> CampaignState | None:
        raw = self.rocks.db(partition).get(campaign_key(campaign_id))
        return records.load_campaign(raw) if raw is not None else None
