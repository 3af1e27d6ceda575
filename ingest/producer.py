"""A confluent-kafka producer that knows what the broker acknowledged.

Publishing rules of ingest: nothing counts until the broker acknowledged it, and
the create command goes out only after every contact batch did. `wait()` flushes
and raises if anything was refused or is still unacknowledged.
"""

from __future__ import annotations

from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from topics.clients import KafkaSettings, producer_config

# librdkafka logs every failed connection attempt to stderr; the CLI reports failures
# itself in one line, so only critical client logs get through.
QUIET = 2


class DeliveryError(RuntimeError):
    """The broker did not acknowledge every message."""


class TrackedProducer:
    """Idempotent, batching, compressed producer (topics.clients) with delivery counts."""

    def __init__(self, kafka: KafkaSettings, **overrides: Any) -> None:
        conf = producer_config(kafka, log_level=QUIET, **overrides)
        self._producer = Producer(conf)
        self.sent = 0
        self.acked = 0
        self.failures: list[str] = []

    def _delivered(self, err: KafkaError | None, msg: Message) -> None:
        if err is None:
            self.acked += 1
        else:
            self.failures.append(f"{msg.topic()}: {err.str()}")

    def produce(
        self, topic: str, value: bytes | None = None, key: bytes | str | None = None, **_: Any
    ) -> None:
        """Queue one message; waits for room when the local queue is full."""
        while True:
            try:
                self._producer.produce(topic, value=value, key=key, on_delivery=self._delivered)
                break
            except BufferError:
                self._producer.poll(0.05)
        self.sent += 1
        self._producer.poll(0)

    @property
    def pending(self) -> int:
        return self.sent - self.acked - len(self.failures)

    def wait(self, timeout: float = 60.0) -> None:
        """Block until every queued message is acknowledged; DeliveryError otherwise."""
        left = self._producer.flush(timeout)
        if self.failures:
            raise DeliveryError(
                f"{len(self.failures)} message(s) refused by the broker, first: {self.failures[0]}"
            )
        if left:
            raise DeliveryError(
                f"{left} message(s) not acknowledged within {timeout:g}s (is the broker up?)"
            )

    def close(self, timeout: float = 10.0) -> None:
        self._producer.flush(timeout)
