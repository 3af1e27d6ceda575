"""librdkafka's log lines of a broker that is away pass once per kind a minute (issue 17, item 14)."""

from __future__ import annotations

import logging
import socket
from collections import Counter

from confluent_kafka import Producer

from topics.clients import CLIENT_LOG, KafkaSettings, producer_config


class _Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_a_client_with_no_broker_logs_each_kind_of_failure_once() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    keep = _Keep()
    CLIENT_LOG.addHandler(keep)
    try:
        producer = Producer(
            producer_config(
                KafkaSettings(f"127.0.0.1:{port}"),
                **{
                    "reconnect.backoff.ms": 10,
                    "reconnect.backoff.max.ms": 20,
                },
            )
        )
        producer.produce("nowhere", b"x")
        for _ in range(30):
            producer.poll(0.1)  # librdkafka retries the connection every ~20 ms meanwhile
        producer.purge()
        producer.flush(0)
    finally:
        CLIENT_LOG.removeHandler(keep)
    facilities = Counter(
        str(r.args[0]) if isinstance(r.args, tuple) and r.args else "" for r in keep.records
    )
    assert facilities, "the client logged nothing at all: the logger is not wired in"
    assert max(facilities.values()) == 1, facilities
