"""The engine's storage port over the worker's state table (Faust table, RocksDB, changelog).

One table holds everything, with the kind of record as the first key byte, so all the
writes of an account go to one changelog partition, in order (see `streams.rocks`).
Campaign ids are unique per account only: every row names its campaign by
`campaigns.store.campaign_key` ("<account_id>/<campaign_id>"), and the engine's calls
touch the rows of the account the shell scoped the store to (`account`):

    C<account>/<campaign>                 campaign record (small, whatever its size)
    D<account>/<campaign>                 definition
    K<account>/<campaign>\\0<seq:8 bytes>  one contact
    I<account>/<campaign>\\0<contact_id>   contact id -> seq
    Q<account>/<campaign>\\0<queue name>   one queue bucket
    R<account>/<campaign>\\0<key>          recent call times of a number or contact (SPEC 7)
    B<account>/<campaign>\\0<batch key>    a contact batch already taken (`engine.batch_key`)
    A<account_id>                          the account's record (SPEC 8: lines, inbound calls, order)

Reads go through an object cache (decoded records; the engine edits them in place and
`put`s them back), writes stay dirty in memory until the batch ends: a batch of events
costs one encode per changed key, however many times the engine touched it. `seal`
encodes a batch's changes into a `Run` (bytes, so later batches may edit the objects);
until the run is `settle`d into RocksDB its values stay readable from a pending
overlay. `streams.committer` decides when a run reaches the changelog and RocksDB:
never before the outputs of its batch are on the broker.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from campaigns.models import CampaignDefinition
from campaigns.state import AccountState, CampaignState, ContactState
from campaigns.store import QueueEntry, campaign_key
from streams import records
from streams.rocks import AtomicRocksStore

CAMPAIGN = b"C"
DEFINITION = b"D"
CONTACT = b"K"
INDEX = b"I"
QUEUE = b"Q"
RECENT = b"R"
BATCH = b"B"
ACCOUNT = b"A"
SEP = b"\x00"

_DUMP: dict[int, Callable[[Any], bytes]] = {
    CAMPAIGN[0]: records.dump_campaign,
    DEFINITION[0]: records.dump_definition,
    CONTACT[0]: records.dump_contact,
    INDEX[0]: records.dump_seq,
    QUEUE[0]: records.dump_queue,
    RECENT[0]: records.dump_times,
    BATCH[0]: records.dump_seen,
    ACCOUNT[0]: records.dump_account,
}
_LOAD: dict[int, Callable[[bytes], Any]] = {
    CAMPAIGN[0]: records.load_campaign,
    DEFINITION[0]: records.load_definition,
    CONTACT[0]: records.load_contact,
    INDEX[0]: records.load_seq,
    QUEUE[0]: records.load_queue,
    RECENT[0]: records.load_times,
    BATCH[0]: records.load_seen,
    ACCOUNT[0]: records.load_account,
}

ROW_KINDS = {CAMPAIGN[0]: "campaign", DEFINITION[0]: "definition", CONTACT[0]: "contact"}

Writes = dict[bytes, bytes | None]  # key -> encoded value, None deletes


@dataclass(frozen=True, slots=True)
class Run:
    """One batch's state changes, encoded when the batch ended."""

    seq: int  # increasing per store
    generation: int  # `TableStore.generation` when sealed; a revocation moves it on
    writes: dict[int, Writes]  # partition -> changes


def campaign_row(account_id: str, campaign_id: str) -> bytes:
    """The key of a campaign's record."""
    return CAMPAIGN + campaign_key(account_id, campaign_id).encode()


