"""The ClickHouse sink on the real broker and the embedded engine (chdb).

Exactly-once results from at-least-once delivery: counts equal what was published,
a kill -9 mid-batch and a restart leave one row per call, a malformed message is
parked on the dead-letter topic while the rest goes on, and rows published while
ClickHouse is unavailable all land once it is back.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer

from campaignflow.config import settings
from sinks import metrics
from sinks.consumer import Sink
from sinks.dsn import open_client
from tests.helpers import free_port
from tests.integration.sink_kit import (
    CAMPAIGNFLOW,
    T0,
    SinkProcess,
    call_create,
    call_outcome,
    campaign,
    make_topics,
    priced_number,
    publish,
    wait_for,
)
from topics import catalogue
from topics.admin import admin_client, delete_topics
from topics.clients import consumer_config
from topics.codec import decode, encode


@pytest.fixture()
def topics(
    kafka_bootstrap: str, topic_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_bootstrap)
    settings.cache_clear()
    names = make_topics(topic_prefix)
    yield topic_prefix
    delete_topics(names, admin_client(settings().kafka))


def _counts(sink: SinkProcess, cid: str) -> tuple[int, int, int]:
    where = f"campaign_id = '{cid}'"
    return (
        sink.scalar(f"SELECT count() FROM v_attempts WHERE {where}") or 0,
        sink.scalar(f"SELECT count() FROM v_outcomes WHERE {where}") or 0,
        sink.scalar(f"SELECT count() FROM v_events WHERE {where}") or 0,
    )


def test_counts_equal_what_was_published(topics: str, tmp_path: Path) -> None:
    cid = f"camp-{uuid.uuid4().hex[:6]}"
    data = campaign(cid, 300)  # 600 calls, 600 outcomes, 301 events, 1 create command
    # attempt 1's caller ID is priced (100 answers of 60 s, billed by the minute); a
    # tombstone on the compacted numbers topic is no price and no dead letter
    price = priced_number("+15550100001", "0.0125", "USD", T0 - 1_000)
    publish(data, [(catalogue.API_NUMBERS, price), (catalogue.API_NUMBERS, None)])
    sink = SinkProcess(tmp_path / "home", free_port(), f"sink-{topics}").start()
    try:
        expected = (len(data["CallCreate"]), len(data["CallOutcome"]), len(data["CampaignEvent"]))
        wait_for(lambda: _counts(sink, cid) == expected, 120, f"{expected} rows")
        # Replays of the same messages (a second publication) change nothing.
        publish(data)
        wait_for(lambda: sink.inserted("call_outcomes") >= 1200, 60, "the replayed rows")
        assert _counts(sink, cid) == expected
        [progress] = sink.query(
            f"SELECT contacts_total, contacts_final, reached, attempts, outcomes, calls_in_flight, timezone "
            f"FROM v_campaign_progress WHERE campaign_id = '{cid}'"
        )
        assert progress == [300, 300, 300, 600, 600, 0, "America/New_York"]
        cost_sql = (
            "SELECT toString(billed_minutes), toString(cost) FROM v_cost_by_campaign"
            f" WHERE campaign_id = '{cid}' AND currency = 'USD'"
        )
        wait_for(lambda: bool(sink.query(cost_sql)), 60, "the number's price")
        assert sink.query(cost_sql) == [["100", "1.25"]]
        # `campaignflow sql` and `report` go through the running sink (the directory is locked).
        out = subprocess.run(
            [
                CAMPAIGNFLOW,
                "sql",
                f"SELECT count() FROM v_attempts WHERE campaign_id = '{cid}'",
                "--format",
                "tsv",
            ],
            env=sink.env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr
        assert out.stdout.splitlines()[-1] == "600"
        plot = tmp_path / "plot.png"
        rep = subprocess.run(
            [CAMPAIGNFLOW, "report", cid, "--plot", str(plot)],
            env=sink.env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert rep.returncode == 0, rep.stderr
        assert "contacts_final" in rep.stdout and plot.stat().st_size > 0
        # Writes are refused on the query endpoint.
        with pytest.raises(AssertionError, match="only SELECT"):
            sink.query(f"INSERT INTO campaigns (campaign_id) VALUES ('{cid}-x')")
    finally:
        assert sink.stop() == 0
    # With the sink stopped, `sql` opens the directory itself.
    out = subprocess.run(
        [
            CAMPAIGNFLOW,
            "sql",
            f"SELECT count() FROM v_outcomes WHERE campaign_id = '{cid}'",
            "--format",
            "tsv",
        ],
        env=sink.env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == "600"


def test_kill_9_mid_batch_then_restart_gives_one_row_per_call(topics: str, tmp_path: Path) -> None:
    cid = f"kill-{uuid.uuid4().hex[:6]}"
    data = campaign(cid, 6000)  # 12000 calls and outcomes
    data.pop("CampaignEvent")
    publish(data)
    home, port, group = tmp_path / "home", free_port(), f"sink-{topics}"
    first = SinkProcess(home, port, group, "--batch-rows", "1500", "--batch-seconds", "5").start()
    wait_for(
        lambda: (first.scalar("SELECT count() FROM call_attempts") or 0) > 0, 120, "a first batch"
    )
    first.kill9()
    second = SinkProcess(home, port, group).start()
    try:
        wait_for(
            lambda: _counts(second, cid)[:2] == (12000, 12000), 180, "every row after the restart"
        )
        dupes = second.query(
            f"SELECT count() - uniqExact(call_id) FROM v_attempts WHERE campaign_id = '{cid}' "
            f"UNION ALL SELECT count() - uniqExact(call_id) FROM v_outcomes WHERE campaign_id = '{cid}'"
        )
        assert dupes == [[0], [0]]
    finally:
        assert second.stop() == 0


def test_malformed_message_is_dead_lettered_and_the_sink_goes_on(
    topics: str, tmp_path: Path
) -> None:
    cid = f"bad-{uuid.uuid4().hex[:6]}"
    data = campaign(cid, 30)
    # Valid headers, bad bodies: ClickHouse refuses the batch, the Python fallback parks them.
    trailing = encode("CallOutcome", call_outcome(f"{cid}-x", "k0", 1, "busy")) + b"\x02x"
    truncated = encode("CallCreate", call_create(f"{cid}-x", "k0", 1))[:-3]
    garbage = [
        (catalogue.OUTCOMES, b"\xc3\x01not an avro fingerprint"),
        (catalogue.CALL_CREATE, b"plain text"),
        (catalogue.OUTCOMES, trailing),
        (catalogue.CALL_CREATE, truncated),
    ]
    publish({"CallOutcome": data["CallOutcome"][:20]}, raw=garbage)
    publish({"CallOutcome": data["CallOutcome"][20:], "CallCreate": data["CallCreate"]})
    sink = SinkProcess(tmp_path / "home", free_port(), f"sink-{topics}").start()
    try:
        wait_for(lambda: _counts(sink, cid)[:2] == (60, 60), 120, "the good rows")
        bad = _counts(sink, f"{cid}-x")
    finally:
        assert sink.stop() == 0
    consumer = Consumer(consumer_config(settings().kafka, f"dl-{topics}"))
    consumer.subscribe([catalogue.topic_name(catalogue.DEADLETTER, settings().topic_prefix)])
    parked: list[dict] = []
    try:

        def _read() -> bool:
            for msg in consumer.consume(100, timeout=0.5):
                if msg.error() is None:
                    parked.append(decode(msg.value())[1])
            return len(parked) >= 4

        wait_for(_read, 60, "four dead letters")
    finally:
        consumer.close()
    by_topic = {p["topic"]: p for p in parked}
    assert set(by_topic) == {
        catalogue.topic_name(catalogue.OUTCOMES, settings().topic_prefix),
        catalogue.topic_name(catalogue.CALL_CREATE, settings().topic_prefix),
    }
    values = {p["value"] for p in parked}
    assert {b"plain text", trailing, truncated} <= values
    assert bad == (0, 0, 0)  # nothing of the bad ones stored
    assert all(p["stage"] == "sink" for p in parked)


def test_nothing_lost_while_clickhouse_is_unavailable(topics: str, tmp_path: Path) -> None:
    """Inserts fail for real (the outcomes table is detached) and are retried until it is back."""
    cid = f"away-{uuid.uuid4().hex[:6]}"
    outcomes = [call_outcome(cid, f"k{i}", 1, "busy") for i in range(500)]
    dsn = f"chdb://{tmp_path / 'ch'}"
    sink = Sink(
        settings().sink(dsn),
        batch_rows=200,
        batch_seconds=0.2,
        group_id=f"sink-{topics}",
        backoff_max=0.5,
    )
    stop = threading.Event()
    thread = threading.Thread(target=sink.run, args=(stop,), daemon=True)
    thread.start()
    assert sink.ready.wait(60)
    admin = open_client(dsn)

    def count() -> int:
        with sink.lock:
            rows = admin.query(f"SELECT count() FROM v_outcomes WHERE campaign_id = '{cid}'")
            return int(rows.result_rows[0][0])

    try:
        publish({"CallOutcome": outcomes[:100]})
        wait_for(lambda: count() == 100, 60, "the first rows")
        failures = metrics.INSERT_FAILURES.labels("call_outcomes")._value.get()
        with sink.lock:
            admin.command("DETACH TABLE call_outcomes")
        publish({"CallOutcome": outcomes[100:]})
        wait_for(
            lambda: metrics.INSERT_FAILURES.labels("call_outcomes")._value.get() > failures + 1,
            60,
            "failed inserts",
        )
        assert metrics.CLICKHOUSE_UP._value.get() == 0
        with sink.lock:
            admin.command("ATTACH TABLE call_outcomes")
        wait_for(lambda: count() == 500, 60, "every row once ClickHouse is back")
        assert metrics.CLICKHOUSE_UP._value.get() == 1
    finally:
        stop.set()
        thread.join(60)
        admin.close()
    assert not thread.is_alive()


def test_sink_waits_for_a_locked_directory(topics: str, tmp_path: Path) -> None:
    """Another process holds the embedded directory: the sink retries and then ingests everything."""
    cid = f"lock-{uuid.uuid4().hex[:6]}"
    home = tmp_path / "home"
    path = home / "clickhouse"
    path.mkdir(parents=True)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import sys,time\nfrom sinks.dsn import open_client\nc=open_client('chdb://{path.resolve()}')\n"
            "print('held', flush=True)\nsys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == b"held"
    data = campaign(cid, 50)
    sink = SinkProcess(home, free_port(), f"sink-{topics}").start()
    try:
        publish({"CallCreate": data["CallCreate"]})
        wait_for(lambda: "retrying" in sink.log.read_text(), 60, "the sink to retry")
        assert sink.scalar("SELECT 1") is None  # no engine yet
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(30)
        wait_for(lambda: _counts(sink, cid)[0] == len(data["CallCreate"]), 120, "the rows")
    finally:
        if holder.poll() is None:
            holder.kill()
        assert sink.stop() == 0


def _dead_letters(group: str, want: int) -> list[dict]:
    consumer = Consumer(consumer_config(settings().kafka, group))
    consumer.subscribe([catalogue.topic_name(catalogue.DEADLETTER, settings().topic_prefix)])
    parked: list[dict] = []
    try:

        def _read() -> bool:
            for msg in consumer.consume(100, timeout=0.5):
                if msg.error() is None:
                    parked.append(decode(msg.value())[1])
            return len(parked) >= want

        wait_for(_read, 60, f"{want} dead letters")
    finally:
        consumer.close()
    return parked


def _in_process_sink(tmp_path: Path, topics: str) -> tuple[Sink, threading.Event, threading.Thread]:
    sink = Sink(
        settings().sink(f"chdb://{tmp_path / 'ch'}"),
        batch_rows=500,
        batch_seconds=0.2,
        group_id=f"sink-{topics}",
        backoff_max=0.5,
    )
    stop = threading.Event()
    thread = threading.Thread(target=sink.run, args=(stop,), daemon=True)
    thread.start()
    assert sink.ready.wait(60)
    return sink, stop, thread


def test_out_of_range_values_are_parked_not_wrapped(topics: str, tmp_path: Path) -> None:
    """70000 in a UInt16 was stored as 4464 (native path) or retried forever (Python path)."""
    cid = f"range-{uuid.uuid4().hex[:6]}"
    good = [call_create(cid, f"k{i}", 1) for i in range(50)]
    bad_creates = [
        {**call_create(cid, "big", 1), "alternate_position": 70000},
        {**call_create(cid, "huge", 1), "alternate_position": 2**31 + 5},  # not even an Avro int
    ]
    bad_outcome = {**call_outcome(cid, "k0", 1, "busy"), "attempt": 70000}
    publish({"CallCreate": good[:25] + bad_creates + good[25:], "CallOutcome": [bad_outcome]})
    sink, stop, thread = _in_process_sink(tmp_path, topics)

    def stored(sql: str) -> int:
        with sink.lock:
            return int(sink.client.query(sql).result_rows[0][0])

    try:
        where = f"campaign_id = '{cid}'"
        wait_for(
            lambda: stored(f"SELECT count() FROM v_attempts WHERE {where}") == 50, 60, "good rows"
        )
        parked = _dead_letters(f"dl-{topics}", 3)
        assert (
            stored(
                f"SELECT count() FROM call_attempts WHERE {where} AND contact_id IN ('big', 'huge')"
            )
            == 0
        )
        assert stored("SELECT count() FROM call_attempts WHERE alternate_position = 4464") == 0
        assert stored(f"SELECT count() FROM call_outcomes WHERE {where}") == 0
    finally:
        stop.set()
        thread.join(60)
    assert not thread.is_alive()
    errors = sorted(p["error"] for p in parked)
    assert len(errors) == 3 and all("does not fit" in e for e in errors), errors
    assert any("alternate_position = 70000" in e for e in errors)
    assert any(f"alternate_position = {2**31 + 5}" in e for e in errors)
    assert any("call_outcomes.attempt = 70000" in e for e in errors)


def test_rows_clickhouse_refuses_are_split_out_and_parked(topics: str, tmp_path: Path) -> None:
    """A batch ClickHouse refuses is not retried forever: its refused rows go to dead letters."""
    cid = f"poison-{uuid.uuid4().hex[:6]}"
    sink, stop, thread = _in_process_sink(tmp_path, topics)
    admin = open_client(sink.dsn)
    with sink.lock:  # a rule the rows do not know of, as an operator might add
        admin.command(
            "ALTER TABLE call_outcomes ADD CONSTRAINT no_poison CHECK hangup_cause != 'poison'"
        )
    outcomes = [call_outcome(cid, f"k{i}", 1, "busy") for i in range(200)]
    for i in (17, 150):
        outcomes[i] = {**outcomes[i], "hangup_cause": "poison"}

    def count() -> int:
        with sink.lock:
            rows = admin.query(f"SELECT count() FROM v_outcomes WHERE campaign_id = '{cid}'")
            return int(rows.result_rows[0][0])

    try:
        publish({"CallOutcome": outcomes})
        wait_for(lambda: count() == 198, 120, "every row but the two refused")
        parked = _dead_letters(f"dl-{topics}", 2)
        # The sink goes on: later rows land.
        publish({"CallOutcome": [call_outcome(cid, "late", 1, "busy")]})
        wait_for(lambda: count() == 199, 60, "a row published after")
    finally:
        stop.set()
        thread.join(60)
        admin.close()
    assert not thread.is_alive()
    assert sorted(decode(p["value"])[1]["contact_id"] for p in parked) == ["k150", "k17"]
    assert all("no_poison" in p["error"] and p["stage"] == "sink" for p in parked)
