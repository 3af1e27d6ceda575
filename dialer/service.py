"""The `call:create` consumer: read calls, place them through an adapter, publish outcomes.

Guarantees, and how:
- at most `concurrency` calls in progress: the consumer pauses its partitions when full;
- an instant adapter (`dialer.adapter.InstantAdapter`, e.g. the simulator at time_scale 0)
  is called synchronously, a fetched batch at a time, with no asyncio task per call; any
  other adapter (the webhook) gets one task per call;
- a crash loses no call: a message's offset is committed only once its call has been
  handed off (or the message was skipped/parked), and positions only move past messages
  that are all done (`OffsetTracker`);
- no call twice: handed-off call ids go to a persistent `DedupeStore`, flushed before
  every commit, so a redelivered or replayed `call:create` is dropped;
- a call past its deadline is not dialled: it gets a `failed` outcome, cause
  `deadline_expired`;
- bad input (undecodable, another event, missing numbers) is parked on the dead-letter
  topic with the reason, and consumption goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from campaignflow.config import settings
from dialer import metrics
from dialer.adapter import Adapter, UnknownCall, instant_placer
from dialer.calls import (
    STATUSES,
    BadCall,
    Call,
    Inbound,
    Outcome,
    failed,
    now_ms,
    outcome_record,
    split_call_id,
)
from dialer.dedupe import DedupeStore
from dialer.offsets import OffsetTracker
from topics import catalogue, clients, deadletter
from topics.codec import Codec, DecodeError, default_codec

log = logging.getLogger(__name__)


def default_dialer_id() -> str:
    return settings().dialer_id or f"dialer-{socket.gethostname()}"


@dataclass
class DialerOptions:
    """How one dialer process runs (defaults from settings)."""

    dialer_id: str
    concurrency: int = 100
    group_id: str = "campaignflow-dialer"
    dedupe_path: Path | None = None
    dedupe_size: int = 1_000_000
    topic_prefix: str | None = None  # None: settings().topic_prefix
    bootstrap: str | None = None  # None: settings().bootstrap
    static_membership: bool = True  # a restarted dialer (same id) takes its partitions back at once
    drain_seconds: float = 5.0  # on stop, wait this long for calls in progress
    commit_interval: float = 0.1
    batch: int = 1000

    @classmethod
    def from_settings(cls, **overrides: Any) -> DialerOptions:
        s = settings()
        values: dict[str, Any] = {
            "dialer_id": default_dialer_id(),
            "concurrency": s.dialer_concurrency,
            "group_id": s.dialer_group_id,
            "dedupe_size": s.dialer_dedupe_size,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def dedupe_file(self) -> Path:
        return self.dedupe_path or settings().home / "dialer" / f"{self.dialer_id}.dedupe.sqlite"


class Dialer:
    """One dialer process: a consumer, a producer, an adapter and a dedupe record."""

    def __init__(self, adapter: Adapter, options: DialerOptions, codec: Codec | None = None):
        self.adapter = adapter
        self.options = options
        self.codec = codec or default_codec()
        prefix = options.topic_prefix
        self.call_topic = catalogue.topic_name(catalogue.CALL_CREATE, prefix)
        self.outcome_topic = catalogue.topic_name(catalogue.OUTCOMES, prefix)
        self.inbound_topic = catalogue.topic_name(catalogue.INBOUND, prefix)
        self.deadletter_topic = catalogue.topic_name(catalogue.DEADLETTER, prefix)
        extra: dict[str, Any] = {}
        if options.bootstrap:
            extra["bootstrap.servers"] = options.bootstrap
        consumer_extra = dict(extra, **{"session.timeout.ms": 10_000})
        if options.static_membership:
            consumer_extra["group.instance.id"] = options.dialer_id
        self.consumer = Consumer(clients.consumer_config(options.group_id, **consumer_extra))
        # Delivery reports only for failures: no Python callback per delivered message.
        self.producer = Producer(
            clients.producer_config(
                **extra,
                **{
                    "linger.ms": 5,
                    "on_delivery": self._delivered,
                    "delivery.report.only.error": True,
                },
            )
        )
        self.dedupe = DedupeStore(options.dedupe_file(), options.dedupe_size)
        self.tracker = OffsetTracker()
        self._active: dict[str, asyncio.Task[None]] = {}
        # Calls read but not yet dialled (a fetch may return more than the free slots).
        self._waiting: deque[tuple[Call, str, int, int]] = deque()
        self._waiting_ids: set[str] = set()
        self._paused = False
        self._stop = asyncio.Event()
        self._instant = instant_placer(adapter)
        self._placed = metrics.CALLS_PLACED.labels(adapter.name)
        self._by_status = {st: metrics.OUTCOMES.labels(st) for st in STATUSES}
        # Counted per call, added to the Prometheus counters once per loop turn.
        self._placed_count = 0
        self._status_counts = dict.fromkeys(STATUSES, 0)
        self._delivery_errors = 0

    # -- public ---------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask `run` to finish (drain, flush, commit, close)."""
        self._stop.set()

    async def run(self) -> None:
        """Consume until `stop()`; then drain calls in progress and close everything."""
        await self.adapter.start(self._publish_inbound, self._publish_orphan)
        self.consumer.subscribe(
            [self.call_topic], on_assign=self._on_assign, on_revoke=self._on_revoke
        )
        last_commit = time.monotonic()
        idle = 0.0
        try:
            while not self._stop.is_set():
                self._start_calls()
                self._flow_control()
                free = self.options.concurrency - len(self._active) - len(self._waiting)
                want = max(1, min(free, self.options.batch))
                messages = self.consumer.consume(num_messages=want, timeout=0)
                self._handle_batch(messages)
                self._start_calls()
                self._count()
                self.producer.poll(0)
                now = time.monotonic()
                if now - last_commit >= self.options.commit_interval:
                    self._commit()
                    last_commit = now
                if messages:
                    idle = 0.0
                    await asyncio.sleep(0)
                else:
                    idle = min(0.05, idle + 0.002)
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(self._stop.wait(), idle)
        finally:
            await self._shutdown()

    # -- consuming ------------------------------------------------------------------------

    def _flow_control(self) -> None:
        """Pause the partitions while `concurrency` calls are in progress; resume after."""
        full = len(self._active) + len(self._waiting) >= self.options.concurrency
        if full and not self._paused:
            self.consumer.pause(self.consumer.assignment())
            self._paused = True
        elif not full and self._paused:
            self.consumer.resume(self.consumer.assignment())
            self._paused = False

    def _handle_batch(self, messages: list[Message]) -> None:
        """Validate a fetched batch, drop duplicates (one dedupe lookup per batch), queue the rest."""
        calls = [c for c in (self._parse(m) for m in messages) if c is not None]
        if not calls:
            return
        known = self.dedupe.known([c[0].call_id for c in calls])
        for call, topic, partition, offset in calls:
            cid = call.call_id
            if cid in known or cid in self._active or cid in self._waiting_ids:
                metrics.DEDUPE_HITS.inc()
                self.tracker.done(topic, partition, offset)
                continue
            self._waiting.append((call, topic, partition, offset))
            self._waiting_ids.add(cid)

    def _parse(self, message: Message) -> tuple[Call, str, int, int] | None:
        """The call a message carries, or None (errors logged, bad input parked)."""
        err = message.error()
        if err is not None:
            clients.consumer_error(err, log)
            return None
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        assert topic is not None and partition is not None and offset is not None
        self.tracker.add(topic, partition, offset)
        try:
            value = message.value()
            if value is not None and len(value) > catalogue.MAX_MESSAGE_BYTES:
                raise BadCall(deadletter.oversize_reason(len(value)))
            event, record = self.codec.decode(value, topic, partition, offset)
            if event != "CallCreate":
                raise BadCall(
                    f"expected a CallCreate on {topic}, got a {event} (partition {partition}, offset {offset})"
                )
            return Call.from_record(record), topic, partition, offset
        except (DecodeError, BadCall) as exc:
            self._park(message, str(exc))
            self.tracker.done(topic, partition, offset)
            return None

    def _start_calls(self) -> None:
        """Dial waiting calls while there is room; a call past its deadline is not dialled."""
        place_now = self._instant
        while self._waiting and len(self._active) < self.options.concurrency:
            call, topic, partition, offset = self._waiting.popleft()
            self._waiting_ids.discard(call.call_id)
            now = now_ms()
            if call.deadline <= now:
                metrics.EXPIRED.inc()
                late = (now - call.deadline) / 1000
                cause = (
                    f"deadline_expired: the deadline passed {late:.1f}s before the call"
                    " could be dialled; not dialled"
                )
                self._publish_outcome(call, failed(cause))
                self.dedupe.add(call.call_id)
                self.tracker.done(topic, partition, offset)
                continue
            if place_now is not None:
                self._place_now(place_now, call, topic, partition, offset)
                continue
            task = asyncio.ensure_future(self._place(call, topic, partition, offset))
            self._active[call.call_id] = task

    def _handed_off(self, call: Call, topic: str, partition: int, offset: int) -> None:
        """The call is the adapter's now: remember its id, let its offset be committed."""
        self.dedupe.add(call.call_id)
        self.tracker.done(topic, partition, offset)
        self._placed_count += 1
        metrics.CREATE_TO_DIAL.observe(max(0.0, (now_ms() - call.created_at) / 1000))

    def _place_now(
        self,
        place: Callable[[Call], Outcome | None],
        call: Call,
        topic: str,
        partition: int,
        offset: int,
    ) -> None:
        """Place a call through an instant adapter: outcome published, then handed off."""
        try:
            outcome = place(call)
        except Exception as exc:
            outcome = self._adapter_error(call, exc)
        if outcome is not None:
            self._publish_outcome(call, outcome)
        self._handed_off(call, topic, partition, offset)

    def _adapter_error(self, call: Call, exc: Exception) -> Outcome:
        """An adapter that raised: the call failed, and the error is counted and logged."""
        metrics.ADAPTER_ERRORS.labels(self.adapter.name, "exception").inc()
        log.exception("adapter %s failed on %s", self.adapter.name, call.call_id)
        return failed(f"adapter_error: {type(exc).__name__}: {exc}")

    async def _place(self, call: Call, topic: str, partition: int, offset: int) -> None:
        handed = False

        def on_handoff() -> None:
            nonlocal handed
            if handed:
                return
            handed = True
            self._handed_off(call, topic, partition, offset)

        metrics.IN_PROGRESS.inc()
        try:
            try:
                outcome = await self.adapter.place_call(call, on_handoff)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                outcome = self._adapter_error(call, exc)
            if outcome is not None:
                self._publish_outcome(call, outcome)
            on_handoff()
        finally:
            metrics.IN_PROGRESS.dec()
            self._active.pop(call.call_id, None)

    # -- publishing -----------------------------------------------------------------------

    def _produce(self, topic: str, key: bytes, value: bytes) -> None:
        while True:
            try:
                self.producer.produce(topic, value=value, key=key)
                return
            except BufferError:
                self.producer.poll(0.05)

    def _delivered(self, err: KafkaError | None, message: Message) -> None:
        if err is not None:
            self._delivery_errors += 1
            log.error("could not deliver to %s: %s", message.topic(), err)

    def _publish_outcome(self, call: Call, outcome: Outcome) -> None:
        record = outcome_record(
            call.call_id,
            call.campaign_id,
            call.contact_id,
            call.attempt,
            outcome,
            call.created_at,
            self.options.dialer_id,
        )
        self._produce(
            self.outcome_topic,
            call.campaign_id.encode("utf-8"),
            self.codec.encode("CallOutcome", record),
        )
        self._status_counts[outcome.status] += 1

    def _count(self) -> None:
        """Add the calls placed and outcomes published since the last turn to the counters."""
        if self._placed_count:
            self._placed.inc(self._placed_count)
            self._placed_count = 0
        counts = self._status_counts
        for status, n in counts.items():
            if n:
                self._by_status[status].inc(n)
                counts[status] = 0

    def _publish_orphan(self, call_id: str, outcome: Outcome) -> None:
        """An outcome for a call this process is not waiting for (raises ValueError if bad id).

        Only for a call this dialer placed (its dedupe record has it): anyone holding the
        webhook secret could otherwise write outcomes for any campaign's calls.
        """
        campaign_id, contact_id, attempt = split_call_id(call_id)
        if call_id not in self.dedupe:
            raise UnknownCall(call_id)
        record = outcome_record(
            call_id, campaign_id, contact_id, attempt, outcome, None, self.options.dialer_id
        )
        self._produce(
            self.outcome_topic,
            campaign_id.encode("utf-8"),
            self.codec.encode("CallOutcome", record),
        )
        self._by_status[outcome.status].inc()

    def _publish_inbound(self, event: Inbound) -> None:
        record = event.record(self.options.dialer_id)
        self._produce(
            self.inbound_topic,
            event.agent_id.encode("utf-8"),
            self.codec.encode("InboundCall", record),
        )
        metrics.INBOUND.labels(event.kind).inc()

    def _park(self, message: Message, reason: str) -> None:
        """The shared helper: the dead letter fits the limit, a produce error never stops us."""
        deadletter.park_message(
            cast(Any, self.producer),
            message,
            reason,
            "dialer",
            codec=self.codec,
            dead_letter_topic=self.deadletter_topic,
        )
        metrics.DEADLETTERS.inc()
        log.warning("parked on %s: %s", self.deadletter_topic, reason)

    # -- committing -----------------------------------------------------------------------

    def _commit(self) -> None:
        """Flush the dedupe record, then commit the positions of handed-off messages.

        Synchronous (a few ms every commit_interval): a failed commit is retried next time.
        """
        ready = self.tracker.take_ready()
        if not ready:
            return
        self.dedupe.flush()
        offsets = [TopicPartition(t, p, o) for (t, p), o in ready.items()]
        try:
            self.consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            # Not fatal: the dedupe record already has these calls; retried at the next commit.
            log.warning("commit failed, will retry: %s", exc)
            self.tracker.restore(ready)

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log.info("assigned %s", [(p.topic, p.partition) for p in partitions])
        if self._paused:
            consumer.pause(partitions)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._commit()
        for p in partitions:
            self.tracker.forget(p.topic, p.partition)
        gone = {(p.topic, p.partition) for p in partitions}
        kept = [w for w in self._waiting if (w[1], w[2]) not in gone]
        self._waiting = deque(kept)
        self._waiting_ids = {w[0].call_id for w in kept}

    async def _shutdown(self) -> None:
        active = list(self._active.values())
        if active:
            _done, pending = await asyncio.wait(active, timeout=self.options.drain_seconds)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        await self.adapter.close()
        self._count()
        self.producer.flush(30)
        self._commit()
        self.dedupe.close()
        self.consumer.close()