class TableStore:
    """`campaigns.store.Store` for the live worker.

    `partition` and `account` say whose rows the engine's calls touch: the shell sets
    both before each step (the agent is the single writer of the account's campaigns).
    """

    def __init__(self, rocks: AtomicRocksStore, cache_size: int = 200_000) -> None:
        self.rocks = rocks
        self.cache_size = cache_size
        self.partition = 0
        self.account = ""
        self.generation = 0
        self._seq = 0
        self._cache: OrderedDict[bytes, Any] = OrderedDict()
        self._dirty: dict[int, dict[bytes, Any]] = {}
        # Sealed, not yet in RocksDB: partition -> key -> (run seq, encoded value).
        self._pending: dict[int, dict[bytes, tuple[int, bytes | None]]] = {}
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
        pending = self._pending.get(self.partition)
        if pending is not None and key in pending:
            raw = pending[key][1]
        else:
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

    def get_account(self, account_id: str) -> AccountState | None:
        value: AccountState | None = self._get(ACCOUNT + account_id.encode())
        return value

    def put_account(self, state: AccountState) -> None:
        self._put(ACCOUNT + state.account_id.encode(), state)

    def _name(self, campaign_id: str) -> bytes:
        if not self.account:
            raise RuntimeError("TableStore used before the shell named the step's account")
        return campaign_key(self.account, campaign_id).encode()

    def _row(self, kind: bytes, campaign_id: str, sub: bytes) -> bytes:
        return kind + self._name(campaign_id) + SEP + sub

    def get_campaign(self, campaign_id: str) -> CampaignState | None:
        value: CampaignState | None = self._get(CAMPAIGN + self._name(campaign_id))
        return value

    def put_campaign(self, state: CampaignState) -> None:
        self._put(CAMPAIGN + self._name(state.campaign_id), state)

    def get_definition(self, campaign_id: str) -> CampaignDefinition | None:
        value: CampaignDefinition | None = self._get(DEFINITION + self._name(campaign_id))
        return value

    def put_definition(self, definition: CampaignDefinition) -> None:
        self._put(DEFINITION + self._name(definition.campaign_id), definition)

    def get_contact(self, campaign_id: str, seq: int) -> ContactState | None:
        value: ContactState | None = self._get(
            self._row(CONTACT, campaign_id, seq.to_bytes(8, "big"))
        )
        return value

    def put_contact(self, campaign_id: str, state: ContactState) -> None:
        self._put(self._row(CONTACT, campaign_id, state.seq.to_bytes(8, "big")), state)

    def find_contact(self, campaign_id: str, contact_id: str) -> int | None:
        value: int | None = self._get(self._row(INDEX, campaign_id, contact_id.encode()))
        return value

    def index_contact(self, campaign_id: str, contact_id: str, seq: int) -> None:
        self._put(self._row(INDEX, campaign_id, contact_id.encode()), seq)

    def drop_contact(self, campaign_id: str, seq: int, contact_id: str) -> None:
        self._put(self._row(CONTACT, campaign_id, seq.to_bytes(8, "big")), None)
        self._put(self._row(INDEX, campaign_id, contact_id.encode()), None)

    def get_queue(self, campaign_id: str, name: str) -> list[QueueEntry]:
        value: list[QueueEntry] | None = self._get(self._row(QUEUE, campaign_id, name.encode()))
        return value if value is not None else []

    def put_queue(self, campaign_id: str, name: str, entries: list[QueueEntry]) -> None:
        self._put(self._row(QUEUE, campaign_id, name.encode()), entries or None)

    def get_recent(self, campaign_id: str, key: str) -> tuple[int, ...]:
        value: tuple[int, ...] | None = self._get(self._row(RECENT, campaign_id, key.encode()))
        return value if value is not None else ()

    def put_recent(self, campaign_id: str, key: str, times: tuple[int, ...]) -> None:
        self._put(self._row(RECENT, campaign_id, key.encode()), times or None)

    def has_batch(self, campaign_id: str, batch_key: str) -> bool:
        return self._get(self._row(BATCH, campaign_id, batch_key.encode())) is not None

    def add_batch(self, campaign_id: str, batch_key: str) -> None:
        self._put(self._row(BATCH, campaign_id, batch_key.encode()), True)

    def oversized(self, campaign_id: str, limit: int, contacts: bool) -> list[tuple[str, int]]:
        """The campaign's changed rows whose encoded key and value would be over `limit`
        bytes (no message could carry them to the changelog): its campaign and definition
        rows, and with `contacts` its contact rows too. Encodes only those rows."""
        dirty = self._dirty.get(self.partition)
        if not dirty:
            return []
        name = self._name(campaign_id)
        keys = [CAMPAIGN + name, DEFINITION + name]
        if contacts:
            prefix = CONTACT + name + SEP
            keys += [k for k in dirty if k.startswith(prefix)]
        found = []
        for key in keys:
            value = dirty.get(key)
            if value is not None:
                size = len(key) + len(_DUMP[key[0]](value))
                if size > limit:
                    found.append((ROW_KINDS[key[0]], size))
        return found

    # ---- batches -----------------------------------------------------------------------

    def discard(self, campaign_id: str) -> None:
        """Forget the uncommitted changes of one campaign of the scoped account (its step raised)."""
        name = self._name(campaign_id)
        prefix = name + SEP  # "abc" must not take "abcd"'s rows with it

        def of_campaign(key: bytes) -> bool:
            return key[1:] == name or key[1:].startswith(prefix)

        for dirty in self._dirty.values():
            for key in [k for k in dirty if of_campaign(k)]:
                del dirty[key]
        for key in [k for k in self._cache if of_campaign(k)]:
            del self._cache[key]

    def discard_account(self, account_id: str) -> None:
        """Forget the uncommitted changes of every row of one account (its step raised)."""
        own = account_id.encode()
        prefix = campaign_key(account_id, "").encode()  # "acme/": not "acme2"'s rows

        def of_account(key: bytes) -> bool:
            return key[1:] == own or key[1:].startswith(prefix)

        for dirty in self._dirty.values():
            for key in [k for k in dirty if of_account(k)]:
                del dirty[key]
        for key in [k for k in self._cache if of_account(k)]:
            del self._cache[key]

    def forget(self) -> None:
        """Drop every cached row (partitions moved: another worker may write them now)."""
        self.generation += 1
        self._cache.clear()
        self._dirty.clear()
        self._pending.clear()
        self._repaired.clear()

    def touch(self, partition: int) -> None:
        """Make sure `partition` gets a commit (to repair an unclosed run) even with no change."""
        self._dirty.setdefault(partition, {})

    def _writes(self, partition: int, dirty: dict[bytes, Any]) -> Writes:
        writes: Writes = {}
        if partition not in self._repaired:
            # A run a dead writer never closed: rewrite those keys with their committed values.
            self._repaired.add(partition)
            db = self.rocks.db(partition)
            for key in self.rocks.take_unclosed(partition):
                if key not in dirty:
                    writes[key] = db.get(key)
        for key, value in dirty.items():
            writes[key] = None if value is None else _DUMP[key[0]](value)
        return writes

    def seal(self) -> Run:
        """End the batch: its changes, encoded, readable from the overlay until settled."""
        dirty, self._dirty = self._dirty, {}
        self._seq += 1
        seq = self._seq
        runs: dict[int, Writes] = {}
        for partition, changes in dirty.items():
            writes = self._writes(partition, changes)
            if not writes:
                continue
            runs[partition] = writes
            pending = self._pending.setdefault(partition, {})
            for key, value in writes.items():
                pending[key] = (seq, value)
        return Run(seq, self.generation, runs)

    def settle(self, partition: int, writes: Writes, offset: int, seq: int) -> None:
        """Runs up to `seq` are on the changelog up to `offset`: write them to RocksDB."""
        self.rocks.write(partition, writes.items(), offset)
        pending = self._pending.get(partition)
        if pending:
            for key in writes:
                entry = pending.get(key)
                if entry is not None and entry[0] <= seq:
                    del pending[key]

    # ---- reading a whole partition ----------------------------------------------------------

    def campaigns(self, partition: int) -> Iterator[tuple[str, CampaignState]]:
        """(campaign key, record) of every campaign stored on `partition` (committed state)."""
        for key, raw in self.rocks.db(partition).items(from_key=CAMPAIGN):
            if not key.startswith(CAMPAIGN):
                break
            yield key[1:].decode(), records.load_campaign(raw)

    def committed_campaign(
        self, partition: int, account_id: str, campaign_id: str
    ) -> CampaignState | None:
        raw = self.rocks.db(partition).get(campaign_row(account_id, campaign_id))
        return records.load_campaign(raw) if raw is not None else None
