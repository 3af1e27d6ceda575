"""The `call:create` consumer: read calls, place them through an adapter, publish outcomes.

Guarantees, and how:
- at most `concurrency` calls in progress: the consumer pauses its partitions when full;
- an instant adapter (`dialer.adapter.InstantAdapter`, e.g. the simulator at time_scale 0)
  is called synchronously, a fetched batch at a time, with no asyncio task per call; any
  other adapter (the webhook) gets one task per call;
- a crash loses no call: a message's offset is committed only once its call has been
  handed off (or the message was skipped/parked), and positions only move past messages
  that are all done (`OffsetTracker`);
- no call twice: before a fetched batch is dialled, each call is written `dialing` to the
  placed-call record (`dialer.placed`, the compacted topic `call.placed`, co-partitioned
  with `call.create`) and the brokers' acks are awaited; the record of a partition is
  read back on assignment, so a redelivered or replayed `call:create` is dropped, by this
  dialer or by the partition's next owner;
- a dialer taking over a partition reconciles the calls its predecessor placed and never
  reported: it asks the adapter (`lookup`) and reports the outcome, or `failed` with
  cause `dialer_lost` when nobody knows;
- a paused dialer (stopped process, long stall) that may have been fenced proves it still
  owns its partitions (a synchronous commit) before it dials what it fetched before;
- a call past its deadline is not dialled: it gets a `failed` outcome, cause
  `deadline_expired`;
- bad input (undecodable, another event, missing numbers) is parked on the dead-letter
  topic with the reason, and consumption goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

from confluent_kafka import KafkaError, KafkaException, Message, TopicPartition

from dialer import metrics
from dialer.adapter import (
    ENDED,
    IN_PROGRESS,
    UNKNOWN,
    Adapter,
    Lookup,
    instant_placer,
    lookup_of,
)
from dialer.calls import (
    STATUSES,
    BadCall,
    Call,
    Inbound,
    Outcome,
    call_key,
    failed,
    now_ms,
    outcome_record,
    split_call_id,
)
from dialer.exceptions import UnknownCall
from dialer.offsets import OffsetTracker
from dialer.placed import PlacedCall, PlacedRecord
from topics import catalogue, clients, deadletter
from topics.clients import KafkaSettings
from topics.codec import Codec, DecodeError, default_codec
from topics.consumer import TopicConsumer
from topics.producer import TrackedProducer

log = logging.getLogger(__name__)


@dataclass(kw_only=True)
class DialerOptions:
    """How one dialer process runs (the command line builds it from its settings)."""

    dialer_id: str
    kafka: KafkaSettings
    topic_prefix: str = ""
    concurrency: int = 100
    group_id: str = "campaignflow-dialer"
    dedupe_size: int = 1_000_000  # call ids of the placed-call record kept in memory
    static_membership: bool = True  # a restarted dialer (same id) takes its partitions back at once
    drain_seconds: float = 5.0  # on stop, wait this long for calls in progress
    commit_interval: float = 0.1
    batch: int = 1000
    session_timeout_ms: int = 10_000  # a dialer silent this long loses its partitions
    reconcile_poll_seconds: float = 1.0  # how often a reconciled call in progress is asked again
    ack_timeout_seconds: float = 30.0  # wait this long for the record's acks before dialling


class ReadCall(NamedTuple):
    """A call read from its topic, with where it was read (committed once it is done)."""

    call: Call
    topic: str
    partition: int
    offset: int


class Dialer:
    """One dialer process: a consumer, a producer, an adapter and the placed-call record."""

    def __init__(self, adapter: Adapter, options: DialerOptions, codec: Codec | None = None):
        self.adapter = adapter
        self.options = options
        self.codec = codec or default_codec()
        prefix = options.topic_prefix
        self.call_topic = catalogue.topic_name(catalogue.CALL_CREATE, prefix)
        self.outcome_topic = catalogue.topic_name(catalogue.OUTCOMES, prefix)
        self.inbound_topic = catalogue.topic_name(catalogue.INBOUND, prefix)
        self.deadletter_topic = catalogue.topic_name(catalogue.DEADLETTER, prefix)
        self.placed_topic = catalogue.topic_name(catalogue.PLACED, prefix)
        kafka = options.kafka
        consumer_extra: dict[str, Any] = {"session.timeout.ms": options.session_timeout_ms}
        if options.static_membership:
            consumer_extra["group.instance.id"] = options.dialer_id
        self.consumer = TopicConsumer.build(kafka, options.group_id, **consumer_extra)
        # Delivery reports only for failures: no Python callback per delivered message.
        self.producer = TrackedProducer(
            kafka,
            errors_only=True,
            on_error=self._delivered,
            quiet=False,
            **{"linger.ms": 5},
        )
        self.placed = PlacedRecord(
            self.producer,
            clients.consumer_config(kafka, "placed-restore"),
            self.placed_topic,
            self.codec,
            options.dialer_id,
            adapter.name,
            options.dedupe_size,
        )
        # Outcomes published whose `reported` record waits for their acks (next commit).
        self._to_report: list[tuple[Call, int]] = []
        self._reconciling: dict[str, asyncio.Task[None]] = {}
        self._lease_s = options.session_timeout_ms / 2000
        self._turn_at = time.monotonic()
        self._suspect = False  # the loop stalled: ownership unproven
        self._fenced = False  # the group moved on without us: dial nothing until it rebalances
        self.tracker = OffsetTracker()
        self._active: dict[str, asyncio.Task[None]] = {}
        # Calls read but not yet dialled (a fetch may return more than the free slots).
        self._waiting: deque[ReadCall] = deque()
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
                turn = time.monotonic()
                if turn - self._turn_at > self._lease_s:
                    self._suspect = True
                self._turn_at = turn
                self._start_calls()
                self._flow_control()
                free = self.options.concurrency - len(self._active) - len(self._waiting)
                want = max(1, min(free, self.options.batch))
                messages = self.consumer.messages(want, timeout_seconds=0)
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
        """Validate a fetched batch, drop the calls the placed-call record lists, queue the rest."""
        calls = [c for c in (self._parse(m) for m in messages) if c is not None]
        if not calls:
            return
        known = self.placed.known([c.call.key for c in calls])
        for call, topic, partition, offset in calls:
            key = call.key  # call ids are unique per account only
            if key in known or key in self._active or key in self._waiting_ids:
                metrics.DEDUPE_HITS.inc()
                self.tracker.done(topic, partition, offset)
                continue
            self._waiting.append(ReadCall(call, topic, partition, offset))
            self._waiting_ids.add(key)

    def _parse(self, message: Message) -> ReadCall | None:
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
            return ReadCall(Call.from_record(record), topic, partition, offset)
        except (DecodeError, BadCall) as exc:
            self._park(message, str(exc))
            self.tracker.done(topic, partition, offset)
            return None

    def _start_calls(self) -> None:
        """Dial waiting calls while there is room, a batch at a time; the batch is recorded
        (acked) first, and a call past its deadline is not dialled."""
        while self._waiting and len(self._active) < self.options.concurrency:
            if self._fenced or (self._suspect and not self._still_owner()):
                return
            room = self.options.concurrency - len(self._active)
            batch = [self._waiting.popleft() for _ in range(min(room, len(self._waiting)))]
            now = now_ms()
            dial = []
            for item in batch:
                call, topic, partition, offset = item
                self._waiting_ids.discard(call.key)
                if call.deadline <= now:
                    self._expired(call, topic, partition, offset, now)
                else:
                    dial.append(ReadCall(replace(call, placed_at=now), topic, partition, offset))
            if not dial:
                continue
            self.placed.dialing([(item.call, item.partition) for item in dial], now)
            acked = self.placed.wait_acked(self.options.ack_timeout_seconds)
            if time.monotonic() - self._turn_at > self._lease_s:
                self._suspect = True  # stalled while waiting: prove ownership first
            if not acked or (self._suspect and not self._still_owner()):
                if not acked:
                    log.warning("placed-call record not acked: %d calls wait", len(dial))
                self._waiting.extendleft(reversed(dial))
                self._waiting_ids.update(item.call.key for item in dial)
                return
            self._dial(dial)

    def _dial(self, batch: list[ReadCall]) -> None:
        """Hand recorded calls to the adapter (synchronously when it is instant)."""
        place_now = self._instant
        for call, topic, partition, offset in batch:
            if place_now is not None:
                self._place_now(place_now, call, topic, partition, offset)
                continue
            task = asyncio.ensure_future(self._place(call, topic, partition, offset))
            self._active[call.key] = task

    def _expired(self, call: Call, topic: str, partition: int, offset: int, now_ms: int) -> None:
        """A call past its deadline: `failed` (deadline_expired), not dialled."""
        metrics.EXPIRED.inc()
        late = (now_ms - call.deadline) / 1000
        cause = (
            f"deadline_expired: the deadline passed {late:.1f}s before the call"
            " could be dialled; not dialled"
        )
        self._publish_outcome(call, failed(cause), partition)
        self.tracker.done(topic, partition, offset)

    def _still_owner(self) -> bool:
        """After a stall: a synchronous commit succeeds only for a member the group still
        counts (a fenced one gets an error, then a rebalance that revokes its partitions)."""
        assignment = self.consumer.assignment()
        try:
            committed = self.consumer.committed(assignment) if assignment else []
            offsets = [tp for tp in committed if tp.offset >= 0]
            if offsets:
                self.consumer.commit(offsets)
        except KafkaException as exc:
            log.warning(
                "after a stall this dialer is no longer in its group (%s): dialling"
                " nothing until the group rebalances",
                exc,
            )
            self._fenced = True
            metrics.FENCED.inc()
            return False
        self._suspect = False
        self._turn_at = time.monotonic()
        return True

    def _handed_off(self, call: Call, topic: str, partition: int, offset: int) -> None:
        """The call is the adapter's now (and recorded): let its offset be committed."""
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
            self._publish_outcome(call, outcome, partition)
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
                self._publish_outcome(call, outcome, partition)
            on_handoff()
        finally:
            metrics.IN_PROGRESS.dec()
            self._active.pop(call.key, None)

    # -- publishing -----------------------------------------------------------------------

    def _produce(self, topic: str, key: bytes, value: bytes) -> None:
        self.producer.produce(topic, value, key)

    def _delivered(self, err: KafkaError | None, message: Message) -> None:
        if err is not None:
            self._delivery_errors += 1
            log.error("could not deliver to %s: %s", message.topic(), err)

    def _publish_outcome(self, call: Call, outcome: Outcome, partition: int) -> None:
        """Publish a call's outcome; its `reported` record follows once the outcome is acked."""
        self._to_report.append((call, partition))
        record = outcome_record(
            call.call_id,
            call.campaign_id,
            call.account_id,
            call.contact_id,
            call.attempt,
            outcome,
            call.created_at,
            self.options.dialer_id,
        )
        self._produce(
            self.outcome_topic,
            catalogue.account_key(call.account_id),
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

    def _publish_orphan(self, account_id: str, call_id: str, outcome: Outcome) -> None:
        """An outcome for a call this process is not waiting for (raises ValueError if bad id).

        Only for a call this dialer placed (its dedupe record has it): anyone holding the
        webhook secret could otherwise write outcomes for any campaign's calls.
        """
        key = call_key(account_id, call_id)
        placed = self.placed.dialing_call(key)
        if placed is not None:  # a call being reconciled: this is its outcome
            task = self._reconciling.pop(key, None)
            if task is not None:
                task.cancel()
            self._publish_outcome(placed.call, outcome, placed.partition)
            return
        campaign_id, contact_id, attempt = split_call_id(call_id)
        if key not in self.placed:
            raise UnknownCall(call_id)
        record = outcome_record(
            call_id,
            campaign_id,
            account_id,
            contact_id,
            attempt,
            outcome,
            None,
            self.options.dialer_id,
        )
        self._produce(
            self.outcome_topic,
            catalogue.account_key(account_id),
            self.codec.encode("CallOutcome", record),
        )
        self._by_status[outcome.status].inc()

    def _publish_inbound(self, event: Inbound) -> None:
        record = event.record(self.options.dialer_id)
        self._produce(
            self.inbound_topic,
            catalogue.account_key(event.account_id),
            self.codec.encode("InboundCall", record),
        )
        metrics.INBOUND.labels(event.kind).inc()

    def _park(self, message: Message, reason: str) -> None:
        """The shared helper: the dead letter fits the limit, a produce error never stops us."""
        self.producer.park(
            deadletter.of_message(
                message, reason, "dialer", codec=self.codec, dead_letter_topic=self.deadletter_topic
            )
        )
        metrics.DEADLETTERS.inc()
        log.warning("parked on %s: %s", self.deadletter_topic, reason)

    # -- committing -----------------------------------------------------------------------

    def _commit(self) -> None:
        """Record `reported` the calls whose outcomes are acked, then commit the positions of
        handed-off messages.

        Synchronous (a few ms every commit_interval): a failed commit is retried next time.
        """
        if self._to_report and self.producer.flush(10) == 0:
            reports, self._to_report = self._to_report, []
            self.placed.reported(reports)
        ready = self.tracker.take_ready()
        if not ready:
            return
        offsets = [TopicPartition(t, p, o) for (t, p), o in ready.items()]
        try:
            self.consumer.commit(offsets)
        except KafkaException as exc:
            # Not fatal: the placed-call record has these calls; retried at the next commit.
            log.warning("commit failed, will retry: %s", exc)
            self.tracker.restore(ready)

    def _on_assign(self, partitions: list[TopicPartition]) -> None:
        log.info("assigned %s", [(p.topic, p.partition) for p in partitions])
        self._fenced = self._suspect = False
        self._turn_at = time.monotonic()
        if self._paused:
            self.consumer.pause(partitions)
        mine = [p.partition for p in partitions if p.topic == self.call_topic]
        lost = self.placed.restore(mine)
        metrics.RECORD_RESTORES.inc()
        for placed in lost:
            key = placed.call.key
            if key not in self._active and key not in self._reconciling:
                self._reconciling[key] = asyncio.ensure_future(self._reconcile(placed))
        if lost:
            log.info("reconciling %d call(s) placed and never reported", len(lost))

    async def _reconcile(self, placed: PlacedCall) -> None:
        """Ask the adapter what became of a call placed before and never reported; report it.

        Ended: its outcome. Silent: nothing (the engine times it out). In progress: asked
        again until it ends or its deadline passes (then the engine times it out). Unknown,
        no `lookup`, or the adapter cannot say after 3 tries: `failed`, cause `dialer_lost`.
        """
        call = placed.call
        look = lookup_of(self.adapter)
        errors = 0
        try:
            while True:
                if look is None:
                    result = Lookup(UNKNOWN)
                else:
                    try:
                        result = await look(call, placed.placed_at)
                    except asyncio.CancelledError:
                        raise
                    except Exception as exc:
                        errors += 1
                        log.warning("lookup of %s failed (%d): %s", call.call_id, errors, exc)
                        if errors < 3:
                            await asyncio.sleep(self.options.reconcile_poll_seconds)
                            continue
                        result = Lookup(UNKNOWN)
                if result.state == IN_PROGRESS and now_ms() < call.deadline:
                    wait = self.options.reconcile_poll_seconds
                    if result.ends_at_ms is not None:
                        wait = max(0.0, (min(result.ends_at_ms, call.deadline) - now_ms()) / 1000)
                    await asyncio.sleep(wait)
                    continue
                metrics.RECONCILED.labels(result.state).inc()
                if result.state == ENDED and result.outcome is not None:
                    self._publish_outcome(call, result.outcome, placed.partition)
                elif result.state == UNKNOWN:
                    cause = (
                        f"dialer_lost: placed by {placed.dialer_id} through {placed.adapter},"
                        " which has no record of it"
                    )
                    self._publish_outcome(call, failed(cause), placed.partition)
                else:  # silent, or still in progress at its deadline: the engine times it out
                    self._to_report.append((call, placed.partition))
                return
        finally:
            self._reconciling.pop(call.key, None)

    def _on_revoke(self, partitions: list[TopicPartition]) -> None:
        self._commit()
        for p in partitions:
            self.tracker.forget(p.topic, p.partition)
        gone = {(p.topic, p.partition) for p in partitions}
        kept = [w for w in self._waiting if (w.topic, w.partition) not in gone]
        self._waiting = deque(kept)
        self._waiting_ids = {w.call.key for w in kept}

    async def _shutdown(self) -> None:
        for task in list(self._reconciling.values()):
            task.cancel()
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
        self.producer.flush(30)  # the last `reported` records
        self.consumer.close()
