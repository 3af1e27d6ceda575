"""What the worker writes to Kafka, through librdkafka (confluent-kafka), acked as one future per group.

Faust's aiokafka producer costs a chain of Python calls, a future and a debug log call
per message, and builds produce requests on the event loop; its record-batch API waits
for the previous batch of a partition to leave before taking the next. The worker
writes several records per outcome (call:create, events, changelog), so it writes them
with the project's one producer wrapper instead (`topics.producer`: the same murmur2
partitioning as every other producer, acks=all, ordered per partition, the size check):
a `produce` costs a few microseconds in C, batching and compression run in
librdkafka's threads. A daemon thread serves the delivery reports and resolves, on the
event loop, one future per group of records (served on the loop's own thread instead, the
reports cost the loop more than the hand-over of the GIL to that thread: measured
2026-12-08).

Faust keeps everything else: consuming, offsets, tables and their recovery, ticks.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import Any

from confluent_kafka import KafkaError, KafkaException

from topics.clients import KafkaSettings
from topics.producer import TrackedProducer

Record = tuple[bytes | None, bytes | None]  # key, value
Message = tuple[str, bytes | None, bytes | None, int | None]  # topic, key, value, partition


YIELD_EVERY = 2000  # records offered between two turns of the event loop


class Delivery:
    """Counts the delivery reports of a group of records (only the poll thread counts down)."""

    __slots__ = ("future", "last_offset", "pending", "error", "_loop")

    def __init__(self, loop: asyncio.AbstractEventLoop, count: int) -> None:
        self._loop = loop
        self.future: asyncio.Future[int] = loop.create_future()
        self.pending = count
        self.last_offset = -1  # highest offset acked (a run's marker: its last record)
        self.error: KafkaError | None = None
        if count == 0:
            self.future.set_result(-1)

    def report(self, err: KafkaError | None, msg: Any) -> None:
        if err is not None:
            if self.error is None:
                self.error = err
        else:
            offset = msg.offset()
            if offset > self.last_offset:
                self.last_offset = offset
        self.pending -= 1
        if self.pending == 0:
            self._loop.call_soon_threadsafe(self._resolve)

    def _resolve(self) -> None:
        if self.future.done():
            return
        if self.error is not None:
            self.future.set_exception(KafkaException(self.error))
        else:
            self.future.set_result(self.last_offset)


class Publisher:
    def __init__(self, kafka: KafkaSettings, **overrides: Any) -> None:
        self._producer = TrackedProducer(kafka, quiet=False, **{"linger.ms": 1, **overrides})
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="publisher-poll", daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.05)

    async def publish(self, records: Sequence[Message]) -> Delivery:
        """(topic, key, value, partition) records, a None partition by key (as the shell's
        `Outbound`, taken as they are); one future for all their acks."""
        return await self._produce(records)

    async def send(self, topic: str, partition: int, records: Sequence[Record]) -> Delivery:
        """Records to one partition, in order; the future's result is the last one's offset."""
        return await self._produce([(topic, key, value, partition) for key, value in records])

    async def _produce(self, records: Sequence[Message]) -> Delivery:
        d = Delivery(asyncio.get_running_loop(), len(records))
        offer_many = self._producer.offer_many
        report = d.report
        done, count = 0, len(records)
        while done < count:
            stop = min(done + YIELD_EVERY, count)
            done = offer_many(records, done, stop, report)
            if done < stop:
                await asyncio.sleep(0.005)  # librdkafka's queue is full: let the broker catch up
            elif done < count:
                await asyncio.sleep(0)  # a big run must not hold the loop (timers, the lease)
        return d

    def close(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout)
        self._producer.flush(timeout)
