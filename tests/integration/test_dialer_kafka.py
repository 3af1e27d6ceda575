"""The dialer on the real broker: one outcome per call id, crash safety, dead letters, deadlines."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from dialer.adapter import Adapter
from dialer.service import Dialer, DialerOptions
from dialer.simulator import SimulatorAdapter, SimulatorConfig
from topics import catalogue
from topics.clients import KafkaSettings
from topics.codec import encode

from .dialer_kit import (
    call_record,
    caught_up,
    committed,
    drop_topics,
    make_topics,
    publish,
    publish_calls,
    read_all,
    wait_for,
)


@pytest.fixture()
def topics(kafka_bootstrap: str, topic_prefix: str) -> Iterator[str]:
    names = make_topics(topic_prefix)
    yield topic_prefix
    drop_topics(names)


@contextmanager
def running(adapter: Adapter, options: DialerOptions) -> Iterator[Dialer]:
    """A Dialer on its own event loop in a thread; stopped (drained, flushed) on exit."""
    import asyncio

    dialer = Dialer(adapter, options)
    loop = asyncio.new_event_loop()
    failure: list[BaseException] = []

    def main() -> None:
        try:
            loop.run_until_complete(dialer.run())
        except BaseException as exc:
            failure.append(exc)
        finally:
            loop.close()

    thread = threading.Thread(target=main, daemon=True)
    thread.start()
    try:
        yield dialer
    finally:
        loop.call_soon_threadsafe(dialer.stop)
        thread.join(60)
        assert not thread.is_alive(), "dialer did not stop"
        if failure:
            raise failure[0]


def options(
    bootstrap: str, prefix: str, tmp_path: Path, group: str, **over: object
) -> DialerOptions:
    values: dict[str, object] = {
        "dialer_id": f"d-{uuid.uuid4().hex[:6]}",
        "group_id": group,
        "kafka": KafkaSettings(bootstrap),
        "topic_prefix": prefix,
        "concurrency": 20,
    }
    values.update(over)
    return DialerOptions(**values)  # type: ignore[arg-type]


def instant(seed: int = 1, **over: object) -> SimulatorAdapter:
    return SimulatorAdapter(SimulatorConfig(seed=seed, time_scale=0, **over))  # type: ignore[arg-type]


def outcomes(bootstrap: str, prefix: str) -> list[dict]:
    topic = catalogue.topic_name(catalogue.OUTCOMES, prefix)
    return [r for _m, event, r in read_all(bootstrap, topic) if event == "CallOutcome"]


def test_every_call_create_published_twice_yields_one_outcome(
    kafka_bootstrap: str, topics: str, tmp_path: Path
) -> None:
    call_topic = catalogue.topic_name(catalogue.CALL_CREATE, topics)
    calls = [call_record(f"camp{i % 3}", f"c{i}") for i in range(40)]
    publish_calls(kafka_bootstrap, call_topic, calls + calls)
    group = f"g-{uuid.uuid4().hex[:6]}"
    opts = options(kafka_bootstrap, topics, tmp_path, group)
    with running(instant(), opts):
        wait_for(
            "the dialer to commit every call", lambda: caught_up(kafka_bootstrap, group, call_topic)
        )
    got = Counter(r["call_id"] for r in outcomes(kafka_bootstrap, topics))
    assert got == Counter({c["call_id"]: 1 for c in calls})

    # Replayed again after a restart of the dialer (the placed-call record): still one outcome each.
    publish_calls(kafka_bootstrap, call_topic, calls[:10])
    with running(instant(), opts):
        wait_for(
            "the restarted dialer to commit", lambda: caught_up(kafka_bootstrap, group, call_topic)
        )
    got = Counter(r["call_id"] for r in outcomes(kafka_bootstrap, topics))
    assert got == Counter({c["call_id"]: 1 for c in calls})
    by_id = {r["call_id"]: r for r in outcomes(kafka_bootstrap, topics)}
    one = by_id[calls[0]["call_id"]]
    assert one["dialer_id"] == opts.dialer_id and one["campaign_id"] == "camp0"
    assert one["ended_at"] >= one["started_at"] >= one["created_at"]


def test_bad_input_goes_to_the_dead_letter_topic_and_the_dialer_goes_on(
    kafka_bootstrap: str, topics: str, tmp_path: Path
) -> None:
    call_topic = catalogue.topic_name(catalogue.CALL_CREATE, topics)
    unknown_schema = b"\xc3\x01" + bytes(range(8)) + b"\x02xx"
    other_event = encode(
        "InboundCall", {"call_id": "i1", "agent_id": "bot", "kind": "started", "at": 1}
    )
    no_number = encode("CallCreate", call_record("camp", "nonum", to=""))
    good = call_record("camp", "good")
    publish(
        kafka_bootstrap,
        call_topic,
        [
            ("camp", b"\x07 not avro at all"),
            ("camp", unknown_schema),
            ("camp", other_event),
            ("camp", no_number),
            ("camp", encode("CallCreate", good)),
        ],
    )
    group = f"g-{uuid.uuid4().hex[:6]}"
    with running(instant(), options(kafka_bootstrap, topics, tmp_path, group)):
        wait_for(
            "the dialer to commit past bad input",
            lambda: caught_up(kafka_bootstrap, group, call_topic),
        )
    assert [r["call_id"] for r in outcomes(kafka_bootstrap, topics)] == [good["call_id"]]
    dead_topic = catalogue.topic_name(catalogue.DEADLETTER, topics)
    parked = sorted(
        (r for _m, e, r in read_all(kafka_bootstrap, dead_topic) if e == "DeadLetter"),
        key=lambda r: r["offset"],
    )
    assert [r["stage"] for r in parked] == ["dialer"] * 4
    assert all(r["topic"] == call_topic for r in parked)
    reasons = [r["error"] for r in parked]
    assert "unknown wire format" in reasons[0]
    assert "unknown schema fingerprint" in reasons[1]
    assert "expected a CallCreate" in reasons[2] and "InboundCall" in reasons[2]
    assert "missing number in field 'to'" in reasons[3]
    assert parked[0]["value"] == b"\x07 not avro at all"


def test_a_call_past_its_deadline_is_not_dialled_but_failed(
    kafka_bootstrap: str, topics: str, tmp_path: Path
) -> None:
    call_topic = catalogue.topic_name(catalogue.CALL_CREATE, topics)
    late = call_record("camp", "late", deadline_in_s=-5)
    publish_calls(kafka_bootstrap, call_topic, [late])
    group = f"g-{uuid.uuid4().hex[:6]}"
    with running(
        instant(shares={"answered": 1.0}), options(kafka_bootstrap, topics, tmp_path, group)
    ):
        wait_for("the dialer to commit", lambda: caught_up(kafka_bootstrap, group, call_topic))
    [outcome] = outcomes(kafka_bootstrap, topics)
    assert outcome["status"] == "failed"
    assert outcome["hangup_cause"].startswith("deadline_expired")
    assert outcome["started_at"] is None


def test_the_simulator_publishes_inbound_calls_for_its_agents(
    kafka_bootstrap: str, topics: str, tmp_path: Path
) -> None:
    call_topic = catalogue.topic_name(catalogue.CALL_CREATE, topics)
    inbound_topic = catalogue.topic_name(catalogue.INBOUND, topics)
    publish_calls(kafka_bootstrap, call_topic, [call_record("camp", "c1")])
    group = f"g-{uuid.uuid4().hex[:6]}"
    adapter = SimulatorAdapter(
        SimulatorConfig(seed=2, time_scale=0.001, inbound_per_minute=60, inbound_median_seconds=5)
    )

    def ended_seen() -> bool:
        return any(r["kind"] == "ended" for _m, _e, r in read_all(kafka_bootstrap, inbound_topic))

    with running(adapter, options(kafka_bootstrap, topics, tmp_path, group)):
        wait_for("an inbound call to start and end", ended_seen)
    read = read_all(kafka_bootstrap, inbound_topic)
    assert {m.key() for m, _e, _r in read} == {catalogue.account_key("acme")}
    events = [r for _m, _e, r in read]
    assert {r["agent_id"] for r in events} == {"bot"}
    assert {r["account_id"] for r in events} == {"acme"}
    first_ended = next(r for r in events if r["kind"] == "ended")
    assert any(r["kind"] == "started" and r["call_id"] == first_ended["call_id"] for r in events)


def test_kill_9_then_restart_places_each_call_once(
    kafka_bootstrap: str, topics: str, tmp_path: Path
) -> None:
    """Calls handed off (offsets committed) before a kill -9 are not placed again but
    reconciled (their outcome comes from the adapter's lookup); the rest are placed once."""
    call_topic = catalogue.topic_name(catalogue.CALL_CREATE, topics)
    calls = [call_record(f"camp{i % 4}", f"c{i}") for i in range(24)]
    publish_calls(kafka_bootstrap, call_topic, calls)
    # Every call lasts an hour from its creation: with --time-scale 1 none ends before the
    # kill, with --time-scale 0 (after the restart) each ends at once.
    script = tmp_path / "outcomes.csv"
    script.write_text(
        "contact_id,attempt,status,duration_seconds\n"
        + "".join(f"{c['contact_id']},1,answered,3600\n" for c in calls)
    )
    group = f"g-{uuid.uuid4().hex[:6]}"
    env = dict(
        os.environ,
        KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap,
        CAMPAIGNFLOW_TOPIC_PREFIX=topics,
        CAMPAIGNFLOW_HOME=str(tmp_path / "home"),
    )
    base = [sys.executable, "-m", "campaignflow.cli", "dialer", "--adapter", "simulator"]
    base += ["--script", str(script), "--dialer-id", "crashy", "--group-id", group]
    base += ["--metrics-port", "0", "--concurrency", "5"]

    first = subprocess.Popen([*base, "--time-scale", "1"], env=env, stderr=subprocess.PIPE)
    try:
        wait_for(
            "5 hand-offs to be committed",
            lambda: sum(committed(kafka_bootstrap, group, call_topic).values()) == 5,
        )
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(30)
    killed_at_ms = int(time.time() * 1000)
    assert first.returncode == -signal.SIGKILL
    positions = committed(kafka_bootstrap, group, call_topic)
    assert sum(positions.values()) == 5
    assert outcomes(kafka_bootstrap, topics) == []  # nothing ended before the kill

    by_place = {
        (m.partition(), m.offset()): r["call_id"]
        for m, _e, r in read_all(kafka_bootstrap, call_topic)
    }
    handed_off = {cid for (p, o), cid in by_place.items() if o < positions[p]}
    rest = {c["call_id"] for c in calls} - handed_off
    assert len(handed_off) == 5

    # Replays while the dialer is down: one of each kind.
    replay = [c for c in calls if c["call_id"] in handed_off][:1]
    replay += [c for c in calls if c["call_id"] in rest][:1]
    publish_calls(kafka_bootstrap, call_topic, replay)

    second = subprocess.Popen([*base, "--time-scale", "0"], env=env, stderr=subprocess.PIPE)
    try:
        wait_for(
            "the restarted dialer to commit everything",
            lambda: caught_up(kafka_bootstrap, group, call_topic),
        )
    finally:
        second.send_signal(signal.SIGTERM)
        _out, err = second.communicate(timeout=60)
    assert second.returncode == 0, err.decode()[-2000:]
    got = Counter(r["call_id"] for r in outcomes(kafka_bootstrap, topics))
    assert got == Counter({c["call_id"]: 1 for c in calls})
    # The handed-off calls were not dialled again: their outcomes say they started before
    # the kill (the lookup of the first dialer's placement); the rest started after it.
    started = {r["call_id"]: r["started_at"] for r in outcomes(kafka_bootstrap, topics)}
    assert all(started[cid] < killed_at_ms for cid in handed_off)
    assert all(started[cid] > killed_at_ms for cid in rest)
