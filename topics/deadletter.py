"""Park a message that cannot be processed on the dead-letter topic, so consumption goes on.

Every consumer does the same on a bad message: wrap the raw bytes with where they
came from and why (a DeadLetter record), publish it, commit past the message.

A dead letter always fits the topic's limit: the original value is kept up to
VALUE_KEEP_BYTES (with its full length and SHA-256 beside it), the key up to
KEY_KEEP_BYTES and the reason up to ERROR_KEEP_CHARS, so a message at the broker's
limit can be parked too. `build` makes the letter; `topics.producer.TrackedProducer.park`
sends it and never raises a produce error (a dead letter that cannot be sent is logged,
and the consumer goes on).
"""

from __future__ import annotations

import hashlib
import time
from typing import Any, NamedTuple

from topics import catalogue
from topics.codec import Codec, default_codec

STAGES = ("ingest", "engine", "dialer", "sink", "webhook")
VALUE_KEEP_BYTES = 256 * 1024
KEY_KEEP_BYTES = 1024
ERROR_KEEP_CHARS = 4096


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


class Letter(NamedTuple):
    """A dead letter ready to send: where to, its key, the encoded DeadLetter, and what it
    parks (`topic[partition]@offset`, for the log line)."""

    topic: str
    key: bytes
    value: bytes
    of: str


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
) -> Letter:
    """The one way to make a dead letter; any producer sends it (`TrackedProducer.park`, or
    the worker's own publisher). Key: the original topic."""
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
    data = (codec or default_codec()).encode("DeadLetter", record)
    return Letter(
        dead_letter_topic,
        topic.encode("utf-8")[:KEY_KEEP_BYTES],
        data,
        f"{topic}[{partition}]@{offset}",
    )


def of_message(
    message: Any,
    error: str | BaseException,
    stage: str,
    codec: Codec | None = None,
    *,
    dead_letter_topic: str,
) -> Letter:
    """`build` for a confluent-kafka Message (topic/partition/offset/key/value taken from it)."""
    return build(
        topic=message.topic(),
        partition=int(message.partition()),
        offset=int(message.offset()),
        key=message.key(),
        value=message.value(),
        error=error,
        stage=stage,
        codec=codec,
        dead_letter_topic=dead_letter_topic,
    )


def oversize_reason(size: int) -> str:
    """Why a message over the project's limit is parked without being decoded."""
    return (
        f"message of {size} bytes is over the limit of {catalogue.MAX_MESSAGE_BYTES} bytes;"
        " not decoded"
    )
