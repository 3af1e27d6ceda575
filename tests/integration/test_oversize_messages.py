"""One garbage message just under the broker's limit stops no consumer (issue 17, item 5).

Before: the dead letter of a 1,040,000-byte message was over the producer's limit,
produce() raised MSG_SIZE_TOO_LARGE, and the worker, the dialer and the sink stopped
(and read the same message again after a restart). Now each parks it (value cut, its
length and SHA-256 kept) and processes the good message behind it.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from campaigns.events import CommandKind
from dialer.service import DialerSettings
from tests.integration.dialer_kit import call_record, caught_up, drop_topics, read_all
from tests.integration.dialer_kit import make_topics as dialer_topics
from tests.integration.test_dialer_kafka import instant, outcomes, running
from tests.integration.test_worker import command, contacts, create, definition, statuses
from tests.integration.worker_rig import Rig, ScriptedDialer, wait_until
from topics import catalogue
from topics.catalogue import Topics
from topics.clients import KafkaSettings, producer_config
from topics.codec import encode

GARBAGE_BYTES = 1_040_000


def garbage() -> bytes:
    """Incompressible bytes that are no wire format of ours (first byte 0x07)."""
    return b"\x07" + random.Random(17).randbytes(GARBAGE_BYTES - 1)


def produce(bootstrap: str, topic: str, key: bytes, value: bytes) -> tuple[int, int]:
    """Publish one message; (partition, offset) once acked.

    The limit is raised here so the garbage lands whatever the project's producer allows
    (the broker's own default takes it): the consumers under test must cope with it.
    """
    overrides = {"message.max.bytes": 2_000_000}
    producer = Producer(producer_config(KafkaSettings(bootstrap), **overrides))
    where: list[tuple[int, int]] = []

    def done(err: Any, msg: Any) -> None:
        assert err is None, err
        where.append((msg.partition(), msg.offset()))

    producer.produce(topic, key=key, value=value, on_delivery=done)
    assert producer.flush(30) == 0
    return where[0]


def assert_parked(letter: dict[str, Any], topic: str, where: tuple[int, int], value: bytes) -> None:
    assert letter["topic"] == topic
    assert (letter["partition"], letter["offset"]) == where
    assert letter["value_length"] == len(value) == GARBAGE_BYTES
    assert letter["value_sha256"] == hashlib.sha256(value).hexdigest()
    assert value.startswith(letter["value"]) and len(letter["value"]) < len(value)


@pytest.fixture()
def rig(kafka_bootstrap: str, tmp_path: Path) -> Iterator[Rig]:
    r = Rig(kafka_bootstrap, tmp_path)
    r.activate("acme")  # an account without a subscription record cannot start
    try:
        yield r
    finally:
        r.close()


def test_worker_parks_a_garbage_message_at_the_limit_and_goes_on(rig: Rig) -> None:
    dialer = ScriptedDialer(rig, {}, default="answered")
    events = rig.collect(catalogue.EVENTS)
    parked = rig.collect(catalogue.DEADLETTER)
    port = rig.start_worker()
    rig.wait_ready(port)
    bad = garbage()
    d = definition("huge-next")
    sent = {
        logical: produce(rig.bootstrap, rig.topic(logical), d.account_id.encode(), bad)
        for logical in (catalogue.COMMANDS, catalogue.OUTCOMES)
    }
    create(rig, d, 2)
    rig.send_contacts(d.campaign_id, contacts(2))
    command(rig, d.campaign_id, CommandKind.start, "h-start")
    wait_until(lambda: "completed" in statuses(events, d.campaign_id), 90, "the good campaign")
    assert len({c["call_id"] for c in dialer.calls()}) == 2

    def letters() -> dict[str, dict[str, Any]]:
        return {r["topic"]: r for name, r in parked.snapshot() if name == "DeadLetter"}

    wait_until(lambda: len(letters()) >= 2, 60, "two dead letters")
    for logical, where in sent.items():
        assert_parked(letters()[rig.topic(logical)], rig.topic(logical), where, bad)
    assert rig.workers[port].poll() is None, rig.log(port)[-3000:]


def test_worker_refuses_a_contact_batch_over_the_limit_without_decoding_it(rig: Rig) -> None:
    """A compressible 3 MB batch passes the broker (lz4) but is parked unread (item 7)."""
    from topics import translate

    parked = rig.collect(catalogue.DEADLETTER)
    events = rig.collect(catalogue.EVENTS)
    dialer = ScriptedDialer(rig, {}, default="answered")
    port = rig.start_worker()
    rig.wait_ready(port)
    d = definition("fat-batch")
    many = contacts(1)[0]
    huge = [
        type(many)(f"x{i}", i + 1, f"+1202555{3000 + i:04d}", [], {"name": "y" * 1000})
        for i in range(3000)
    ]
    rec = translate.batch_to_record(d.campaign_id, "fat", huge, 0, d.account_id)
    value = rig.codec.encode("ContactBatch", rec)
    assert len(value) > 3 * catalogue.MAX_MESSAGE_BYTES // 2
    big = Producer(
        producer_config(KafkaSettings(rig.bootstrap), **{"message.max.bytes": 8_000_000})
    )
    big.produce(rig.topic(catalogue.CONTACTS), key=d.account_id.encode(), value=value)
    assert big.flush(30) == 0
    create(rig, d, 2)
    rig.send_contacts(d.campaign_id, contacts(2))
    command(rig, d.campaign_id, CommandKind.start, "f-start")
    wait_until(lambda: "completed" in statuses(events, d.campaign_id), 90, "the good contacts")
    assert {c["contact_id"] for c in dialer.calls()} == {"c0", "c1"}
    letters = wait_until(
        lambda: [
            r for n, r in parked.snapshot() if n == "DeadLetter" and "over the limit" in r["error"]
        ],
        60,
        "the refused batch",
    )
    assert letters[0]["value_length"] == len(value)
    assert letters[0]["topic"] == rig.topic(catalogue.CONTACTS)


def test_dialer_parks_a_garbage_message_at_the_limit_and_goes_on(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    names = dialer_topics(topic_prefix)
    try:
        call_topic = catalogue.topic_name(catalogue.CALL_CREATE, topic_prefix)
        bad = garbage()
        where = produce(kafka_bootstrap, call_topic, b"camp", bad)
        good = call_record("camp", "after-the-garbage")
        produce(kafka_bootstrap, call_topic, b"camp", encode("CallCreate", good))
        group = f"g-{uuid.uuid4().hex[:6]}"
        opts = DialerSettings(
            dialer_id=f"d-{uuid.uuid4().hex[:6]}",
            group_id=group,
            kafka=KafkaSettings(kafka_bootstrap),
            topics=Topics(prefix=topic_prefix),
        )
        with running(instant(), opts):
            wait_until(lambda: caught_up(kafka_bootstrap, group, call_topic), 90, "the commit")
        assert [r["call_id"] for r in outcomes(kafka_bootstrap, topic_prefix)] == [good["call_id"]]
        dead = catalogue.topic_name(catalogue.DEADLETTER, topic_prefix)
        letters = [r for _m, e, r in read_all(kafka_bootstrap, dead) if e == "DeadLetter"]
        assert len(letters) == 1
        assert_parked(letters[0], call_topic, where, bad)
        assert letters[0]["stage"] == "dialer"
    finally:
        drop_topics(names)


def test_sink_parks_a_garbage_message_at_the_limit_and_goes_on(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from campaignflow.config import settings
    from tests.helpers import free_port
    from tests.integration.sink_kit import (
        SinkProcess,
        call_create,
        call_outcome,
        make_topics,
    )
    from tests.integration.sink_kit import wait_for as sink_wait

    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_bootstrap)
    settings.cache_clear()
    names = make_topics(topic_prefix)
    try:
        bad = garbage()
        cid = f"huge-{uuid.uuid4().hex[:6]}"
        sent = {}
        for logical in (catalogue.OUTCOMES, catalogue.CALL_CREATE):
            topic = catalogue.topic_name(logical, settings().topic_prefix)
            sent[topic] = produce(kafka_bootstrap, topic, cid.encode(), bad)
        produce(
            kafka_bootstrap,
            catalogue.topic_name(catalogue.CALL_CREATE, settings().topic_prefix),
            cid.encode(),
            encode("CallCreate", call_create(cid, "k0", 1)),
        )
        produce(
            kafka_bootstrap,
            catalogue.topic_name(catalogue.OUTCOMES, settings().topic_prefix),
            cid.encode(),
            encode("CallOutcome", call_outcome(cid, "k0", 1, "answered")),
        )
        sink = SinkProcess(tmp_path / "home", free_port(), f"sink-{topic_prefix}").start()
        try:
            where = f"campaign_id = '{cid}'"
            sink_wait(
                lambda: (
                    sink.scalar(f"SELECT count() FROM v_attempts WHERE {where}") == 1
                    and sink.scalar(f"SELECT count() FROM v_outcomes WHERE {where}") == 1
                ),
                120,
                "the good rows behind the garbage",
            )
        finally:
            assert sink.stop() == 0
        dead = catalogue.topic_name(catalogue.DEADLETTER, settings().topic_prefix)
        letters = {
            r["topic"]: r for _m, e, r in read_all(kafka_bootstrap, dead) if e == "DeadLetter"
        }
        assert set(letters) == set(sent)
        for topic, at in sent.items():
            assert_parked(letters[topic], topic, at, bad)
            assert letters[topic]["stage"] == "sink"
    finally:
        drop_topics(names)
