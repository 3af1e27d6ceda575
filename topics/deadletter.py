"""Park a message that cannot be processed on the dead-letter topic, so consumption goes on.

Every consumer does the same on a bad message: wrap the raw bytes with where they
came from and why (a DeadLetter record), publish it, commit past the message.

A dead letter always fits the topic's limit: the original value is kept up to
VALUE_KEEP_BYTES (with its full length and SHA-256 beside it), the key up to
KEY_KEEP_BYTES and the reason up to ERROR_KEEP_CHARS, so a message at the broker's
limit can be parked too. `park` never raises a produce error: a dead letter that
cannot be sent is logged, and the consumer goes on.
"""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Any, Protocol

from confluent_kafka import KafkaException

from topics import catalogue
from topics.codec import Codec, DecodeError, default_codec

log = logging.getLogger(__name__)

STAGES = ("ingest", "engine", "dialer", "sink", "webhook")
VALUE_KEEP_BYTES = 256 * 1024
KEY_KEEP_BYTES = 1024
ERROR_KEEP_CHARS = 4096
_BUFFER_RETRIES = 200  # polls of 50 ms while the producer's queue is full (10 s)


class _Producer(Protocol):
    def produce(self, topic: str, value: Any = ..., key: Any = ..., **kwargs: Any) -> None: ...


def _clip(text: str) -> str:
    if len(text) <= ERROR_KEEP_CHARS:
        return text
    return text[:ERROR_KEEP_CHARS] + f"... ({len(text) - ERROR_KEEP_CHARS} more characters)"


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
    """The DeadLetter record for a failed message (value and key cut to fit, see above)."""
    if stage not in STAGES:
        raise ValueError(f"stage must be one of {', '.join(STAGES)}, not {stage!r}")
    raw = bytes(value or b"")
    raw_key = key.encode("utf-8") if isinstance(key, str) else key
    reason = str(error)
    if raw_key is not None and len(raw_key) > KEY_KEEP_BYTES:
        reason += f" (key of {len(raw_key)} bytes cut to {KEY_KEEP_BYTES})"
        raw_key = raw_key[:KEY_KEEP_BYTES]
    if len(raw) > VALUE_KEEP_BYTES:
        reason += f" (value of {len(raw)} bytes: only its first {VALUE_KEEP_BYTES} are kept)"
    return {
        "topic": topic[:ERROR_KEEP_CHARS],
        "partition": int(partition),
        "offset": int(offset),
        "key": raw_key,
        "value": raw[:VALUE_KEEP_BYTES],
        "error": _clip(reason),
        "stage": stage,
        "failed_at": failed_at_ms if failed_at_ms is not None else int(time.time() * 1000),
        "value_length": len(raw),
        "value_sha256": hashlib.sha256(raw).hexdigest(),
    }


def is_truncated(record: dict[str, Any]) -> bool:
    """Whether a dead letter holds only the first bytes of its original value."""
    length = record.get("value_length")
    return length is not None and length != len(record.get("value") or b"")


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
    dead_letter_topic: str,
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
    return _encoded(record, topic, codec, dead_letter_topic)


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
    dead_letter_topic: str,
) -> dict[str, Any]:
    """Publish the DeadLetter envelope with a confluent-kafka producer; returns the record.

    The caller keeps consuming; flushing is left to its normal produce/flush cycle. A
    full queue is waited for (polling the producer); any other produce error is logged
    and swallowed, so a dead letter can never stop its consumer.
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
    target, dl_key, data = _encoded(record, topic, codec, dead_letter_topic)
    for _ in range(_BUFFER_RETRIES):
        try:
            producer.produce(target, value=data, key=dl_key)
            return record
        except BufferError:
            poll = getattr(producer, "poll", None)
            if poll is None:
                break
            poll(0.05)
        except (KafkaException, ValueError, TypeError) as exc:
            log.error("could not park %s[%d]@%d on %s: %s", topic, partition, offset, target, exc)
            return record
    log.error(
        "could not park %s[%d]@%d on %s: producer queue full", topic, partition, offset, target
    )
    return record


def _encoded(
    record: dict[str, Any], topic: str, codec: Codec | None, dead_letter_topic: str
) -> tuple[str, bytes, bytes]:
    """(dead-letter topic, key = the original topic, envelope bytes)."""
    data = (codec or default_codec()).encode("DeadLetter", record)
    return dead_letter_topic, topic.encode("utf-8")[:KEY_KEEP_BYTES], data


def park_message(
    producer: _Producer,
    message: Any,
    error: str | BaseException,
    stage: str,
    codec: Codec | None = None,
    *,
    dead_letter_topic: str,
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
    *,
    dead_letter_topic: str,
) -> tuple[str, dict[str, Any]] | None:
    """Decode a confluent-kafka Message, or park it and return None so the caller moves on.

    The usual consumer loop: `decoded = decode_or_park(producer, msg, "sink", dead_letter_topic=dl)`,
    `if decoded is None: continue`.
    """
    codec = codec or default_codec()
    value = message.value()
    if value is not None and len(value) > catalogue.MAX_MESSAGE_BYTES:
        park_message(
            producer,
            message,
            oversize_reason(len(value)),
            stage,
            codec=codec,
            dead_letter_topic=dead_letter_topic,
        )
        return None
    try:
        return codec.decode(value, message.topic(), message.partition(), message.offset())
    except DecodeError as exc:
        park_message(
            producer, message, exc, stage, codec=codec, dead_letter_topic=dead_letter_topic
        )
        return None


def oversize_reason(size: int) -> str:
    """Why a message over the project's limit is parked without being decoded."""
    return (
        f"message of {size} bytes is over the limit of {catalogue.MAX_MESSAGE_BYTES} bytes;"
        " not decoded"
    )
