"""The `call:create` consumer: read calls, place them through an adapter, publish outcomes.

This module is the loop (consume, validate, commit, rebalances, ownership); its parts are
`dialer.placer` (waiting and recorded calls, handing them to the adapter),
`dialer.reconciler` (calls a predecessor placed and never reported) and
`dialer.publisher` (outcomes, inbound calls, dead letters), around one producer and the
placed-call record (`dialer.placed`).

Guarantees, and how:
- at most `concurrency` calls in progress: the consumer pauses its partitions when full
  (an instant adapter keeps none in progress: `batch` calls read ahead bound it);
- an instant adapter (`dialer.adapter.InstantAdapter`, e.g. the simulator at time_scale 0)
  is called synchronously, a fetched batch at a time, with no asyncio task per call; any
  other adapter (the webhook) gets one task per call;
- a crash loses no call: a message's offset is committed only once its call has been
  handed off (or the message was skipped/parked), and positions only move past messages
  that are all done (`OffsetTracker`);
- no call twice: before a batch is dialled, each of its calls is written `dialing` to the
  placed-call record (`dialer.placed`, the compacted topic `call.placed`, co-partitioned
  with `call.create`), sent with one flush, and dialled only once the brokers acked it
  (the loop reads and validates the next fetch meanwhile: one batch is recorded at a time,
  and a failed or late ack puts it back); the record of a partition is read back on
  assignment, so a redelivered or replayed `call:create` is dropped, by this dialer or by
  the partition's next owner;
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException, Message, TopicPartition

from dialer import metrics
from dialer.adapter import Adapter
from dialer.calls import BadCall, Call, Outcome, call_key, outcome_record, split_call_id
from dialer.exceptions import UnknownCall
from dialer.offsets import OffsetTracker
from dialer.placed import PlacedRecord
from dialer.placer import Placer, PlacerParts, ReadCall
from dialer.predial import PredialChecker, PredialSecrets
from dialer.publisher import OutcomePublisher, failed_delivery
from dialer.reconciler import Reconciler
from topics import catalogue, clients, deadletter
from topics.catalogue import Topics
from topics.clients import KafkaSettings
from topics.codec import Codec, DecodeError, default_codec
from topics.consumer import TopicConsumer
from topics.producer import TrackedProducer

log = logging.getLogger(__name__)

__all__ = ["Dialer", "DialerSettings", "ReadCall"]


@dataclass(kw_only=True)
class DialerSettings:
    """How one dialer process runs (the command line builds it from its settings)."""

    dialer_id: str
    kafka: KafkaSettings
    topics: Topics = field(default_factory=Topics)  # the layout: names every topic
    concurrency: int = 100
    group_id: str = "campaignflow-dialer"
    dedupe_size: int = 1_000_000  # call ids of the placed-call record kept in memory
    static_membership: bool = True  # a restarted dialer (same id) takes its partitions back at once
    drain_seconds: float = 5.0  # on stop, wait this long for calls in progress
    commit_interval_seconds: float = 0.1
    batch: int = 1000  # calls read at most per fetch; an instant adapter's read-ahead
    session_timeout_ms: int = 10_000  # a dialer silent this long loses its partitions
    reconcile_poll_seconds: float = 1.0  # how often a reconciled call in progress is asked again
    ack_timeout_seconds: float = 30.0  # wait this long for the record's acks before dialling
    # The accounts' pre-dial secrets, `<account_id>.key` (issue 23); None: checks fail
    # (and follow their campaign's on_error).
    predial_secrets_dir: Path | None = None


class Dialer:
    """One dialer process: the consumer loop, with a placer, a reconciler and a publisher
    around one producer and the placed-call record."""

    def __init__(self, adapter: Adapter, options: DialerSettings, codec: Codec | None = None):
        self.adapter = adapter
        self.options = options
        self.codec = codec or default_codec()
        prefix = options.topics.prefix
        self.call_topic = catalogue.topic_name(catalogue.CALL_CREATE, prefix)
        self.placed_topic = catalogue.topic_name(catalogue.PLACED, prefix)
        kafka = options.kafka
        consumer_extra: dict[str, Any] = {"session.timeout.ms": options.session_timeout_ms}
        if options.static_membership:
            consumer_extra["group.instance.id"] = options.dialer_id
        self.consumer = TopicConsumer.build(kafka, options.group_id, **consumer_extra)
        # Delivery reports only for failures: no Python callback per delivered message.
        self.producer = TrackedProducer(
            kafka, errors_only=True, on_error=failed_delivery, quiet=False, **{"linger.ms": 5}
        )
        self.publisher = OutcomePublisher(self.producer, self.codec, prefix, options.dialer_id)
        self.placed = PlacedRecord(
            self.producer,
            clients.consumer_config(kafka, "placed-restore"),
            self.placed_topic,
            self.codec,
            options.dialer_id,
            adapter.name,
            options.dedupe_size,
        )
        self.tracker = OffsetTracker()
        self.reconciler = Reconciler(adapter, self.publisher, options.reconcile_poll_seconds)
        self.predial = PredialChecker(PredialSecrets(options.predial_secrets_dir))
        parts = PlacerParts(
            adapter,
            self.producer,
            self.placed,
            self.publisher,
            self.tracker,
            self._may_dial,
            self.predial,
        )
        self.placer = Placer(
            parts, options.concurrency, options.ack_timeout_seconds, read_ahead=options.batch
        )
        self._lease_s = options.session_timeout_ms / 2000
        self._turn_at = time.monotonic()
        self._suspect = False  # the loop stalled: ownership unproven
        self._fenced = False  # the group moved on without us: dial nothing until it rebalances
        self._paused = False
        self._stop = asyncio.Event()

    # -- public ---------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask `run` to finish (drain, flush, commit, close)."""
        self._stop.set()

    async def run(self) -> None:
        """Consume until `stop()`; then drain calls in progress and close everything."""
        await self.adapter.start(self.publisher.inbound, self._publish_orphan)
        self.consumer.subscribe(
            [self.call_topic], on_assign=self._on_assign, on_revoke=self._on_revoke
        )
        last_commit = time.monotonic()
        idle = 0.0
        try:
            while not self._stop.is_set():
                messages = self._turn()
                now = time.monotonic()
                if now - last_commit >= self.options.commit_interval_seconds:
                    self._commit()
                    last_commit = now
                if messages:
                    idle = 0.0
                    await asyncio.sleep(0)
                elif self.placer.recorded is not None:
                    # Nothing else to do: wait for the records' acks, briefly while calls'
                    # tasks (pre-dial checks, async adapters) need the event loop.
                    self.producer.flush(0.002 if self.placer.active else 0.01)
                    await asyncio.sleep(0)
                else:
                    idle = min(0.05, idle + 0.002)
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(self._stop.wait(), idle)
        finally:
            await self._shutdown()

    def _turn(self) -> int:
        """One turn of the loop: start calls, read a fetch, start calls; how many were read."""
        turn = time.monotonic()
        if turn - self._turn_at > self._lease_s:
            self._suspect = True
        self._turn_at = turn
        placer = self.placer
        placer.start_calls()
        self._flow_control()
        free = placer.free()
        messages = self.consumer.messages(max(1, min(free, self.options.batch)), timeout_seconds=0)
        self._handle_batch(messages)
        placer.start_calls()
        placer.count()
        self.publisher.count()
        self.producer.poll(0)
        return len(messages)

    # -- consuming ------------------------------------------------------------------------

    def _flow_control(self) -> None:
        """Pause the partitions while there is no room for more calls (`Placer.free`)."""
        full = self.placer.free() <= 0
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
        placer = self.placer
        for item in calls:
            key = item.call.key  # call ids are unique per account only
            if key in known or placer.holds(key):
                metrics.DEDUPE_HITS.inc()
                self.tracker.done(item.topic, item.partition, item.offset)
                continue
            placer.wait(item)

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
            self.publisher.park(message, str(exc))
            self.tracker.done(topic, partition, offset)
            return None

    def _may_dial(self) -> bool:
        """False while the group may have moved on: fenced, or stalled past the lease and
        not proven an owner since."""
        if time.monotonic() - self._turn_at > self._lease_s:
            self._suspect = True  # stalled (waiting for acks, a long turn): prove ownership
        return not self._fenced and (not self._suspect or self._still_owner())

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

    # -- publishing -----------------------------------------------------------------------

    def _publish_orphan(self, account_id: str, call_id: str, outcome: Outcome) -> None:
        """An outcome for a call this process is not waiting for (raises ValueError if bad id).

        Only for a call this dialer placed (its dedupe record has it): anyone holding the
        webhook secret could otherwise write outcomes for any campaign's calls.
        """
        key = call_key(account_id, call_id)
        placed = self.placed.dialing_call(key)
        if placed is not None:  # a call being reconciled: this is its outcome
            self.reconciler.cancel(key)
            self.publisher.outcome(placed.call, outcome, placed.partition)
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
        self.publisher.unrecorded_outcome(record, account_id, outcome.status)

    # -- committing -----------------------------------------------------------------------

    def _commit(self) -> None:
        """Record `reported` the calls whose outcomes are acked, then commit the positions of
        handed-off messages.

        Synchronous (a few ms every commit_interval_seconds): a failed commit is retried next time.
        """
        publisher = self.publisher
        if publisher.to_report and self.producer.flush(10) == 0:
            reports, publisher.to_report = publisher.to_report, []
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
            if not self.placer.holds(placed.call.key):
                self.reconciler.start(placed)
        if lost:
            log.info("reconciling %d call(s) placed and never reported", len(lost))

    def _on_revoke(self, partitions: list[TopicPartition]) -> None:
        # A recorded batch is dialled (once acked) while the partitions are still ours.
        self.placer.settle(self.options.ack_timeout_seconds)
        self._commit()
        for p in partitions:
            self.tracker.forget(p.topic, p.partition)
        self.placer.forget({(p.topic, p.partition) for p in partitions})

    async def _shutdown(self) -> None:
        self.placer.settle(self.options.ack_timeout_seconds)
        self.reconciler.cancel_all()
        active = list(self.placer.active.values())
        if active:
            _done, pending = await asyncio.wait(active, timeout=self.options.drain_seconds)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        await self.adapter.close()
        await self.predial.close()
        self.placer.count()
        self.publisher.count()
        self.producer.flush(30)
        self._commit()
        self.producer.flush(30)  # the last `reported` records
        self.consumer.close()
