"""Issue 21 item 1: two lists parsed at once in one process (the API runs uploads in its
threads) each get exactly their own result: no layout, region or cache is shared.

The lists differ in every way the parser's state does: column order (the phone number
is column 1 in one, column 3 in the other), default region (US national numbers in one,
French in the other). Read with the other's layout or region, rows are rejected or get
other numbers, so a shared state shows as a different result.
"""

from __future__ import annotations

import contextlib
import io
import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api import accounts
from api.app import create_app, stop_services
from ingest.pipeline import Chunk, ContactReader
from tests.integration.api_kit import definition, local_services, setup_account
from tests.integration.dialer_kit import drop_topics
from topics import catalogue

NOTE = "x" * 150  # fat rows: a list of a few pieces stays a few thousand rows


@dataclass(frozen=True)
class ListFile:
    data: bytes
    region: str
    rows: int


def us_list(rows: int) -> ListFile:
    """phone_number first, US national numbers."""
    lines = ["phone_number,name,note"]
    lines += [f"(212) {555 + i // 10_000}-{i % 10_000:04d},Name {i},{NOTE}" for i in range(rows)]
    return ListFile(("\n".join(lines) + "\n").encode(), "US", rows)


def fr_list(rows: int) -> ListFile:
    """phone_number third, after a contact id; French national numbers."""
    lines = ["name,contact_id,phone_number,note"]
    lines += [
        f"Nom {i},fr-{i},01 {40 + i // 10_000} {i // 100 % 100:02d} {i % 100:02d} 00,{NOTE}"
        for i in range(rows)
    ]
    return ListFile(("\n".join(lines) + "\n").encode(), "FR", rows)


@dataclass(frozen=True)
class Result:
    rows: int
    accepted: list[tuple[int, str, bytes]]  # row, contact id, the encoded ContactRow
    rejected: int


def collect(chunks: Iterator[Chunk]) -> Result:
    rows = rejected = 0
    accepted: list[tuple[int, str, bytes]] = []
    for chunk in chunks:
        rows += chunk.rows
        rejected += len(chunk.rejections)
        accepted += [(a.row, a.contact_id, a.encoded) for a in chunk.accepted]
    return Result(rows, accepted, rejected)


def reader(f: ListFile, chunk_bytes: int) -> ContactReader:
    return ContactReader.open(io.BytesIO(f.data), "list.csv", f.region, 1, chunk_bytes)


def alone(f: ListFile, chunk_bytes: int) -> Result:
    return collect(reader(f, chunk_bytes).chunks())


def test_the_lists_differ_and_parse_cleanly_alone() -> None:
    us, fr = us_list(100), fr_list(100)
    a, b = alone(us, 1_000), alone(fr, 1_000)
    assert (a.rows, len(a.accepted), a.rejected) == (100, 100, 0)
    assert (b.rows, len(b.accepted), b.rejected) == (100, 100, 0)
    assert b"+1212555" in a.accepted[0][2] and b"+33140" in b.accepted[0][2]
    assert b.accepted[5][1] == "fr-5"


def test_interleaved_parses_each_get_their_own_result() -> None:
    """Two parses in one thread, a piece of one then a piece of the other."""
    us, fr = us_list(200), fr_list(200)
    want_a, want_b = alone(us, 2_000), alone(fr, 2_000)
    gens = {"us": reader(us, 2_000).chunks(), "fr": reader(fr, 2_000).chunks()}
    parts: dict[str, list[Chunk]] = {"us": [], "fr": []}
    while gens:
        for name in list(gens):
            chunk = next(gens[name], None)
            if chunk is None:
                del gens[name]
            else:
                parts[name].append(chunk)
    got = {name: collect(iter(chunks)) for name, chunks in parts.items()}
    assert len(parts["us"]) > 3 and len(parts["fr"]) > 3  # really interleaved
    assert got["us"] == want_a
    assert got["fr"] == want_b


def test_parses_in_two_threads_each_get_their_own_result() -> None:
    """Two threads in lockstep: each reads a piece, then waits for the other."""
    us, fr = us_list(300), fr_list(300)
    want = {"us": alone(us, 3_000), "fr": alone(fr, 3_000)}
    barrier = threading.Barrier(2, timeout=120)
    got: dict[str, Result] = {}

    def run(name: str, f: ListFile) -> None:
        def stepped() -> Iterator[Chunk]:
            for chunk in reader(f, 3_000).chunks():
                with contextlib.suppress(threading.BrokenBarrierError):
                    barrier.wait()  # broken once the other parse has ended
                yield chunk
            barrier.abort()

        got[name] = collect(stepped())

    threads = [
        threading.Thread(target=run, args=("us", us)),
        threading.Thread(target=run, args=("fr", fr)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == want


# ---- live: two accounts' dry runs through the API at once -------------------------------


@pytest.fixture()
def api(kafka_bootstrap: str, tmp_path: Path) -> Iterator[tuple[TestClient, Any]]:
    prefix = f"tupl-{uuid.uuid4().hex[:8]}."
    svc = local_services(kafka_bootstrap, prefix, tmp_path / "api")
    app = create_app(svc.config, services=svc)
    svc.extra["app"] = app
    try:
        with TestClient(app) as client:
            yield client, svc
    finally:
        stop_services(svc)
        drop_topics([catalogue.topic_name(t, prefix) for t in catalogue.LOGICAL_NAMES])


def dry_run(client: TestClient, headers: dict[str, str], cid: str, f: ListFile) -> Any:
    body = {**definition(cid), "default_region": f.region}
    r = client.post(
        "/v1/campaigns?dry_run=true",
        files={
            "definition": (None, json.dumps(body)),
            "contacts": ("contacts.csv", f.data, "text/csv"),
        },
        headers=headers,
    )
    assert r.status_code == 200, r.text[:500]
    return r.json()["contacts"]


def test_two_accounts_dry_runs_at_once_through_the_api(api: tuple[TestClient, Any]) -> None:
    """Lists of several pieces each (the API parses in process, 1 MiB a piece)."""
    client, svc = api
    keys = {
        name: {"Authorization": f"Bearer {accounts.create_account(svc.cp, name).key}"}
        for name in ("upl-us", "upl-fr")
    }
    for headers in keys.values():
        setup_account(client, headers)
    us, fr = us_list(12_000), fr_list(12_000)
    assert min(len(us.data), len(fr.data)) > 2 * (1 << 20)
    solo = {
        "us": dry_run(client, keys["upl-us"], "solo-us", us),
        "fr": dry_run(client, keys["upl-fr"], "solo-fr", fr),
    }
    assert solo["us"] == {"accepted": 12_000, "rejected": 0, "rows": 12_000}
    assert solo["fr"] == {"accepted": 12_000, "rejected": 0, "rows": 12_000}
    start = threading.Barrier(2, timeout=60)
    got: dict[str, Any] = {}

    def run(name: str, account: str, f: ListFile) -> None:
        start.wait()
        got[name] = dry_run(client, keys[account], f"both-{name}", f)

    threads = [
        threading.Thread(target=run, args=("us", "upl-us", us)),
        threading.Thread(target=run, args=("fr", "upl-fr", fr)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == solo
