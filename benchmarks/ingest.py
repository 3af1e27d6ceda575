"""Contact intake speed: a generated list from file to acknowledged on the broker.

    .venv/bin/python benchmarks/ingest.py [--rows 1000000] [--alt-pool 50000]

Generates a CSV (primary number unique per row, two alternates drawn from a pool of
shared numbers such as switchboards, three variables), uploads it with
`ingest.upload` (both cores) and prints rows/s from file to acknowledged, peak
memory, and the ratio against the bare work done in the same run: validating every
distinct number of the file once with phonenumbers on every core, then producing
the same encoded batches with a plain confluent-kafka producer.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import phonenumbers  # noqa: E402
from confluent_kafka import Producer  # noqa: E402
from confluent_kafka.admin import AdminClient  # noqa: E402

from campaignflow.config import settings  # noqa: E402
from campaigns import testing  # noqa: E402
from ingest.upload import Target, ensure_topics, upload  # noqa: E402
from topics import catalogue  # noqa: E402
from topics.admin import create_topics, delete_topics  # noqa: E402
from topics.clients import KafkaSettings, producer_config  # noqa: E402
from topics.consumer import TopicConsumer  # noqa: E402

AREAS = (212, 646, 415, 310, 312, 617, 202, 305, 404, 713, 206, 303, 512, 602, 702)


def number(rng: random.Random, i: int) -> str:
    area = AREAS[i % len(AREAS)]
    exchange = 200 + (i // len(AREAS)) % 800
    line = (i // (len(AREAS) * 800)) % 10_000
    style = rng.random()
    if style < 0.4:
        return f"+1{area}{exchange}{line:04d}"
    if style < 0.8:
        return f"({area}) {exchange}-{line:04d}"
    return f"{area}.{exchange}.{line:04d}"


def generate(path: Path, rows: int, pool_size: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    pool = [number(rng, 5_000_000 + i * 7) for i in range(pool_size)]
    names = ["Ann", "Bob", "Cy", "Di", "Ed", "Fi", "Gus", "Hal"]
    plans = ["gold", "silver", "bronze"]
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write("phone_number,name,plan,city,phone_number_2,name_2,phone_number_3\n")
        for i in range(rows):
            f.write(
                f"{number(rng, i)},{rng.choice(names)},{rng.choice(plans)},City {i % 97},"
                f"{rng.choice(pool)},{rng.choice(names)},{rng.choice(pool)}\n"
            )


def distinct_numbers(path: Path) -> list[str]:
    import csv

    seen: set[str] = set()
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        next(reader)
        for r in reader:
            seen.update((r[0].strip(), r[4].strip(), r[6].strip()))
    seen.discard("")
    return list(seen)


def _validate(chunk: list[str]) -> int:
    ok = 0
    for raw in chunk:
        try:
            p = phonenumbers.parse(raw, "US")
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(p):
            phonenumbers.format_number(p, phonenumbers.PhoneNumberFormat.E164)
            ok += 1
    return ok


def read_values(bootstrap: str, topic: str) -> list[bytes]:
    with TopicConsumer.build(KafkaSettings(bootstrap), f"bench-{uuid.uuid4().hex}") as c:
        return [msg.value() or b"" for msg in c.read_to_end(c.spans(topic))]


def rss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--alt-pool", type=int, default=50_000, help="distinct alternate numbers")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--bootstrap", default=None, help="default: settings (the local broker)")
    args = ap.parse_args()
    bootstrap = args.bootstrap or settings().bootstrap
    prefix = f"bench-{uuid.uuid4().hex[:8]}."
    target = Target(settings().kafka_at(bootstrap), settings().topics_at(prefix))

    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "contacts.csv"
        t = time.perf_counter()
        generate(csv_path, args.rows, args.alt_pool)
        size_mb = csv_path.stat().st_size / 1e6
        print(f"generated {args.rows:,} rows ({size_mb:,.0f} MB) in {time.perf_counter() - t:.1f}s")
        definition = testing.definition(
            "bench",
            name="Benchmark",
            prompt="Hi {{name}} ({{plan}}, {{city}})",
            timezone="America/New_York",
            calling_days=None,
            calling_window=None,
            concurrent_calls=10,
        )
        ensure_topics(target)
        try:
            # ---- the pipeline: file to acknowledged -------------------------------
            t = time.perf_counter()
            s = upload(definition, csv_path, publish=True, target=target, workers=args.workers)
            pipeline_s = time.perf_counter() - t
            parent_mb, child_mb = rss_mb(resource.RUSAGE_SELF), rss_mb(resource.RUSAGE_CHILDREN)

            # ---- the bare work (prepared untimed) ---------------------------------
            numbers = distinct_numbers(csv_path)
            values = read_values(bootstrap, catalogue.topic_name(catalogue.CONTACTS, prefix))
            chunks = [numbers[i : i + 5000] for i in range(0, len(numbers), 5000)]
            t = time.perf_counter()
            with multiprocessing.get_context("fork").Pool(args.workers) as pool:
                valid = sum(pool.map(_validate, chunks))
            validate_s = time.perf_counter() - t
            bare_topic = catalogue.topic_name(catalogue.CONTACTS, prefix + "bare.")
            create_topics(
                [settings().topics_at(prefix + "bare.").spec(catalogue.CONTACTS)],
                admin=AdminClient({"bootstrap.servers": bootstrap}),
            )
            producer = Producer(producer_config(KafkaSettings(bootstrap)))
            t = time.perf_counter()
            for v in values:
                while True:
                    try:
                        producer.produce(bare_topic, value=v, key=b"bench")
                        break
                    except BufferError:
                        producer.poll(0.05)
                producer.poll(0)
            assert producer.flush(120) == 0
            produce_s = time.perf_counter() - t
        finally:
            delete_topics(
                [t.name for t in settings().topics_at(prefix).catalogue().values()]
                + [catalogue.topic_name(catalogue.CONTACTS, prefix + "bare.")],
                admin=AdminClient({"bootstrap.servers": bootstrap}),
            )

    bare_s = validate_s + produce_s
    print(
        f"pipeline: {s.rows:,} rows ({s.accepted:,} accepted, {s.rejected:,} rejected) in"
        f" {pipeline_s:.1f}s = {s.rows / pipeline_s:,.0f} rows/s, file to acknowledged"
    )
    print(
        f"  numbers validated: {s.validations:,} for {len(numbers):,} distinct"
        f" ({s.validations - len(numbers):,} repeats: the {args.workers} workers' caches are"
        " separate and bounded)"
    )
    print(f"  peak memory: parent {parent_mb:,.0f} MB, largest worker {child_mb:,.0f} MB")
    print(
        f"bare work: validate {len(numbers):,} distinct numbers ({valid:,} valid) on"
        f" {args.workers} cores {validate_s:.1f}s + produce {len(values):,} pre-encoded batches"
        f" {produce_s:.1f}s = {bare_s:.1f}s"
    )
    print(f"ratio bare/pipeline: {bare_s / pipeline_s:.2f} (target >= 0.7; >= 25,000 rows/s)")
    report = [
        {
            "figure": f"ingest rows/s, file to acknowledged ({s.rows:,} rows)",
            "value": round(s.rows / pipeline_s),
            "baseline": round(s.rows / bare_s),
            "ratio": round(bare_s / pipeline_s, 3),
            "target": ">= 25,000 rows/s, ratio >= 0.7",
        },
        {
            "figure": "ingest peak memory, parent MB",
            "value": round(parent_mb),
            "baseline": None,
            "ratio": None,
            "target": "flat in file size",
        },
    ]
    print("BENCH " + json.dumps(report))


if __name__ == "__main__":
    main()
