"""The sink announces a degraded caller ID once (sinks.health, migration 0009): on an
embedded ClickHouse holding test_sink_caller_id_health's calls (C degraded in "hh")."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sinks import health
from sinks.health import CallerIdAnnouncer, event_id
from tests.unit.chdb_kit import loaded
from tests.unit.test_sink_caller_id_health import C, records
from topics.codec import decode, default_codec

pytestmark = pytest.mark.unit


class FakeProducer:
    """Takes every message; `ack` False: the broker never acknowledges."""

    def __init__(self, ack: bool = True) -> None:
        self.ack = ack
        self.sent: list[tuple[str, bytes, bytes]] = []
        self._reports: list[Any] = []

    def produce(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | str | None = None,
        partition: int | None = None,
        on_delivery: Any = None,
    ) -> None:
        assert isinstance(value, bytes) and isinstance(key, bytes)
        self.sent.append((topic, key, value))
        self._reports.append(on_delivery)

    def flush(self, timeout_s: float = 60.0) -> int:
        reports, self._reports = self._reports, []
        if self.ack:
            for report in reports:
                report(None, None)
        return 0 if self.ack else len(reports)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("announce") / "ch"


@pytest.fixture(scope="module")
def client(path: Path) -> Iterator[Any]:
    with loaded(path, records()) as c:
        yield c


def test_a_degraded_number_is_announced_once_and_not_after_a_restart(client: Any) -> None:
    clock = Clock()
    unacked = FakeProducer(ack=False)
    announcer = CallerIdAnnouncer("caller_id.health", default_codec(), every_s=5, clock=clock)
    announcer.outcomes_flushed()
    assert announcer.due() is False  # the first check comes `every_s` after the start
    clock.now = 5
    assert announcer.maybe_check(client, unacked) == 0  # published, never acknowledged
    assert len(unacked.sent) == 1
    assert announcer.due() is False  # not before `every_s` ...
    clock.now = 10
    assert announcer.due() is True  # ... then again, although no outcome came meanwhile

    producer = FakeProducer()
    assert announcer.maybe_check(client, producer) == 1
    [(topic, key, value)] = producer.sent
    assert (topic, key) == ("caller_id.health", b"acme")
    name, rec = decode(value)
    assert name.endswith("CallerIdHealth")
    assert rec["event_id"] == event_id("acme", "hh", C, True) == unacked_id(unacked)
    assert (rec["campaign_id"], rec["caller_id"], rec["degraded"]) == ("hh", C, True)
    assert (rec["recent_calls"], rec["recent_answer_rate"]) == (30, 0.1)
    assert rec["campaign_median_answer_rate"] == 0.5
    assert C not in rec["event_id"]

    clock.now = 100
    announcer.outcomes_flushed()
    assert announcer.maybe_check(client, producer) == 0  # announced already
    restarted = CallerIdAnnouncer("caller_id.health", default_codec(), clock=clock)
    restarted.outcomes_flushed()
    clock.now = 100 + restarted.every_s
    assert restarted.due() is True
    assert restarted.maybe_check(client, producer) == 0  # remembered in ClickHouse
    assert restarted.checks == 1
    assert len(producer.sent) == 1


def unacked_id(producer: FakeProducer) -> str:
    _, rec = decode(producer.sent[0][2])
    return str(rec["event_id"])


def test_no_check_without_new_outcomes(client: Any) -> None:
    announcer = CallerIdAnnouncer("caller_id.health", default_codec(), clock=Clock())
    producer = FakeProducer()
    assert announcer.due() is False
    assert announcer.maybe_check(client, producer) == 0 and producer.sent == []


class Broken:
    """A client whose query fails with an error quoting a number."""

    def query(self, sql: str) -> Any:
        raise RuntimeError(f"Cannot parse {C} in column caller_id")


def test_a_failed_check_logs_no_number_and_is_tried_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    announcer = CallerIdAnnouncer("caller_id.health", default_codec(), every_s=5, clock=clock)
    announcer.outcomes_flushed()
    clock.now = 5
    with caplog.at_level("WARNING", logger="sinks.consumer"):
        assert announcer.maybe_check(Broken(), FakeProducer()) == 0
    assert "caller-ID health check failed" in caplog.text
    assert C not in caplog.text and C[-4:] in caplog.text
    clock.now = 10
    assert announcer.due() is True  # still to do


def test_a_started_check_runs_in_its_own_thread_on_its_own_client(
    client: Any, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sink's loop only starts the check: neither it nor the writer's client waits."""
    opened: list[tuple[str, str]] = []
    real = health.open_client

    def spy(dsn: str) -> Any:
        opened.append((dsn, threading.current_thread().name))
        return real(dsn)

    monkeypatch.setattr(health, "open_client", spy)
    dsn = f"chdb://{path}"
    clock = Clock()
    announcer = CallerIdAnnouncer("caller_id.health", default_codec(), every_s=5, clock=clock)
    announcer.outcomes_flushed()
    assert announcer.start(dsn, FakeProducer()) is False  # one period after the start
    clock.now = 5
    assert announcer.start(dsn, FakeProducer()) is True
    announcer.shutdown()  # waits for the check
    assert announcer.checks == 1 and announcer.due() is False
    [(used, thread)] = opened
    assert used == dsn and thread.startswith("sink-health")
