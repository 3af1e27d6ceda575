"""The RocksDB store under the state table: a step's writes become visible all at once.

The worker writes each batch of state changes to the changelog as one run of key
messages closed by a marker message (key `MARKER`), all on one changelog partition, in
order. Recovery and standbys apply a run only when its marker arrives, so a worker
killed half-way through a run leaves no half-applied step behind; the unclosed tail is
kept in `pending` so the next active worker can overwrite those keys with their
committed values (see `TableStore`). Registered with Faust as the `cfrocks://` store.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import rocksdict
from faust import stores
from faust.stores.rocksdb import Store as RocksStore
from faust.types import TP, EventT

MARKER = b"\x00commit"


class AtomicRocksStore(RocksStore):
    """Faust's RocksDB store, applying changelog runs only when closed by a marker."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pending: dict[TP, list[tuple[bytes, bytes | None]]] = {}

    def apply_changelog_batch(
        self,
        batch: Iterable[EventT],
        to_key: Callable[[Any], Any],
        to_value: Callable[[Any], Any],
    ) -> None:
        for event in batch:
            msg = event.message
            tp = msg.tp
            if msg.key == MARKER:
                self.write(tp.partition, self.pending.pop(tp, []), msg.offset)
            else:
                if msg.key is not None:
                    self.pending.setdefault(tp, []).append((msg.key, msg.value))

    def write(
        self, partition: int, writes: Iterable[tuple[bytes, bytes | None]], offset: int | None
    ) -> None:
        """One atomic RocksDB write: the run's keys and, with it, the changelog offset reached."""
        wb = rocksdict.WriteBatch(raw_mode=True)
        for key, value in writes:
            if value is None:
                wb.delete(key)
            else:
                wb.put(key, value)
        if offset is not None:
            wb.put(self.offset_key, str(offset).encode())
        self.db(partition).write(wb)

    def db(self, partition: int) -> Any:
        return self._db_for_partition(partition)

    def take_unclosed(self, partition: int) -> set[bytes]:
        """Keys of runs never closed by a marker on `partition` (a writer died mid-run)."""
        keys: set[bytes] = set()
        for tp in [tp for tp in self.pending if tp.partition == partition]:
            keys.update(k for k, _ in self.pending.pop(tp))
        return keys


stores.STORES.aliases["cfrocks"] = f"{__name__}:AtomicRocksStore"
