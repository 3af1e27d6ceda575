"""Park a message that cannot be processed on the dead-letter topic, so consumption goes on.

Every consumer does the same on a bad message: wrap the raw bytes with where they
came from and why (a DeadLetter record), publish it, commit past the message.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from topics import catalogue
from topics.codec import Codec, DecodeError, default_codec

STAGES = ("ingest", "engine", "dialer", "sink", "webhook")


class _Producer(Protocol):
    def produce(self, topic: str, value: Any = ..., key: Any = ..., **kwargs: Any) -> None: ...


def envelope(
    *,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | str | None,
    value: bytes | None,
    error: str | BaseException,
    stage: str,
    failed_at_ms: int | None = None,
) -> dict[str, Any]:
    """The DeadLetter record for a failed message."""
    if stage not in STAGES:
        raise ValueError(f"stage must be one of {', '.join(STAGES)}, not {stage!r}")
    return {
        "topic": topic,
        "partition": int(partition),
        "offset": int(offset),
        "key": key.encode("utf-8") if isinstance(key, str) else key,
        "value": value or b"",
        "error": str(error),
        "stage": stage,
        "failed_at": failed_at_ms if failed_at_ms is not None else int(time.time() * 1000),
    }


def build(
    *,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | str | None,
    value: bytes | None,
    error: str | BaseException,
    stage: str,
    failed_at_ms: int | None = None,
    codec: Codec | None = None,
) -> tuple[str, bytes, bytes]:
    """(dead-letter topic, key, value bytes) ready to send with any producer (Faust's too)."""
    record = envelope(
        topic=topic,
        partition=partition,
        offset=offset,
        key=key,
        value=value,
        error=error,
        stage=stage,
        failed_at_ms=failed_at_ms,
    )
    return _encoded(record, topic, codec)


def park(
    producer: _Producer,
    *,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | str | None,
    value: bytes | None,
    error: str | BaseException,
    stage: str,
    failed_at_ms: int | None = None,
    codec: Codec | None = None,
    dead_letter_topic: str | None = None,
) -> dict[str, Any]:
    """Publish the DeadLetter envelope with a confluent-kafka producer; returns the record.

    The caller keeps consuming; flushing is left to its normal produce/flush cycle.
    """
    record = envelope(
        topic=topic,
        partition=partition,
        offset=offset,
        key=key,
        value=value,
        error=error,
        stage=stage,
        failed_at_ms=failed_at_ms,
    )
    default_topic, dl_key, data = _encoded(record, topic, codec)
    producer.produce(dead_letter_topic or default_topic, value=data, key=dl_key)
    return record


def _encoded(record: dict[str, Any], topic: str, codec: Codec | None) -> tuple[str, bytes, bytes]:
    """(dead-letter topic, key = the original topic, envelope bytes)."""
    data = (codec or default_codec()).encode("DeadLetter", record)
    return catalogue.topic_name(catalogue.DEADLETTER), topic.encode("utf-8"), data


def park_message(
    producer: _Producer,
    message: Any,
    error: str | BaseException,
    stage: str,
    codec: Codec | None = None,
    dead_letter_topic: str | None = None,
) -> dict[str, Any]:
    """`park` for a confluent-kafka Message (topic/partition/offset/key/value taken from it)."""
    return park(
        producer,
        topic=message.topic(),
        partition=message.partition(),
        offset=message.offset(),
        key=message.key(),
        value=message.value(),
        error=error,
        stage=stage,
        codec=codec,
        dead_letter_topic=dead_letter_topic,
    )


def decode_or_park(
    producer: _Producer,
    message: Any,
    stage: str,
    codec: Codec | None = None,
    dead_letter_topic: str | None = None,
) -> tuple[str, dict[str, Any]] | None:
    """Decode a confluent-kafka Message, or park it and return None so the caller moves on.

    The usual consumer loop: `decoded = decode_or_park(producer, msg, "sink")`,
    `if decoded is None: continue`.
    """
    codec = codec or default_codec()
    try:
        return codec.decode(message.value(), message.topic(), message.partition(), message.offset())
    except DecodeError as exc:
        park_message(
            producer, message, exc, stage, codec=codec, dead_letter_topic=dead_letter_topic
        )
        return None
