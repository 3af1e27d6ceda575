"""The one producer wrapper every shell writes to Kafka through (confluent-kafka, wrapped once).

Three rules live here and nowhere else:
- a message over the topics' limit (`catalogue.MAX_MESSAGE_BYTES`) is refused before it
  reaches librdkafka, with a MessageTooLarge naming the topic and the size;
- a full local queue is waited for (`produce` polls delivery reports until there is
  room; `offer` says False instead, for a caller that must wait its own way, an event
  loop);
- deliveries are tracked: `sent`, `acked`, `failures`, and `wait()` raises DeliveryError
  unless the broker acknowledged everything. With `errors_only`, librdkafka reports only
  failures (no Python call per delivered message, for the dialer's hot path).

Parking a dead letter (`park`) goes through the same `produce` and never raises.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import confluent_kafka
from confluent_kafka import KafkaError, KafkaException, Message

from topics.catalogue import MAX_MESSAGE_BYTES
from topics.clients import KafkaSettings, producer_config
from topics.deadletter import Letter
from topics.exceptions import DeliveryError, MessageTooLarge

log = logging.getLogger(__name__)

# librdkafka logs every failed connection attempt to stderr; a CLI reports failures
# itself in one line, so only critical client logs get through.
QUIET = 2
FULL_POLL_S = 0.05  # how long `produce` polls while the local queue is full
PARK_WAIT_S = 10.0  # how long `park` waits for room before it logs and gives up

Delivered = Callable[[KafkaError | None, Message], None]


class TrackedProducer:
    """Idempotent, batching, compressed producer (`topics.clients.producer_config`)."""

    def __init__(
        self,
        kafka: KafkaSettings,
        *,
        errors_only: bool = False,
        on_error: Delivered | None = None,
        quiet: bool = True,
        max_bytes: int = MAX_MESSAGE_BYTES,
        **overrides: Any,
    ) -> None:
        """`errors_only`: delivery reports for failures only (`acked` stays 0); `on_error`
        is called on each failure besides the count. `quiet`: only critical client logs
        (a command line reports failures itself; a service keeps librdkafka's warnings)."""
        conf = producer_config(kafka, **({"log_level": QUIET} if quiet else {}), **overrides)
        if errors_only:
            conf["delivery.report.only.error"] = True
        conf["on_delivery"] = self._delivered
        self.raw = confluent_kafka.Producer(conf)
        self.max_bytes = max_bytes
        self._on_error = on_error
        self.sent = 0
        self.acked = 0
        self.failures: list[str] = []
        # (topic, partition) -> offset of the last acknowledged message: a reader that
        # folds the topic (the API's read model) can wait until it passed a write.
        self.last_offsets: dict[tuple[str, int], int] = {}

    def _delivered(self, err: KafkaError | None, msg: Message) -> None:
        if err is None:
            self.acked += 1
            self.last_offsets[(msg.topic() or "", msg.partition() or 0)] = msg.offset() or 0
            return
        self.failures.append(f"{msg.topic()}: {err.str()}")
        if self._on_error is not None:
            self._on_error(err, msg)

    def _too_large(self, topic: str, size: int) -> MessageTooLarge:
        return MessageTooLarge(
            f"{topic}: a message of {size} bytes is over the limit of {self.max_bytes} bytes"
        )

    def offer(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | str | None = None,
        partition: int | None = None,
        on_delivery: Delivered | None = None,
    ) -> bool:
        """Queue one message; False (nothing queued) when the local queue is full.

        `on_delivery`: the caller's report for this message, instead of the counts.
        Raises MessageTooLarge for a value over the limit.
        """
        if value is not None and len(value) > self.max_bytes:
            raise self._too_large(topic, len(value))
        extra: dict[str, Any] = {} if on_delivery is None else {"on_delivery": on_delivery}
        try:
            if partition is None:
                self.raw.produce(topic, value, key, **extra)
            else:
                self.raw.produce(topic, value, key, partition, **extra)
        except BufferError:
            return False
        self.sent += 1
        return True

    def offer_many(
        self,
        messages: Sequence[tuple[str, bytes | None, bytes | None, int | None]],
        start: int,
        stop: int,
        on_delivery: Delivered,
    ) -> int:
        """`offer` of messages[start:stop], each (topic, key, value, partition or None), all
        reported to `on_delivery`; returns the index of the first one not queued (the queue
        is full) or `stop`. One Python call per batch rather than per message: the worker
        writes several records per outcome."""
        produce = self.raw.produce
        limit = self.max_bytes
        i = start
        try:
            for i in range(start, stop):
                topic, key, value, partition = messages[i]
                if value is not None and len(value) > limit:
                    raise self._too_large(topic, len(value))
                # -1: librdkafka's "unassigned", which the configured partitioner decides
                produce(
                    topic,
                    value,
                    key,
                    -1 if partition is None else partition,
                    on_delivery=on_delivery,
                )
        except BufferError:
            self.sent += i - start
            return i
        except MessageTooLarge:
            self.sent += i - start
            raise
        self.sent += stop - start
        return stop

    def produce(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | str | None = None,
        partition: int | None = None,
        on_delivery: Delivered | None = None,
    ) -> None:
        """Queue one message, waiting (serving delivery reports) while the queue is full."""
        self._queue(topic, value, key, partition, on_delivery)
        self.raw.poll(0)

    def produce_all(
        self, topic: str, messages: Iterable[tuple[bytes | None, bytes | str | None, int | None]]
    ) -> None:
        """`produce` of many (value, key, partition) messages to one topic, serving the
        delivery reports once after them rather than after each (a batch's hot path)."""
        queue = self._queue
        for value, key, partition in messages:
            queue(topic, value, key, partition)
        self.raw.poll(0)

    def _queue(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | str | None,
        partition: int | None,
        on_delivery: Delivered | None = None,
    ) -> None:
        while not self.offer(topic, value, key, partition, on_delivery):
            self.raw.poll(FULL_POLL_S)

    def park(self, letter: Letter) -> bool:
        """Queue a dead letter; never raises: one that cannot be queued is logged (False).

        A dead letter is built to fit the limit (`topics.deadletter`); the wait for room
        is bounded, so a broker away for long does not hold the consumer forever.
        """
        waited = 0.0
        try:
            while not self.offer(letter.topic, letter.value, letter.key):
                if waited >= PARK_WAIT_S:
                    log.error(
                        "could not park %s on %s: producer queue full", letter.of, letter.topic
                    )
                    return False
                self.raw.poll(FULL_POLL_S)
                waited += FULL_POLL_S
        except (KafkaException, ValueError, TypeError) as exc:
            log.error("could not park %s on %s: %s", letter.of, letter.topic, exc)
            return False
        self.raw.poll(0)
        return True

    def poll(self, timeout_s: float = 0.0) -> int:
        """Serve delivery reports; how many were served."""
        return self.raw.poll(timeout_s)

    def in_flight(self) -> int:
        """Messages not yet acknowledged: queued, in flight, or with a report to serve."""
        return len(self.raw)

    def flush(self, timeout_s: float = 60.0) -> int:
        """Wait for every queued message; how many are still unacknowledged."""
        return self.raw.flush(timeout_s)

    @property
    def pending(self) -> int:
        return self.sent - self.acked - len(self.failures)

    def wait(self, timeout_seconds: float = 60.0) -> None:
        """Block until every queued message is acknowledged; DeliveryError otherwise."""
        left = self.raw.flush(timeout_seconds)
        if self.failures:
            raise DeliveryError(
                f"{len(self.failures)} message(s) refused by the broker, first: {self.failures[0]}"
            )
        if left:
            raise DeliveryError(
                f"{left} message(s) not acknowledged within {timeout_seconds:g}s (is the broker up?)"
            )

    def close(self, timeout_seconds: float = 10.0) -> None:
        self.raw.flush(timeout_seconds)
