"""Engine worker speed on the local broker: refill throughput vs a bare loop, latency, ticks, recovery.

Prints, in one run:
(a) outcomes/s one worker sustains when every outcome frees a slot that is refilled with
    a new call:create (one campaign, N contacts, C concurrent calls, a harness dialer
    that answers at once), against a bare aiokafka consume-decode-produce loop over the
    same topics (CallOutcome in, CallCreate out), as a ratio (target >= 0.25);
(b) p50/p99 slot-refill latency, outcome produced -> call:create read, with outcomes
    paced at half the sustained rate (target p99 < 50 ms); the reader polls, so a
    sample is taken when the record arrives (until 2026-11-29 it read with
    `consume(100, timeout=0.05)`, which waits for 100 records or 50 ms and added up to
    50 ms to each sample);
(c) tick cost with K idle campaigns on the partition (target < 1 ms per tick), from the
    worker's own batch-time and commit-time histograms while only ticks flow;
(d) restart-to-first-call after kill -9 with an M-contact campaign in the tables
    (target < 60 s), restarting on the same data directory.

The worker runs as `campaignflow worker` (a subprocess) on one-partition topics under a
fresh prefix. Defaults are small enough for a few minutes on a laptop; the issue's sizes:

    .venv/bin/python benchmarks/worker.py --contacts 100000 --concurrency 1000 \\
        --idle 10000 --recovery-contacts 1000000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import requests
from confluent_kafka import Consumer, Producer, TopicPartition

from campaignflow.config import settings
from campaigns import testing  # noqa: E402
from campaigns.contacts import Contact
from campaigns.engine import parse_call_id
from campaigns.events import Command, CommandKind
from campaigns.models import CampaignDefinition
from topics import catalogue, translate
from topics.admin import admin_client, create_topics, delete_topics
from topics.clients import KafkaSettings, consumer_config, producer_config
from topics.codec import decode, encode

CAMPAIGNFLOW = str(Path(sys.executable).parent / "campaignflow")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(pred: Callable[[], Any], timeout: float, what: str) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = pred()
        if value:
            return value
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


ACCOUNT = "bench"


def definition(campaign_id: str, concurrency: int) -> CampaignDefinition:
    return testing.definition(
        campaign_id,
        account_id=ACCOUNT,
        name="bench",
        max_retries=0,
        concurrent_calls=concurrency,
        max_call_minutes=600,
    )


class Bench:
    def __init__(self, bootstrap: str, home: Path) -> None:
        self.bootstrap = bootstrap
        self.home = home
        self.prefix = f"bw-{uuid.uuid4().hex[:8]}."
        self.specs = {
            k: replace(v, partitions=1)
            for k, v in settings().topics_at(self.prefix).catalogue().items()
        }
        create_topics(self.specs.values(), admin_client(settings().kafka))
        self.producer = Producer(producer_config(KafkaSettings(bootstrap), **{"linger.ms": 1}))
        # The bench account's subscription: without a record an account cannot start.
        active = {"account_id": "bench", "active": True, "plan": None, "updated_at": 0}
        self.producer.produce(
            self.topic(catalogue.ACCOUNT_STATUS),
            key=b"bench",
            value=encode("AccountStatus", active),
        )
        self.producer.flush(30)
        self.env = {
            **os.environ,
            "CAMPAIGNFLOW_HOME": str(home),
            "CAMPAIGNFLOW_TOPIC_PREFIX": self.prefix,
            "CAMPAIGNFLOW_PARTITIONS": "1",
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        }
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def topic(self, logical: str) -> str:
        return self.specs[logical].name

    def start_worker(self) -> None:
        log = open(self.home / "worker.log", "ab")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen(
            [CAMPAIGNFLOW, "worker", "--web-port", str(self.port)],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self) -> None:
        def ok() -> bool:
            self.alive()
            try:
                return requests.get(f"http://127.0.0.1:{self.port}/metrics", timeout=1).ok
            except requests.RequestException:
                return False

        wait_until(ok, 120, "worker web port")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None:
            self.proc.send_signal(sig)
            self.proc.wait(60)
            self.proc = None

    def gone(self, what: str) -> SystemExit:
        """Why the worker does not answer, in one line (its log's end follows, from main)."""
        code = self.proc.poll() if self.proc is not None else None
        if code is None:
            state = "the process still runs (stalled or restarting)"
        elif code == 75:
            state = "the worker exited 75: its lease ran out (a stall longer than the lease)"
        else:
            state = f"the worker exited with code {code}"
        return SystemExit(f"worker benchmark failed: {what}: {state}; see its log below")

    def alive(self) -> None:
        """Ends the benchmark with why, when the worker process has exited."""
        if self.proc is not None and self.proc.poll() is not None:
            raise self.gone("the worker is not running")

    def metric(self, name: str) -> float:
        try:
            text = requests.get(f"http://127.0.0.1:{self.port}/metrics", timeout=5).text
        except requests.RequestException as exc:
            raise self.gone(f"its /metrics does not answer ({type(exc).__name__})") from None
        m = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", text, re.M)
        return float(m.group(1)) if m else 0.0

    def send(self, logical: str, event: str, record: dict[str, Any]) -> None:
        """Produce keyed by the record's account, as every producer of the engine's inputs."""
        key = record["account_id"].encode()
        while True:
            try:
                self.producer.produce(self.topic(logical), key=key, value=encode(event, record))
                return
            except BufferError:
                self.producer.poll(0.1)

    def create_campaign(self, cid: str, contacts: int, concurrency: int, start: bool) -> None:
        d = definition(cid, concurrency)
        cmd = Command(
            f"create-{cid}",
            CommandKind.create,
            definition=d,
            expected_contacts=contacts,
            account_id=d.account_id,
        )
        self.send(
            catalogue.COMMANDS,
            "CampaignCommand",
            translate.command_to_record(cid, cmd, now_ms() * 1000),
        )
        for lo in range(0, contacts, 1000):
            rows = [
                Contact(f"c{i}", i + 1, f"+1202{5550000 + i % 9_000_000:07d}", [], {"name": "x"})
                for i in range(lo, min(lo + 1000, contacts))
            ]
            self.send(
                catalogue.CONTACTS,
                "ContactBatch",
                translate.batch_to_record(cid, f"b{lo}", rows, now_ms() * 1000, d.account_id),
            )
            self.producer.poll(0)
        if start:
            self.command(cid, CommandKind.start)
        self.producer.flush(120)

    def command(self, cid: str, kind: CommandKind) -> None:
        cmd = Command(f"{kind.value}-{cid}-{uuid.uuid4().hex[:6]}", kind, account_id=ACCOUNT)
        self.send(
            catalogue.COMMANDS,
            "CampaignCommand",
            translate.command_to_record(cid, cmd, now_ms() * 1000),
        )
        self.producer.flush(30)

    def outcome(self, call_id: str, cid: str, status: str = "answered") -> None:
        parsed = parse_call_id(cid, call_id)
        assert parsed is not None
        rec = {
            "call_id": call_id,
            "campaign_id": cid,
            "account_id": ACCOUNT,
            "contact_id": parsed[0],
            "attempt": parsed[1],
            "status": status,
            "ended_at": now_ms(),
            "dialer_id": "bench",
        }
        self.send(catalogue.OUTCOMES, "CallOutcome", rec)

    def call_reader(self) -> Consumer:
        c = Consumer(consumer_config(KafkaSettings(self.bootstrap), f"bench-{uuid.uuid4().hex}"))
        c.assign([TopicPartition(self.topic(catalogue.CALL_CREATE), 0, 0)])
        return c

    def close(self) -> None:
        self.kill(signal.SIGTERM)
        delete_topics([s.name for s in self.specs.values()], admin_client(settings().kafka))


# ---- (a) sustained refill rate -----------------------------------------------------------------


def sustained(b: Bench, contacts: int, concurrency: int) -> tuple[float, int]:
    cid = "refill"
    reader = b.call_reader()
    b.create_campaign(cid, contacts, concurrency, start=True)
    seen = 0
    first = last = 0.0
    deadline = time.monotonic() + 600
    while seen < contacts and time.monotonic() < deadline:
        msgs = reader.consume(1000, timeout=0.005)
        for m in msgs:
            if m.error():
                continue
            _, rec = decode(m.value())
            seen += 1
            if seen == concurrency:
                first = time.perf_counter()  # initial fill done: from here every call is a refill
            b.outcome(rec["call_id"], cid)
        b.producer.poll(0)
        if msgs:
            last = time.perf_counter()
    b.producer.flush(30)
    reader.close()
    refills = seen - concurrency
    return (refills / (last - first) if last > first else 0.0), seen


def bare_loop(b: Bench, n: int) -> float:
    """aiokafka: read CallOutcome, decode, encode a CallCreate, produce; no engine, no state."""
    src = b.topic(catalogue.OUTCOMES)
    dst = b.topic(catalogue.CALL_CREATE)
    template = {
        "call_id": "",
        "campaign_id": "bare",
        "account_id": "bench",
        "contact_id": "c",
        "attempt": 1,
        "to": "+12025550000",
        "from": "+15550100000",
        "alternate_position": 0,
        "agent_id": "bot",
        "agent_prompt": "Hi",
        "variables": {},
        "created_at": now_ms(),
        "deadline": now_ms(),
    }

    async def run() -> float:
        from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
        from aiokafka import TopicPartition as ATP

        consumer = AIOKafkaConsumer(
            bootstrap_servers=b.bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
        )
        producer = AIOKafkaProducer(
            bootstrap_servers=b.bootstrap, enable_idempotence=True, linger_ms=1
        )
        await consumer.start()
        await producer.start()
        tp = ATP(src, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        done = 0
        started = time.perf_counter()
        while done < n:
            batch = await consumer.getmany(tp, timeout_ms=500, max_records=2000)
            for records in batch.values():
                for r in records:
                    _, rec = decode(r.value)
                    out = dict(template, call_id=rec["call_id"])
                    await producer.send(dst, encode("CallCreate", out), key=r.key)
                    done += 1
            if not batch:
                break
        await producer.flush()
        elapsed = time.perf_counter() - started
        await consumer.stop()
        await producer.stop()
        return done / elapsed

    return asyncio.run(run())


# ---- (b) refill latency at half rate ------------------------------------------------------------


def refill_latency(b: Bench, rate: float, concurrency: int, samples: int) -> list[float]:
    cid = "latency"
    reader = b.call_reader()
    limit = min(concurrency, 50)
    b.create_campaign(cid, samples + limit + 10, limit, start=True)
    open_calls: list[str] = []
    while len(open_calls) < limit:
        for m in reader.consume(500, timeout=0.5):
            if not m.error():
                _, rec = decode(m.value())
                if rec["campaign_id"] == cid:
                    open_calls.append(rec["call_id"])
    latencies: list[float] = []
    sent: list[float] = []
    lock = threading.Lock()
    stop = threading.Event()

    def read() -> None:
        # poll() returns as soon as a record is there; consume(n, timeout) would wait for
        # n records or the whole timeout, adding up to that timeout to every sample.
        while not stop.is_set():
            first = reader.poll(0.05)
            if first is None:
                continue
            for m in [first, *reader.consume(100, timeout=0)]:
                if m.error():
                    continue
                t = time.perf_counter()
                _, rec = decode(m.value())
                if rec["campaign_id"] != cid:
                    continue
                with lock:
                    open_calls.append(rec["call_id"])
                    if sent:
                        latencies.append(t - sent.pop(0))

    th = threading.Thread(target=read, daemon=True)
    th.start()
    gap = 1.0 / rate
    nxt = time.perf_counter()
    for _ in range(samples):
        # Wait for a free call to answer: a refill slower than the send rate must not crash us.
        wait_until(lambda: bool(open_calls), 30, "an open call to answer")
        with lock:
            call_id = open_calls.pop(0)
            sent.append(time.perf_counter())
        b.outcome(call_id, cid)
        b.producer.flush(5)
        nxt += gap
        time.sleep(max(0.0, nxt - time.perf_counter()))
    wait_until(lambda: len(latencies) >= samples or not sent, 30, "last refills")
    stop.set()
    th.join(5)
    reader.close()
    return latencies


# ---- (c) idle ticks ------------------------------------------------------------------------------


def idle_ticks(b: Bench, idle: int, seconds: float) -> tuple[float, float]:
    for i in range(idle):
        cid = f"idle-{i}"
        d = definition(cid, 1)
        cmd = Command(
            f"create-{cid}",
            CommandKind.create,
            definition=d,
            expected_contacts=1,
            account_id=d.account_id,
        )
        b.send(
            catalogue.COMMANDS,
            "CampaignCommand",
            translate.command_to_record(cid, cmd, now_ms() * 1000),
        )
        b.producer.poll(0)
    b.producer.flush(60)
    wait_until(
        lambda: b.metric('campaignflow_engine_inputs_total{topic="campaign.commands"}') >= idle,
        300,
        "idle campaigns created",
    )
    time.sleep(2)
    # The agent's batch time plus the commit behind it (both, as before the commit moved
    # off the agent's path).
    s0 = b.metric("campaignflow_engine_batch_seconds_sum")
    s0 += b.metric("campaignflow_engine_commit_seconds_sum")
    n0 = b.metric("campaignflow_engine_batch_seconds_count")
    t0 = b.metric('campaignflow_engine_inputs_total{topic="campaign.ticks"}')
    time.sleep(seconds)
    s1 = b.metric("campaignflow_engine_batch_seconds_sum")
    s1 += b.metric("campaignflow_engine_commit_seconds_sum")
    n1 = b.metric("campaignflow_engine_batch_seconds_count")
    t1 = b.metric('campaignflow_engine_inputs_total{topic="campaign.ticks"}')
    ticks = max(t1 - t0, 1)
    return (s1 - s0) / ticks * 1000, (n1 - n0)


# ---- (d) recovery --------------------------------------------------------------------------------


def recovery(b: Bench, contacts: int) -> tuple[float, float]:
    cid = "recover"
    reader = b.call_reader()
    batches0 = b.metric('campaignflow_engine_inputs_total{topic="campaign.contacts"}')
    started = time.perf_counter()
    b.create_campaign(cid, contacts, 10, start=True)
    calls: list[str] = []

    def first_calls() -> bool:
        b.alive()
        for m in reader.consume(100, timeout=0.2):
            if not m.error():
                rec = decode(m.value())[1]
                if rec["campaign_id"] == cid:
                    calls.append(rec["call_id"])
        return len(calls) >= 10

    wait_until(first_calls, 600, "first calls of the big campaign")
    wait_until(
        lambda: (
            b.metric('campaignflow_engine_inputs_total{topic="campaign.contacts"}')
            >= batches0 + (contacts + 999) // 1000
        ),
        1200,
        "every contact stored",
    )
    time.sleep(3)  # a few commits
    load = time.perf_counter() - started
    b.kill(signal.SIGKILL)
    for call_id in calls[:5]:
        b.outcome(call_id, cid)  # free slots while the worker is down
    b.producer.flush(30)
    t0 = time.perf_counter()
    b.start_worker()
    seen = set(calls)

    def new_call() -> bool:
        b.alive()
        for m in reader.consume(100, timeout=0.2):
            if not m.error():
                rec = decode(m.value())[1]
                if rec["campaign_id"] == cid and rec["call_id"] not in seen:
                    return True
        return False

    wait_until(new_call, 600, "first call after restart")
    took = time.perf_counter() - t0
    reader.close()
    return took, load


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--contacts", type=int, default=20_000, help="(a) campaign size (issue: 100000)"
    )
    ap.add_argument("--concurrency", type=int, default=1000, help="(a) concurrent calls")
    ap.add_argument("--samples", type=int, default=300, help="(b) latency samples")
    ap.add_argument("--idle", type=int, default=2000, help="(c) idle campaigns (issue: 10000)")
    ap.add_argument("--tick-seconds", type=float, default=10.0, help="(c) measuring window")
    ap.add_argument(
        "--recovery-contacts", type=int, default=50_000, help="(d) campaign size (issue: 1000000)"
    )
    ap.add_argument(
        "--only-recovery", action="store_true", help="run (d) alone (a lease or recovery check)"
    )
    args = ap.parse_args()
    bootstrap = settings().bootstrap
    with tempfile.TemporaryDirectory(prefix="bench-worker-") as home:
        b = Bench(bootstrap, Path(home))
        try:
            b.start_worker()
            b.wait_ready()
            if args.only_recovery:
                took, load = recovery(b, args.recovery_contacts)
                print(
                    f"(d) restart to first call   {took:10.1f} s after kill -9, {args.recovery_contacts} contacts in the tables (loaded in {load:.0f} s)   (target < 60 s)"
                )
                return
            rate, seen = sustained(b, args.contacts, args.concurrency)
            bare = bare_loop(b, seen)
            print(
                f"(a) worker refill rate      {rate:10.0f} outcomes/s ({seen} calls, {args.concurrency} concurrent)"
            )
            print(f"    bare aiokafka loop      {bare:10.0f} msgs/s")
            print(f"    ratio                   {rate / bare:10.2f}   (target >= 0.25)")
            lat = sorted(refill_latency(b, max(rate / 2, 1.0), args.concurrency, args.samples))
            p50 = p99 = 0.0
            if lat:
                p50 = statistics.median(lat) * 1000
                p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
                print(
                    f"(b) refill latency at {rate / 2:.0f}/s  p50 {p50:.1f} ms  p99 {p99:.1f} ms   (target p99 < 50 ms)"
                )
            per_tick, batches = idle_ticks(b, args.idle, args.tick_seconds)
            print(
                f"(c) idle tick cost          {per_tick:10.3f} ms/tick with {args.idle} idle campaigns ({batches:.0f} batches)   (target < 1 ms)"
            )
            took, load = recovery(b, args.recovery_contacts)
            print(
                f"(d) restart to first call   {took:10.1f} s after kill -9, {args.recovery_contacts} contacts in the tables (loaded in {load:.0f} s)   (target < 60 s)"
            )
            report = [
                {
                    "figure": f"(a) worker refill, outcomes/s ({seen} calls)",
                    "value": round(rate),
                    "baseline": round(bare),
                    "ratio": round(rate / bare, 3),
                    "target": "ratio >= 0.25",
                },
                {
                    "figure": "(b) refill latency p99 at half rate, ms",
                    "value": round(p99, 1) if lat else None,
                    "baseline": None,
                    "ratio": None,
                    "target": "< 50 ms",
                },
                {
                    "figure": f"(c) tick cost, {args.idle} idle campaigns, ms/tick",
                    "value": round(per_tick, 3),
                    "baseline": None,
                    "ratio": None,
                    "target": "< 1 ms",
                },
                {
                    "figure": f"(d) restart to first call, {args.recovery_contacts} contacts, s",
                    "value": round(took, 1),
                    "baseline": None,
                    "ratio": None,
                    "target": "< 60 s",
                },
            ]
            print("BENCH " + json.dumps(report))
        except BaseException:
            # The log goes with the temporary home: its end goes to stderr, which a failed
            # `make bench` keeps in build/BENCHMARKS.failed.md.
            tail = (Path(home) / "worker.log").read_bytes()[-6000:].decode(errors="replace")
            print(f"---- end of the worker's log ----\n{tail}", file=sys.stderr)
            raise
        finally:
            b.close()
            print(f"worker log: {home}/worker.log (removed)", file=sys.stderr)


if __name__ == "__main__":
    main()
