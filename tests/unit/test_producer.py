"""The one producer wrapper (topics.producer): the size check, the full queue, parking.

No broker is needed: librdkafka queues locally, and a port nothing listens on keeps
every message queued (the queue's bound is what these tests fill).
"""

from __future__ import annotations

import socket

import pytest

from topics import catalogue, deadletter, producer
from topics.clients import KafkaSettings
from topics.producer import MessageTooLarge, TrackedProducer


def _nowhere() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


def _letter(n: int) -> deadletter.Letter:
    return deadletter.build(
        topic="campaign.contacts",
        partition=0,
        offset=n,
        key=b"k",
        value=b"x" * (catalogue.MAX_MESSAGE_BYTES + 10),  # a message at the limit parks too
        error="bad",
        stage="sink",
        dead_letter_topic="deadletter",
    )


def test_a_message_over_the_limit_is_refused_naming_topic_and_size() -> None:
    p = TrackedProducer(KafkaSettings(_nowhere()))
    too_big = b"x" * (catalogue.MAX_MESSAGE_BYTES + 1)
    with pytest.raises(MessageTooLarge, match=rf"^t1: a message of {len(too_big)} bytes"):
        p.produce("t1", too_big, b"k")
    assert p.sent == 0
    assert p.offer("t1", b"small", b"k") and p.sent == 1 and p.pending == 1


def test_offer_says_full_and_park_gives_up_without_raising(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(producer, "PARK_WAIT_S", 0.1)
    p = TrackedProducer(KafkaSettings(_nowhere()), **{"queue.buffering.max.messages": 1})
    first = _letter(1)
    assert len(first.value) <= catalogue.MAX_MESSAGE_BYTES
    assert first.of == "campaign.contacts[0]@1"
    assert p.park(first)
    assert not p.offer("t1", b"more", b"k")  # the queue holds one message: full
    assert p.park(_letter(2)) is False  # waited, logged, and the consumer goes on
    assert p.sent == 1


def test_produce_all_queues_each_message_under_the_same_rules() -> None:
    p = TrackedProducer(KafkaSettings(_nowhere()))
    p.produce_all("t1", [(b"a", b"k", None), (b"b", "k", 0)])
    assert p.sent == 2 and p.in_flight() == 2
    too_big = b"x" * (catalogue.MAX_MESSAGE_BYTES + 1)
    with pytest.raises(MessageTooLarge, match="^t1: "):
        p.produce_all("t1", [(b"c", b"k", None), (too_big, b"k", None)])
    assert p.sent == 3


def test_offer_many_queues_under_the_same_rules_and_stops_where_the_queue_is_full() -> None:
    p = TrackedProducer(KafkaSettings(_nowhere()), **{"queue.buffering.max.messages": 2})
    reports: list[object] = []
    messages = [("t1", b"k", b"a", None), ("t1", b"k", b"b", 0), ("t1", b"k", b"c", None)]
    assert p.offer_many(messages, 0, 3, lambda err, msg: reports.append(err)) == 2
    assert p.sent == 2  # the third waits for room

    q = TrackedProducer(KafkaSettings(_nowhere()))
    too_big = b"x" * (catalogue.MAX_MESSAGE_BYTES + 1)
    with pytest.raises(MessageTooLarge, match=rf"^t2: a message of {len(too_big)} bytes"):
        q.offer_many([("t2", b"k", b"a", None), ("t2", b"k", too_big, None)], 0, 2, print)
    assert q.sent == 1
