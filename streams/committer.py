"""Commits batches behind the agent: state reaches the changelog only after its outputs did.

The agent steps batch N+1 while batch N's outputs are still on their way to the
broker. The committer, one task, takes the sealed batches in order (all that are
waiting, as one group) and for each group:

1. waits for the acks of the outputs (call:create, events, dead letters) of its batches;
2. sends their state changes as ONE changelog run per partition, closed by a marker
   (later batches' values win), and waits for the marker's ack;
3. writes RocksDB with the marker's offset (`TableStore.settle`);
4. only then acks the batches' input events, so Faust may commit their offsets.

A crash anywhere replays inputs whose effects are either not in the state (the run was
never closed) or already on the broker (outputs acked first): repeated call:create
records carry the same call ids, nothing is lost or counted twice. The queue of sealed
batches is bounded, which is the agent's back-pressure. Any failure stops the committer
for good (nothing after a failed batch may be committed): `on_error` (the app stops the
worker) and the agent's next `submit` hear of it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from streams import metrics
from streams.publish import Delivery, Publisher
from streams.rocks import MARKER
from streams.tablestore import Run, TableStore, Writes

log = logging.getLogger(__name__)


class Ackable(Protocol):
    """A consumed message (Faust's `Message.ack(consumer)` marks its offset committable)."""

    def ack(self, consumer: Any, n: int = 1) -> bool: ...


@dataclass(frozen=True, slots=True)
class Sealed:
    """One handled batch: its output deliveries, its state changes, its input messages."""

    outputs: Delivery
    run: Run
    events: Sequence[Ackable]


# Sealed batches committed together: merged writes save work, but one commit of many
# batches' runs is one long RocksDB write that holds the event loop.
GROUP_MAX = 4


class Committer:
    def __init__(
        self,
        store: TableStore,
        publisher: Publisher,
        changelog: str,
        max_waiting: int = 16,
        timeout: float = 60.0,
        on_error: Callable[[BaseException], Awaitable[None]] | None = None,
        consumer: Any = None,
        before_write: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        # Called before the changelog is written (the worker's lease: a zombie stops there).
        self.before_write = before_write
        self.consumer = consumer  # the app's consumer, which commits acked offsets
        self.on_error = on_error  # the app crashes the worker: memory is ahead of the commits
        self.publisher = publisher
        self.changelog = changelog  # the state table's changelog topic
        self.timeout = timeout
        self.error: BaseException | None = None
        self._queue: asyncio.Queue[Sealed] = asyncio.Queue(max_waiting)
        self._open = 0  # submitted, not yet committed (or dropped)
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None

    async def submit(self, sealed: Sealed) -> None:
        """Queue a batch for commit; waits while `max_waiting` batches already wait."""
        if self.error is not None:
            raise RuntimeError("the committer failed; nothing more may be committed") from (
                self.error
            )
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop())
        self._open += 1
        self._idle.clear()
        await self._queue.put(sealed)

    async def drain(self) -> None:
        """Wait until every submitted batch is committed (or the committer failed)."""
        await self._idle.wait()

    async def _loop(self) -> None:
        while True:
            group = [await self._queue.get()]
            while len(group) < GROUP_MAX and not self._queue.empty():
                group.append(self._queue.get_nowait())
            started = time.perf_counter()
            try:
                async with asyncio.timeout(self.timeout):
                    await self._commit(group)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # raised to the agent by its next `submit`
                self.error = exc
                log.exception("commit failed; the worker stops committing")
                self._open = 0
                self._idle.set()
                if self.on_error is not None:
                    await self.on_error(exc)
                return
            metrics.COMMIT_SECONDS.observe(time.perf_counter() - started)
            self._open -= len(group)
            if self._open == 0:
                self._idle.set()

    async def _commit(self, group: list[Sealed]) -> None:
        for s in group:
            await s.outputs.future  # resolved in order of acks; all are needed anyway
        current = [s for s in group if s.run.generation == self.store.generation]
        # Batches sealed before a revocation are dropped: their inputs are not acked and
        # replay on the partitions' new owner.
        merged: dict[int, Writes] = {}
        for s in current:
            for partition, writes in s.run.writes.items():
                merged.setdefault(partition, {}).update(writes)
        if self.before_write is not None:
            self.before_write()
        if merged:
            await self._write_runs(merged, current[-1].run.seq)
        consumer = self.consumer
        for s in current:
            for message in s.events:
                message.ack(consumer)
        metrics.COMMIT_GROUP.observe(len(group))

    async def _write_runs(self, merged: dict[int, Writes], seq: int) -> None:
        runs: list[tuple[int, Writes, Delivery]] = []
        for partition, writes in merged.items():
            records: list[tuple[bytes | None, bytes | None]] = list(writes.items())
            records.append((MARKER, b""))
            runs.append(
                (partition, writes, await self.publisher.send(self.changelog, partition, records))
            )
        for partition, writes, delivery in runs:
            offset = await delivery.future  # the marker's: the run's last record
            self.store.settle(partition, writes, offset, seq)
