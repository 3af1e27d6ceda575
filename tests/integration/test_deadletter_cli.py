"""Parked records can be listed and replayed to where they came from, bytes unchanged."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from confluent_kafka import Consumer

from tests.helpers import wait_until
from topics import catalogue
from topics.admin import admin_client, create_topics
from topics.clients import consumer_config
from topics.deadletter import build
from topics.producer import TrackedProducer

EXE = str(Path(sys.executable).parent / "campaignflow")


def test_list_and_replay(kafka_bootstrap: str, topic_prefix: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_bootstrap)
    from campaignflow.config import settings

    settings.cache_clear()
    create_topics(settings().topics.catalogue().values(), admin_client(settings().kafka))
    origin = catalogue.topic_name(catalogue.CONTACTS, settings().topic_prefix)
    producer = TrackedProducer(settings().kafka)
    letter = build(
        topic=origin,
        partition=2,
        offset=41,
        key=b"camp-1",
        value=b"\x00original bytes",
        error="boom: campaign unknown",
        dead_letter_topic=catalogue.topic_name(catalogue.DEADLETTER, settings().topic_prefix),
        stage="engine",
    )
    assert producer.park(letter)
    assert producer.flush(30) == 0
    env = {**os.environ}
    listed = subprocess.run(
        [EXE, "deadletter", "list"], env=env, capture_output=True, text=True, timeout=120
    )
    assert listed.returncode == 0, listed.stderr
    assert "boom: campaign unknown" in listed.stdout and f"{origin}[2]@41" in listed.stdout
    offset_line = next(line for line in listed.stdout.splitlines() if "boom" in line)
    partition, offset = offset_line.split("\t")[0].split(":")
    replayed = subprocess.run(
        [EXE, "deadletter", "replay", partition, offset],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    c = Consumer(
        consumer_config(settings().kafka, "replay-check", **{"auto.offset.reset": "earliest"})
    )
    c.subscribe([origin])
    got = []

    def replayed_seen() -> bool:
        msg = c.poll(1)
        if msg is not None and not msg.error():
            got.append((msg.key(), msg.value()))
        return bool(got)

    try:
        wait_until(replayed_seen, f"the replayed message on {origin}", poll_seconds=0)
    finally:
        c.close()
    assert got == [(b"camp-1", b"\x00original bytes")]
