"""REST API speed: read latency at 10,000 campaigns and 50 clients, contacts added per second.

(a) p50/p99 of GET /v1/campaigns (a page of 50) and GET /v1/campaigns/{id}, with
    10,000 campaigns in the account's read model and 50 concurrent clients (each one
    request at a time, back to back). Target: p99 < 50 ms.
The same clients against GET /healthz (uvicorn answering a constant) give the bare
    baseline: on a shared machine the ratio to it says how much is the API's own cost.
(b) contacts added per second through POST /v1/campaigns/{id}/contacts (JSON, 1,000 a
    request) against ingest's Python API (`CampaignClient.add_contacts`, 1,000 a call)
    in the same run, on the same broker, to acknowledged by the broker. Target: >= 0.5.

The API runs as the real `campaignflow api` process (uvicorn) on the local broker; the
campaigns are created by producing their create commands (the read model folds them
as it would a `campaign create`), so seeding takes seconds, not an upload each.

    .venv/bin/python benchmarks/api.py [--campaigns 10000] [--clients 50] [--contacts 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

# Run as a script, this file's directory comes first on sys.path and its own name
# (api) would shadow the api package it measures.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)

from api import accounts  # noqa: E402
from api.controlplane import ControlPlane  # noqa: E402
from campaignflow import kafka_local  # noqa: E402
from campaignflow.config import settings  # noqa: E402
from campaigns import testing  # noqa: E402
from campaigns.events import Command, CommandKind  # noqa: E402
from ingest.api import CampaignClient  # noqa: E402
from topics import catalogue  # noqa: E402
from topics.admin import admin_client, create_topics  # noqa: E402
from topics.codec import encode  # noqa: E402
from topics.producer import TrackedProducer  # noqa: E402
from topics.translate import command_to_record  # noqa: E402

CAMPAIGNFLOW = str(Path(sys.executable).parent / "campaignflow")
BATCH = 1000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def definition(campaign_id: str, account: str) -> Any:
    """New York hours (not always open): the API serves it, nothing dials."""
    return testing.definition(
        campaign_id,
        account_id=account,
        name=f"Bench {campaign_id}",
        timezone="America/New_York",
        calling_days=None,
        calling_window=None,
        concurrent_calls=10,
    )


def seed_campaigns(bootstrap: str, prefix: str, account: str, n: int) -> list[str]:
    producer = TrackedProducer(settings().kafka_at(bootstrap))
    topic = catalogue.topic_name(catalogue.COMMANDS, prefix)
    now_us = time.time_ns() // 1000
    ids = [f"bench-{i:05d}" for i in range(n)]
    for cid in ids:
        cmd = Command(
            uuid.uuid4().hex,
            CommandKind.create,
            definition=definition(cid, account),
            expected_contacts=0,
            account_id=account,
        )
        producer.produce(
            topic,
            value=encode("CampaignCommand", command_to_record(cid, cmd, now_us)),
            key=account.encode(),
        )
    producer.wait(120)
    producer.close()
    return ids


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _get(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, bytes]:
    """One GET on a kept-alive connection: (status, body). A bare client, so the client's own
    cost (httpx costs more than the server's answer here) stays out of the latency."""
    writer.write(request)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return status, await reader.readexactly(length)


async def load(
    port: int, headers: dict[str, str], paths: list[str], clients: int, seconds: float
) -> list[float]:
    """`clients` connections, each one request at a time, for `seconds`; latencies in ms."""
    latencies: list[float] = []
    auth = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    requests = [f"GET {p} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}\r\n".encode() for p in paths]
    deadline = time.perf_counter() + seconds

    async def one(k: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        i = k
        try:
            while time.perf_counter() < deadline:
                t = time.perf_counter()
                status, body = await _get(reader, writer, requests[i % len(requests)])
                latencies.append((time.perf_counter() - t) * 1000)
                assert status == 200, (paths[i % len(paths)], status, body[:200])
                i += clients
        finally:
            writer.close()

    await asyncio.gather(*(one(k) for k in range(clients)))
    return latencies


def rows(n: int, start: int) -> list[dict[str, str]]:
    return [
        {
            "phone_number": f"+1212555{(start + i) % 10_000:04d}",
            "contact_id": f"b{start + i}",
            "name": f"N{i}",
        }
        for i in range(n)
    ]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--campaigns", type=int, default=10_000)
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--seconds", type=float, default=15.0)
    p.add_argument("--contacts", type=int, default=20_000)
    args = p.parse_args()

    bootstrap = kafka_local.up().bootstrap
    prefix = f"bapi-{uuid.uuid4().hex[:8]}."
    create_topics(
        list(settings().topics_at(prefix).catalogue().values()), admin_client(settings().kafka)
    )
    cp = ControlPlane(settings().kafka_at(bootstrap), settings().topics_at(prefix))
    cp.start()
    key = accounts.create_account(cp, "bench").key
    cp.set_subscription("bench", True)
    cp.close()
    headers = {"Authorization": f"Bearer {key}"}

    t = time.perf_counter()
    ids = seed_campaigns(bootstrap, prefix, "bench", args.campaigns)
    print(f"seeded {len(ids):,} create commands in {time.perf_counter() - t:.1f}s")

    with tempfile.TemporaryDirectory(prefix="bench-api-") as home:
        port = free_port()
        env = {
            **os.environ,
            "CAMPAIGNFLOW_HOME": home,
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "CAMPAIGNFLOW_TOPIC_PREFIX": prefix,
            "CAMPAIGNFLOW_API_PORT": str(port),
            # One account's 50 clients measure the API's throughput: no per-account rate.
            "CAMPAIGNFLOW_API_REQUESTS_PER_HOUR": "0",
        }
        log = open(Path(home) / "api.log", "wb")  # noqa: SIM115 - owned by the process
        proc = subprocess.Popen(
            [CAMPAIGNFLOW, "api", "--no-webhooks"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        url = f"http://127.0.0.1:{port}"
        report: list[dict[str, Any]] = []
        try:
            http = httpx.Client(base_url=url, headers=headers, timeout=60)
            deadline = time.monotonic() + 180
            while True:
                try:
                    last = http.get(f"/v1/campaigns/{ids[-1]}")
                    if last.status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise SystemExit(
                        f"API not ready: {(Path(home) / 'api.log').read_text()[-2000:]}"
                    )
                time.sleep(0.5)
            print(
                f"read model holds {args.campaigns:,} campaigns after {time.perf_counter() - t:.1f}s"
            )

            # (a) reads: a warm-up, then each path set on its own
            asyncio.run(load(port, headers, ["/v1/campaigns"], args.clients, 2))
            pages = ["/v1/campaigns?limit=50"]
            cursor = None
            for _ in range(50):  # first 50 pages' cursors: listing deep pages too
                r = http.get(
                    "/v1/campaigns", params={"limit": 50, **({"cursor": cursor} if cursor else {})}
                ).json()
                cursor = r["next_cursor"]
                pages.append(f"/v1/campaigns?limit=50&cursor={cursor}")
            # the bare baseline: uvicorn answering a constant, same clients, same run
            bare = asyncio.run(load(port, headers, ["/healthz"], args.clients, args.seconds))
            bare_p50, bare_p99 = percentile(bare, 0.5), percentile(bare, 0.99)
            print(
                f"(a) {'GET /healthz (bare)':24s} p50 {bare_p50:6.1f} ms  p99 {bare_p99:6.1f} ms"
                f"  ({len(bare):,} requests, {len(bare) / args.seconds:,.0f}/s, {args.clients} clients)"
            )
            for name, paths in (
                ("GET /v1/campaigns", pages),
                (
                    "GET /v1/campaigns/{id}",
                    [f"/v1/campaigns/{cid}" for cid in ids[:: max(1, len(ids) // 2000)]],
                ),
            ):
                lat = asyncio.run(load(port, headers, paths, args.clients, args.seconds))
                p50, p99 = percentile(lat, 0.5), percentile(lat, 0.99)
                rps = len(lat) / args.seconds
                print(
                    f"(a) {name:24s} p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  ({len(lat):,} requests, {rps:,.0f}/s, {args.clients} clients)"
                )
                report.append(
                    {
                        "figure": f"(a) {name} p99 ms ({args.campaigns:,} campaigns, {args.clients} clients)",
                        "value": round(p99, 1),
                        "baseline": round(bare_p99, 1),
                        "ratio": round(p99 / bare_p99, 2),
                        "target": "< 50 ms",
                    }
                )
                report.append(
                    {
                        "figure": f"(a) {name} p50 ms",
                        "value": round(p50, 1),
                        "baseline": None,
                        "ratio": None,
                        "target": "-",
                    }
                )

            # (b) contacts added: API vs the Python API, same campaign kind, same batch size
            target_ids = ids[:2]
            api_s = py_s = 0.0
            with CampaignClient(
                settings().kafka_at(bootstrap), settings().topics_at(prefix), timeout_seconds=60
            ) as client:
                # The account named, as the API names it: without it each call would
                # find the campaign's create command by scanning campaign.commands.
                client.add_contacts(
                    target_ids[1], rows(10, 9_000_000), region="US", account_id="bench"
                )  # connect, topics
                http.post(
                    f"/v1/campaigns/{target_ids[0]}/contacts",
                    json={"contacts": rows(10, 8_000_000)},
                )
                for round_ in range(2):  # alternate, so drift on the shared machine hits both
                    base = 1_000_000 * (round_ + 1)
                    t = time.perf_counter()
                    for i in range(0, args.contacts, BATCH):
                        r = http.post(
                            f"/v1/campaigns/{target_ids[0]}/contacts",
                            json={"contacts": rows(BATCH, base + i)},
                        )
                        assert r.status_code == 200 and r.json()["accepted"] == BATCH, r.text[:300]
                    api_s += time.perf_counter() - t
                    t = time.perf_counter()
                    for i in range(0, args.contacts, BATCH):
                        res = client.add_contacts(
                            target_ids[1],
                            rows(BATCH, 5_000_000 + base + i),
                            region="US",
                            account_id="bench",
                        )
                        assert len(res.accepted) == BATCH
                    py_s += time.perf_counter() - t
            n = 2 * args.contacts
            api_rate, py_rate = n / api_s, n / py_s
            print(
                f"(b) contacts added via API     {api_rate:10,.0f}/s ({n:,} in {api_s:.1f}s, {BATCH} a request)"
            )
            print(
                f"    contacts added via Python  {py_rate:10,.0f}/s ({n:,} in {py_s:.1f}s, {BATCH} a call)"
            )
            print(f"    ratio API / Python API     {api_rate / py_rate:10.2f} (target >= 0.5)")
            report.append(
                {
                    "figure": "(b) contacts added/s, API vs CampaignClient",
                    "value": round(api_rate),
                    "baseline": round(py_rate),
                    "ratio": round(api_rate / py_rate, 2),
                    "target": ">= 0.5",
                }
            )
        finally:
            proc.terminate()
            proc.wait(30)
            log.close()
    print("BENCH " + json.dumps(report))


if __name__ == "__main__":
    main()
