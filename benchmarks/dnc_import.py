"""Do-not-call import speed and memory: a generated file of numbers to acknowledged on the broker.

    .venv/bin/python benchmarks/dnc_import.py [--numbers 1000000] [--bad-every 1000]

Writes a file of `--numbers` lines (US numbers in national and E.164 spellings, some
international, one unusable line every `--bad-every`), then runs, each in a fresh
process so its peak RSS is its own:
- `import`: `ingest.dnc.import_file`, what `campaignflow dnc import` runs (streamed,
  normalised to E.164, rejected lines kept with their line numbers, produced in batches);
- `bare`: the same file read line by line and produced with a plain confluent-kafka
  producer (same settings), each line as it is: no parsing, no Avro.
Prints seconds, numbers/s and peak RSS of both and the ratio of their rates.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from campaignflow.config import settings

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def write_file(path: Path, n: int, bad_every: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as f:
        f.write("phone_number\n")
        for i in range(1, n + 1):
            if bad_every and i % bad_every == 0:
                f.write("not a number\n")
                continue
            area = rng.choice((212, 305, 415, 617, 702, 818, 917))
            exchange = rng.randrange(200, 1000)
            line = rng.randrange(10_000)
            kind = i % 4
            if kind == 0:
                f.write(f"({area}) {exchange}-{line:04d}\n")
            elif kind == 1:
                f.write(f"+1{area}{exchange}{line:04d}\n")
            elif kind == 2:
                f.write(f"{area}-{exchange}-{line:04d}\n")
            else:
                f.write(f"+44 20 7{rng.randrange(100, 1000)} {rng.randrange(10_000):04d}\n")


def child_import(path: Path) -> dict[str, float]:
    from ingest.dnc import DncWriter, Scope, import_file
    from topics import catalogue

    s = settings()
    started = time.perf_counter()
    scope = Scope("bench-account")
    writer = DncWriter(scope, s.kafka, s.topics.name(catalogue.DNC))
    with path.open("rb") as stream:
        report = import_file(stream, scope, "US", writer=writer, keep_rejected=1 << 62)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "numbers": report.accepted, "rejected": report.rejected_count}


def child_bare(path: Path, topic: str) -> dict[str, float]:
    from confluent_kafka import Producer

    from topics.clients import producer_config

    started = time.perf_counter()
    producer = Producer(producer_config(settings().kafka))
    sent = 0
    with path.open("rb") as stream:
        for line in stream:
            value = line.strip()
            while True:
                try:
                    producer.produce(topic, value=value, key=value)
                    break
                except BufferError:
                    producer.poll(0.05)
            producer.poll(0)
            sent += 1
    producer.flush(120)
    return {"seconds": time.perf_counter() - started, "numbers": sent, "rejected": 0}


def run_child(mode: str, path: Path, topic: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--file", str(path), "--topic", topic],
        capture_output=True,
        text=True,
        check=True,
        env=os.environ,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--numbers", type=int, default=1_000_000)
    p.add_argument("--bad-every", type=int, default=1000)
    p.add_argument("--child", choices=("import", "bare"))
    p.add_argument("--file", type=Path)
    p.add_argument("--topic", default="")
    args = p.parse_args()
    if args.child:
        got = (
            child_import(args.file) if args.child == "import" else child_bare(args.file, args.topic)
        )
        got["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(got))
        return

    prefix = f"bench-dnc-{uuid.uuid4().hex[:8]}."
    os.environ["CAMPAIGNFLOW_TOPIC_PREFIX"] = prefix  # children inherit it
    from topics import catalogue
    from topics.admin import admin_client, create_topics, delete_topics

    dnc = settings().topics_at(prefix).spec(catalogue.DNC)
    bare_topic = prefix + "bare"
    create_topics(
        [dnc, dataclasses.replace(dnc, name=bare_topic, cleanup_policy="delete")],
        admin_client(settings().kafka),
    )
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "numbers.txt"
            t0 = time.perf_counter()
            write_file(path, args.numbers, args.bad_every)
            size_mb = path.stat().st_size / 2**20
            print(
                f"wrote {args.numbers:,} lines ({size_mb:.1f} MiB) in {time.perf_counter() - t0:.1f}s"
            )
            bare = run_child("bare", path, bare_topic)
            imp = run_child("import", path, bare_topic)
    finally:
        delete_topics([dnc.name, bare_topic], admin_client(settings().kafka))
    for name, r in (("bare read+produce", bare), ("dnc import", imp)):
        rate = r["numbers"] / r["seconds"]
        print(
            f"{name:18} {r['seconds']:7.2f} s  {rate:10,.0f} numbers/s  "
            f"peak RSS {r['peak_rss_mb']:6.1f} MB  ({int(r['numbers']):,} written, "
            f"{int(r['rejected']):,} rejected)"
        )
    ratio = (imp["numbers"] / imp["seconds"]) / (bare["numbers"] / bare["seconds"])
    print(f"ratio import / bare (numbers/s): {ratio:.2f}")
    report = [
        {
            "figure": f"dnc import numbers/s, file to acknowledged ({args.numbers:,} lines)",
            "value": round(imp["numbers"] / imp["seconds"]),
            "baseline": round(bare["numbers"] / bare["seconds"]),
            "ratio": round(ratio, 3),
            "target": "streamed (no target set)",
        },
        {
            "figure": "dnc import peak RSS, MB",
            "value": round(imp["peak_rss_mb"]),
            "baseline": round(bare["peak_rss_mb"]),
            "ratio": None,
            "target": "flat in file size",
        },
    ]
    print("BENCH " + json.dumps(report))


if __name__ == "__main__":
    main()
