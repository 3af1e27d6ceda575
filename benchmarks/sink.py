"""Benchmark of the ClickHouse sink (embedded engine): throughput against a bare insert, and delay.

1. Throughput: N call.create + N call.outcomes are published, then a sink consumes
   them into a chdb directory. Rows/s is counted from the sink's first message to its
   last committed batch. The same rows are then inserted, in the same batches, with a
   bare clickhouse-connect `insert` into identical tables (another database of the same
   engine, same process): the ratio says what Kafka, decoding and bookkeeping cost.
   The sink lets ClickHouse decode call attempts and outcomes (sinks.native); the bare
   insert gets the rows decoded in Python beforehand, outside its timing.
   A run takes a few seconds on a shared machine, so this is repeated `--repeat` times,
   alternately (sink, bare, sink, bare, ...): each repetition publishes to fresh topics
   (so its batches get their own deduplication tokens and are really inserted) and runs
   a new sink (new consumer group) into the same directory; the bare inserts go to their
   own database, which grows alike. Reported: the medians of the sink and bare rates and
   of the ratios of each pair run back to back. Beside them, for a loaded machine (where
   the wall-clock pairs scatter), the process's CPU seconds (all its threads, the embedded
   engine's included) from the sink being ready to its last flush against those of the
   bare inserts: the median of the pairs' bare/sink CPU ratios.
   `--python-decode` runs the sink with the Python decoding path instead, for comparison.
2. Delay: with the sink running, outcomes are published at a steady rate; for each one
   the delay from its publication (Kafka CreateTime) to the moment the insert holding it
   returned (visible to queries) is recorded; p50 and p99 are printed.

Run: .venv/bin/python benchmarks/sink.py [--calls 100000] [--batch-rows 50000]
Needs the broker (`campaignflow kafka up`). The last line is `BENCH <json>` for run_all.py.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from confluent_kafka import Producer

from campaignflow.config import settings
from sinks.batch import Batch
from sinks.consumer import Sink
from sinks.dsn import open_client
from sinks.migrations import migrate
from sinks.rows import COLUMNS, TABLES, Row, to_row
from topics import catalogue
from topics.admin import admin_client, create_topics, delete_topics
from topics.clients import producer_config
from topics.codec import decode, encode_many

T0 = 1_796_133_600_000


def records(
    n: int, campaign: str, start: int = 0
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    creates, outcomes = [], []
    for i in range(start, start + n):
        contact = f"k{i}"
        at = T0 + i * 10
        creates.append(
            {
                "call_id": f"{campaign}/{contact}/1",
                "campaign_id": campaign,
                "account_id": "acme",
                "contact_id": contact,
                "attempt": 1,
                "to": f"+1555{i:07d}",
                "from": "+15550100001",
                "alternate_position": 0,
                "agent_id": "bot",
                "agent_prompt": "Hi {{name}}",
                "variables": {"name": contact},
                "created_at": at,
                "deadline": at + 3_600_000,
            }
        )
        answered = i % 3 == 0
        outcomes.append(
            {
                "call_id": f"{campaign}/{contact}/1",
                "campaign_id": campaign,
                "account_id": "acme",
                "contact_id": contact,
                "attempt": 1,
                "status": "answered" if answered else "no_answer",
                "created_at": at,
                "started_at": at,
                "answered_at": at + 5000 if answered else None,
                "ended_at": at + 60_000,
                "duration_seconds": 55.0 if answered else None,
                "hangup_cause": "normal",
                "dialer_id": "bench",
            }
        )
    return creates, outcomes


def publish(producer: Producer, topic: str, campaign: str, values: list[bytes]) -> None:
    """Keyed by the records' account (all of them are acme's)."""
    key = b"acme"
    for v in values:
        while True:
            try:
                producer.produce(topic, key=key, value=v)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)


def batch_rows(batch: Batch, table: str) -> list[Row]:
    """Every row of the batch for `table`, those ClickHouse decoded included (decoded here)."""
    rows = list(batch.rows[table])
    for value, _header, published, *_where in batch.native.get(table, []):
        event, record = decode(value)
        mapped = to_row(event, record, published)
        assert mapped is not None
        rows.append(mapped[1])
    return rows


def load() -> str:
    """The 1, 5 and 15 minute load averages (the machine is shared)."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--calls", type=int, default=100_000, help="call.create and call.outcomes each"
    )
    parser.add_argument("--batch-rows", type=int, default=50_000)
    parser.add_argument("--batch-seconds", type=float, default=1.0)
    parser.add_argument("--rate", type=int, default=2_000, help="outcomes/s in the delay phase")
    parser.add_argument("--delay-seconds", type=float, default=15.0)
    parser.add_argument("--repeat", type=int, default=5, help="alternate sink/bare pairs")
    parser.add_argument(
        "--python-decode",
        action="store_true",
        help="decode every message in Python (the sink's fallback path) instead of in ClickHouse",
    )
    args = parser.parse_args()

    run_id = uuid.uuid4().hex[:8]
    campaign = "bench"
    created: list[str] = []
    creates, outcomes = records(args.calls, campaign)
    create_values = encode_many("CallCreate", creates)
    outcome_values = encode_many("CallOutcome", outcomes)
    producer = Producer(producer_config(settings().kafka))
    total = 2 * args.calls
    decoder = "Python" if args.python_decode else "ClickHouse (native Avro)"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            dsn = f"chdb://{Path(tmp) / 'ch'}"
            sink_rates: list[float] = []
            bare_rates: list[float] = []
            cpu_ratios: list[float] = []
            sink: Sink | None = None
            stop: threading.Event | None = None
            thread: threading.Thread | None = None
            admin: Any = None
            bare: Any = None
            for i in range(args.repeat):
                if sink is not None and stop is not None and thread is not None:
                    stop.set()  # the previous repetition's sink
                    thread.join(60)
                prefix = f"bench-{run_id}-{i}."
                specs = list(settings().topics_at(prefix).catalogue().values())
                create_topics(specs, admin_client(settings().kafka))
                names = {sp.logical: sp.name for sp in specs}
                created.extend(names.values())
                t = time.perf_counter()
                publish(producer, names[catalogue.CALL_CREATE], campaign, create_values)
                publish(producer, names[catalogue.OUTCOMES], campaign, outcome_values)
                producer.flush(120)
                print(f"published {total} messages in {time.perf_counter() - t:.1f}s")

                flushed: list[tuple[Batch, float]] = []
                done = threading.Event()
                seen = [0]
                cpu_end = [0.0]

                def on_flushed(
                    batch: Batch,
                    visible_at: float,
                    flushed: list[tuple[Batch, float]] = flushed,
                    seen: list[int] = seen,
                    done: threading.Event = done,
                    cpu_end: list[float] = cpu_end,
                ) -> None:
                    flushed.append((batch, time.monotonic()))
                    seen[0] += batch.row_count
                    if seen[0] >= total:
                        cpu_end[0] = time.process_time()
                        done.set()

                topics = [
                    names[t]
                    for t in (
                        catalogue.CALL_CREATE,
                        catalogue.OUTCOMES,
                        catalogue.EVENTS,
                        catalogue.COMMANDS,
                    )
                ]
                sink = Sink(
                    settings().sink(dsn),
                    batch_rows=args.batch_rows,
                    batch_seconds=args.batch_seconds,
                    group_id=f"bench-{uuid.uuid4().hex[:6]}",
                    topics=topics,
                    on_flushed=on_flushed,
                    native_avro=not args.python_decode,
                )
                stop = threading.Event()
                thread = threading.Thread(target=sink.run, args=(stop,), daemon=True)
                thread.start()
                sink.ready.wait(600)
                cpu_start = time.process_time()
                if not done.wait(600):
                    raise SystemExit("the sink did not ingest everything in 10 minutes")
                first = min(b.first_message_at or end for b, end in flushed)
                last = max(end for _b, end in flushed)
                sink_rps = total / (last - first)
                batches = [b for b, _ in flushed]
                print(
                    f"sink: {total} rows in {len(batches)} batches, {last - first:.2f}s, "
                    f"{sink_rps:,.0f} rows/s; attempts and outcomes decoded by {decoder}"
                )
                bare_batches = [{t: batch_rows(b, t) for t in TABLES} for b in batches]

                # Bare clickhouse-connect insert of the same rows in the same batches.
                if bare is None:
                    with sink.lock:
                        admin = open_client(dsn)
                        admin.command("CREATE DATABASE IF NOT EXISTS bare")
                        bare = open_client(dsn, database="bare")
                        migrate(bare)
                t = time.perf_counter()
                bare_cpu = time.process_time()
                with sink.lock:
                    for rows_of in bare_batches:
                        for table in TABLES:
                            if rows_of[table]:
                                bare.insert(
                                    table, rows_of[table], column_names=list(COLUMNS[table])
                                )
                bare_s = time.perf_counter() - t
                bare_cpu = time.process_time() - bare_cpu
                sink_cpu = cpu_end[0] - cpu_start
                bare_rps = total / bare_s
                print(f"bare insert: {total} rows, {bare_s:.2f}s, {bare_rps:,.0f} rows/s")
                print(
                    f"  pair {i + 1}: ratio sink/bare {sink_rps / bare_rps:.2f};"
                    f" CPU s sink {sink_cpu:.2f}, bare {bare_cpu:.2f},"
                    f" ratio {bare_cpu / sink_cpu:.2f}"
                )
                cpu_ratios.append(bare_cpu / sink_cpu)
                sink_rates.append(sink_rps)
                bare_rates.append(bare_rps)
            assert sink is not None and stop is not None and thread is not None
            sink_rps = statistics.median(sink_rates)
            bare_rps = statistics.median(bare_rates)
            ratio = statistics.median(a / b for a, b in zip(sink_rates, bare_rates, strict=True))
            verdict = "meets" if ratio >= 0.7 else "misses"
            print(
                f"sink {sink_rps:,.0f} rows/s, bare {bare_rps:,.0f} rows/s (medians of"
                f" {args.repeat})"
            )
            print(
                f"ratio sink/bare: {ratio:.2f} ({verdict} the 0.7 target; median of the pairs'"
                " ratios)"
            )
            cpu_ratio = statistics.median(cpu_ratios)
            print(f"CPU ratio bare/sink: {cpu_ratio:.2f} (median of the pairs'; load {load()})")
            report: list[dict[str, Any]] = [
                {
                    "figure": "sink rows/s (Kafka -> embedded ClickHouse)",
                    "value": round(sink_rps),
                    "baseline": round(bare_rps),
                    "ratio": round(ratio, 3),
                    "target": "ratio >= 0.7",
                },
                {
                    "figure": "sink rows per CPU-second vs bare insert",
                    "value": round(cpu_ratio, 3),
                    "baseline": 1,
                    "ratio": round(cpu_ratio, 3),
                    "target": "(context)",
                },
            ]

            # Delay: steady publication while the sink runs.
            delays: list[float] = []

            def on_delay(batch: Batch, visible_at: float) -> None:
                visible_ms = visible_at * 1000
                delays.extend(visible_ms - p for p in batch.outcome_published_ms)

            sink.on_flushed = on_delay
            n = int(args.rate * args.delay_seconds)
            _c, late = records(n, campaign, start=args.calls)
            values = encode_many("CallOutcome", late)
            step = 1.0 / args.rate * 100
            t0 = time.monotonic()
            for i in range(0, n, 100):
                publish(producer, names[catalogue.OUTCOMES], campaign, values[i : i + 100])
                producer.poll(0)
                wait = t0 + (i // 100 + 1) * step - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
            producer.flush(60)
            deadline = time.monotonic() + 60
            while len(delays) < n and time.monotonic() < deadline:
                time.sleep(0.1)
            stop.set()
            thread.join(60)
            if delays:
                print(
                    f"publish-to-visible delay over {len(delays)} outcomes at {args.rate}/s "
                    f"(batch-seconds {args.batch_seconds}): p50 {pct(delays, 0.5):.0f} ms, "
                    f"p99 {pct(delays, 0.99):.0f} ms, mean {statistics.fmean(delays):.0f} ms"
                )
                for q in (0.5, 0.99):
                    report.append(
                        {
                            "figure": f"publish-to-visible delay p{round(q * 100)} (ms)",
                            "value": round(pct(delays, q)),
                            "baseline": None,
                            "ratio": None,
                            "target": f"(context, batch-seconds {args.batch_seconds})",
                        }
                    )
            admin.close()
            bare.close()
            print("BENCH " + json.dumps(report))
    finally:
        delete_topics(created, admin_client(settings().kafka))


if __name__ == "__main__":
    main()
