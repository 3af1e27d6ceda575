"""The placing side of a dialer: calls wait, are recorded `dialing` a batch at a time, and
are handed to the adapter once the record is acked (see `dialer.service` for the why).

One batch is recorded at a time, with one flush that is not waited for: the loop reads and
validates the next fetch while the acks travel. A failed or late ack puts the batch back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from dialer import metrics
from dialer.adapter import Adapter, instant_placer
from dialer.calls import Call, Outcome, failed, now_ms
from dialer.offsets import OffsetTracker
from dialer.placed import PlacedRecord
from dialer.predial import PredialChecker, PredialSecrets
from dialer.publisher import OutcomePublisher
from topics.producer import TrackedProducer

log = logging.getLogger(__name__)


class ReadCall(NamedTuple):
    """A call read from its topic, with where it was read (committed once it is done)."""

    call: Call
    topic: str
    partition: int
    offset: int


@dataclass
class RecordedBatch:
    """Calls whose `dialing` records are produced and not yet known to be acknowledged."""

    calls: list[ReadCall]
    recorded_at_s: float  # time.monotonic() when the records were produced
    failures_at: int  # the producer's delivery failures counted then
    reportable: list[tuple[Call, int]]  # outcomes produced before: acked with the records


@dataclass
class PlacerParts:
    """What a placer works with (the dialer builds them)."""

    adapter: Adapter
    producer: TrackedProducer
    placed: PlacedRecord
    publisher: OutcomePublisher
    tracker: OffsetTracker
    may_dial: Callable[[], bool]  # False while this dialer's ownership is unproven or lost
    predial: PredialChecker | None = None  # the calls' pre-dial checks (issue 23)


class Placer:
    """Waiting, recorded and in-progress calls, and handing them to the adapter."""

    def __init__(
        self,
        parts: PlacerParts,
        concurrency: int,
        ack_timeout_seconds: float,
        read_ahead: int | None = None,
    ) -> None:
        self.parts = parts
        self.concurrency = concurrency
        # Calls an instant adapter may have read and not yet dialled (default: concurrency).
        self.read_ahead = read_ahead or concurrency
        self.ack_timeout_seconds = ack_timeout_seconds
        self.active: dict[str, asyncio.Task[None]] = {}
        # Calls read but not yet dialled (a fetch may return more than the free slots).
        self.waiting: deque[ReadCall] = deque()
        self.waiting_ids: set[str] = set()  # keys of the waiting and recorded calls
        self.recorded: RecordedBatch | None = None
        self._instant = instant_placer(parts.adapter)
        self._placed = metrics.CALLS_PLACED.labels(parts.adapter.name)
        self._placed_count = 0  # added to the Prometheus counter once per turn

    @property
    def capacity(self) -> int:
        """Calls that may be waiting or in progress here at once.

        `concurrency` bounds calls in progress. An instant adapter ends a call as it is
        placed, so none stays in progress: bounded by `concurrency` too, its calls went out
        a batch of `concurrency` per acked record (100 by default, about one batch per
        loop turn), which capped a dev stack near 1,000 calls/s whatever the campaigns
        allowed (issue 26). Its bound is the read-ahead, a fetch's worth of calls.
        """
        return self.read_ahead if self._instant is not None else self.concurrency

    def free(self) -> int:
        """Room for more calls read from the topic (the consumer pauses at 0)."""
        return self.capacity - len(self.active) - len(self.waiting)

    def holds(self, key: str) -> bool:
        """True for a call waiting, recorded or in progress here."""
        return key in self.active or key in self.waiting_ids

    def wait(self, item: ReadCall) -> None:
        self.waiting.append(item)
        self.waiting_ids.add(item.call.key)

    def _take(self) -> list[ReadCall]:
        """The next waiting calls there is room for, in order: at most `capacity` read, and
        at most `concurrency` in progress, counting those that stay in progress once
        dialled (every call of an adapter that is not instant; a call with a pre-dial
        check, whose task holds it while the check runs)."""
        room = self.capacity - len(self.active)
        slots = self.concurrency - len(self.active)
        batch: list[ReadCall] = []
        waiting = self.waiting
        while waiting and len(batch) < room:
            stays = self._instant is None or waiting[0].call.predial is not None
            if stays and slots <= 0:
                break
            slots -= stays
            batch.append(waiting.popleft())
        return batch

    def start_calls(self) -> None:
        """Dial the recorded batch once its records are acked, then record the next one."""
        if self.recorded is not None and not self.settle():
            return
        self._record_next()

    def _record_next(self) -> None:
        """Write `dialing` records for as many waiting calls as there is room for (a call
        past its deadline is not dialled); they are dialled once acked (`settle`)."""
        parts = self.parts
        while self.waiting and self.recorded is None:
            batch = self._take() if parts.may_dial() else []
            if not batch:
                return
            now = now_ms()
            dial = []
            for item in batch:
                call, topic, partition, offset = item
                if call.deadline <= now:
                    self.waiting_ids.discard(call.key)
                    self._expired(item, now)
                else:
                    dial.append(ReadCall(call.placed(now), topic, partition, offset))
            if not dial:
                continue
            parts.placed.dialing([(item.call, item.partition) for item in dial], now)
            # Outcomes produced before these records are acked with them: then `reported`.
            reportable, parts.publisher.to_report = parts.publisher.to_report, []
            failures = len(parts.producer.failures)
            self.recorded = RecordedBatch(dial, time.monotonic(), failures, reportable)
            parts.producer.flush(0)  # send now rather than after linger.ms

    def settle(self, wait_s: float = 0.0) -> bool:
        """True once the recorded batch is gone: dialled (its records acked, ownership
        sure) or put back to wait (a delivery failed, or no ack within the ack timeout).
        `wait_s`: how long to wait for the acks (0: only look)."""
        batch, producer = self.recorded, self.parts.producer
        if batch is None:
            return True
        if wait_s > 0:
            producer.flush(wait_s)
        else:
            producer.poll(0)
        failed_now = len(producer.failures) > batch.failures_at
        waited_s = time.monotonic() - batch.recorded_at_s
        pending = not failed_now and producer.in_flight() > 0
        if pending and waited_s < self.ack_timeout_seconds:
            return False
        if failed_now or producer.in_flight() > 0:
            log.warning("placed-call record not acked: %d calls wait", len(batch.calls))
            self._put_back(batch)
            return False
        if not self.parts.may_dial():
            self._put_back(batch)
            return False
        self.recorded = None
        if batch.reportable:
            self.parts.placed.reported(batch.reportable)
        for item in batch.calls:
            self.waiting_ids.discard(item.call.key)
        self._dial(batch.calls)
        return True

    def _put_back(self, batch: RecordedBatch) -> None:
        """A recorded batch not dialled: its calls wait again (their records are written
        again before they are dialled), its outcomes wait for their `reported` record."""
        self.recorded = None
        self.waiting.extendleft(reversed(batch.calls))
        self.parts.publisher.to_report[:0] = batch.reportable

    def forget(self, gone: set[tuple[str, int]]) -> None:
        """Drop the waiting calls of revoked partitions (their next owner reads them)."""
        kept = [w for w in self.waiting if (w.topic, w.partition) not in gone]
        self.waiting = deque(kept)
        self.waiting_ids = {w.call.key for w in kept}

    def count(self) -> None:
        if self._placed_count:
            self._placed.inc(self._placed_count)
            self._placed_count = 0

    # -- handing calls to the adapter -----------------------------------------------------

    def _dial(self, batch: list[ReadCall]) -> None:
        """Hand recorded calls to the adapter (synchronously when it is instant); a call
        with a pre-dial check gets its own task, which asks first (checks overlap)."""
        checked = [item for item in batch if item.call.predial is not None]
        if checked:
            batch = [item for item in batch if item.call.predial is None]
            for item in checked:
                self.active[item.call.key] = asyncio.ensure_future(self._check_then_place(item))
        if self._instant is not None:
            if batch:
                self._place_now(self._instant, batch)
            return
        for item in batch:
            self.active[item.call.key] = asyncio.ensure_future(self._place(item))

    async def _check_then_place(self, item: ReadCall) -> None:
        """Ask the call's pre-dial check; dial on yes, else report it `skipped` (SPEC 9)."""
        if self.parts.predial is None:
            self.parts.predial = PredialChecker(PredialSecrets(None))
        try:
            verdict = await self.parts.predial.verdict(item.call)
        except BaseException:
            self.active.pop(item.call.key, None)
            raise
        if not verdict.dial:
            self.parts.publisher.outcome(item.call, verdict.outcome(), item.partition)
            self.parts.tracker.done(item.topic, item.partition, item.offset)
            self.active.pop(item.call.key, None)
            return
        now = now_ms()
        if item.call.deadline <= now:  # the check took the call past its deadline
            self.active.pop(item.call.key, None)
            self._expired(item, now)
            return
        if self._instant is not None:
            self.active.pop(item.call.key, None)
            self._place_now(self._instant, [item])
            return
        await self._place(item)

    def _expired(self, item: ReadCall, now: int) -> None:
        """A call past its deadline: `failed` (deadline_expired), not dialled."""
        metrics.EXPIRED.inc()
        late = (now - item.call.deadline) / 1000
        cause = (
            f"deadline_expired: the deadline passed {late:.1f}s before the call"
            " could be dialled; not dialled"
        )
        self.parts.publisher.outcome(item.call, failed(cause), item.partition)
        self.parts.tracker.done(item.topic, item.partition, item.offset)

    def _handed_off(self, item: ReadCall, now: int) -> None:
        """The call is the adapter's now (and recorded): let its offset be committed."""
        self.parts.tracker.done(item.topic, item.partition, item.offset)
        self._placed_count += 1
        metrics.CREATE_TO_DIAL.observe(max(0.0, (now - item.call.created_at) / 1000))

    def _place_now(self, place: Callable[[Call], Outcome | None], batch: list[ReadCall]) -> None:
        """Place calls through an instant adapter: their outcomes published (encoded
        together), then the calls handed off."""
        ended: list[tuple[Call, Outcome, int]] = []
        for item in batch:
            try:
                outcome = place(item.call)
            except Exception as exc:
                outcome = self._adapter_error(item.call, exc)
            if outcome is not None:
                ended.append((item.call, outcome, item.partition))
        self.parts.publisher.outcomes(ended)
        now = now_ms()
        for item in batch:
            self._handed_off(item, now)

    def _adapter_error(self, call: Call, exc: Exception) -> Outcome:
        """An adapter that raised: the call failed, and the error is counted and logged."""
        name = self.parts.adapter.name
        metrics.ADAPTER_ERRORS.labels(name, "exception").inc()
        log.exception("adapter %s failed on %s", name, call.call_id)
        return failed(f"adapter_error: {type(exc).__name__}: {exc}")

    async def _place(self, item: ReadCall) -> None:
        call = item.call
        handed = False

        def on_handoff() -> None:
            nonlocal handed
            if not handed:
                handed = True
                self._handed_off(item, now_ms())

        metrics.IN_PROGRESS.inc()
        try:
            try:
                outcome = await self.parts.adapter.place_call(call, on_handoff)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                outcome = self._adapter_error(call, exc)
            if outcome is not None:
                self.parts.publisher.outcome(call, outcome, item.partition)
            on_handoff()
        finally:
            metrics.IN_PROGRESS.dec()
            self.active.pop(call.key, None)
