"""The sink's flusher thread: one batch's insert at a time, beside the consume loop.

Only one flush runs at a time, in batch order; the consume loop hands over the next batch
only once the previous one is committed (so commits stay in order and at most two
batches are in memory). ClickHouse works with the GIL released, so the two overlap.
`RetryGate` is how an insert waiting to retry learns that its batch was given up
(partitions revoked, the sink stopping): then nothing of it may be committed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from sinks.batch import Batch
from sinks.exceptions import Abandoned


class RetryGate:
    """Where a retrying insert waits; it raises Abandoned once the batch is given up."""

    def __init__(self) -> None:
        self.abandon = threading.Event()
        self.stop: threading.Event | None = None
        self.retrying_now = False  # the flush in flight is waiting to retry

    def wait(self, seconds: float) -> None:
        """Sleep before a retry; give up the batch if its partitions went or the sink stops."""
        self.retrying_now = True
        try:
            end = time.monotonic() + seconds
            while True:
                if self.abandon.is_set() or (self.stop is not None and self.stop.is_set()):
                    raise Abandoned()  # uncommitted: replayed by whoever consumes next
                left = end - time.monotonic()
                if left <= 0:
                    return
                self.abandon.wait(min(0.2, left))
        finally:
            self.retrying_now = False


@dataclass
class Flushed:
    """A batch the flusher is done with: when its rows became visible (None: abandoned)."""

    batch: Batch
    visible_at: float | None


class Flusher:
    """Runs `insert(batch)` in its own thread, one batch at a time."""

    def __init__(self, insert: Callable[[Batch], float | None], gate: RetryGate) -> None:
        self.insert = insert
        self.gate = gate
        self._executor: ThreadPoolExecutor | None = None
        self._in_flight: tuple[Batch, Future[float | None]] | None = None

    @property
    def idle(self) -> bool:
        return self._in_flight is None

    def done(self) -> bool:
        """Whether the batch in flight (if any) is inserted or abandoned."""
        return self._in_flight is None or self._in_flight[1].done()

    def submit(self, batch: Batch) -> None:
        """Start inserting `batch`; the previous one must be settled."""
        assert self._in_flight is None, "one batch in flight at a time"
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="sink-flush")
        self._in_flight = (batch, self._executor.submit(self.insert, batch))

    def wait(self, seconds: float) -> None:
        """Wait up to `seconds` for the batch in flight, less if it starts waiting to retry."""
        if self._in_flight is None:
            return
        future = self._in_flight[1]
        deadline = time.monotonic() + seconds
        while not future.done() and not self.gate.retrying_now and time.monotonic() < deadline:
            future_wait(future, 0.05)

    def settle(self, give_up_retrying: bool = True) -> Flushed | None:
        """Wait for the batch in flight (None if there is none) and hand it back.

        With `give_up_retrying`, an insert waiting to retry is abandoned (revocation, stop).
        """
        if self._in_flight is None:
            return None
        batch, future = self._in_flight
        while not future.done():
            if give_up_retrying and self.gate.retrying_now:
                self.gate.abandon.set()  # the flusher drops the batch; the next owner replays it
            future_wait(future, 0.05)
        self._in_flight = None
        return Flushed(batch, future.result())

    def shutdown(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)


def future_wait(future: Future[Any], seconds: float) -> bool:
    """Whether `future` is done within `seconds` (without raising what it raised)."""
    try:
        future.exception(timeout=seconds)
    except TimeoutError:
        return False
    return True
