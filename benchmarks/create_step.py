"""The create's step and a draft's edit at N early contacts, over the worker's table store.

`campaign create` publishes the contacts first and the create command last, so every
contact reaches the engine before its campaign (issue 26). This replays that order the
way the worker steps it: batches of 1,000 contacts, one engine step each, each sealed
and settled (committed) before the next; then the create alone, then a draft's edit
alone, then the campaign's next steps (ticks) until the edit's old list is dropped
(`sweep`: how many steps, the slowest). Printed per step: its wall time (the engine
step, then `seal`, which encodes the step's changed rows on the event loop too) and how
many rows it changed. Each must stay far below the worker's 5 s lease
(`streams/lease.py`) at any list size. With `--cancel`, a cancel of another draft of N
contacts too (still one step: SPEC 4 makes every contact `cancelled` at that instant).

    .venv/bin/python benchmarks/create_step.py [--contacts 100000] [--cancel]
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from typing import Any

from campaigns import testing
from campaigns.contacts import Contact
from campaigns.engine import Engine
from campaigns.events import Command, CommandKind, ContactBatch
from campaigns.store import StaticDirectory
from campaigns.windows import US
from streams.tablestore import TableStore

ACCOUNT = "acme"
BATCH = 1000
START_US = 1_796_133_600 * US  # 2026-12-01 14:00 UTC


class _Rocks:
    """What TableStore needs of `streams.rocks.AtomicRocksStore`, in dicts."""

    def __init__(self) -> None:
        self.dbs: defaultdict[int, dict[bytes, bytes]] = defaultdict(dict)

    def db(self, partition: int) -> dict[bytes, bytes]:
        return self.dbs[partition]

    def write(self, partition: int, writes: Any, offset: int | None) -> None:
        db = self.dbs[partition]
        for key, value in writes:
            if value is None:
                db.pop(key, None)
            else:
                db[key] = value

    def take_unclosed(self, partition: int) -> set[bytes]:
        return set()


def _commit(store: TableStore) -> tuple[float, int]:
    """Seal and settle the step's changes, as the committer does; (seal seconds, rows)."""
    t0 = time.perf_counter()
    run = store.seal()
    sealed = time.perf_counter() - t0
    rows = 0
    for partition, writes in run.writes.items():
        rows += len(writes)
        store.settle(partition, writes, offset=0, seq=run.seq)
    return sealed, rows


def _timed(
    engine: Engine,
    store: TableStore,
    campaign_id: str = "c1",
    at_us: int = START_US,
    **inputs: Any,
) -> dict[str, float | int]:
    t0 = time.perf_counter()
    engine.step_campaign(campaign_id, at_us, **inputs)
    stepped = time.perf_counter() - t0
    sealed, rows = _commit(store)
    return {"step_s": round(stepped, 3), "seal_s": round(sealed, 3), "rows_changed": rows}


def _early_list(engine: Engine, store: TableStore, n: int, campaign_id: str) -> None:
    """N contacts in batches of BATCH, each its own step, committed, before the create."""
    for first in range(0, n, BATCH):
        rows = [
            Contact(f"row-{i}", i, f"+1212{i:07d}", [], {"name": f"N{i}"})
            for i in range(first + 1, min(n, first + BATCH) + 1)
        ]
        batch = ContactBatch(f"{campaign_id}/rows-{first + 1}", rows, ACCOUNT)
        engine.step_campaign(campaign_id, START_US, batches=[batch])
        _commit(store)


def run(n: int, cancel: bool = False) -> dict[str, Any]:
    store = TableStore(_Rocks())  # type: ignore[arg-type]
    store.account = ACCOUNT
    engine = Engine(store, StaticDirectory())
    definition = testing.definition("c1", concurrent_calls=2)
    _early_list(engine, store, n, "c1")
    create = Command("k0", CommandKind.create, definition, n, account_id=ACCOUNT)
    result: dict[str, Any] = {"contacts": n, "create": _timed(engine, store, commands=[create])}
    edit = Command("k1", CommandKind.edit, definition, 0, account_id=ACCOUNT)
    result["edit"] = _timed(engine, store, commands=[edit])
    result["sweep"] = _sweep(engine, store)
    if cancel:
        cancel_cmd = Command("k2", CommandKind.cancel, account_id=ACCOUNT)
        _early_list(engine, store, n, "c2")
        create2 = Command(
            "k3",
            CommandKind.create,
            testing.definition("c2", concurrent_calls=2),
            n,
            account_id=ACCOUNT,
        )
        engine.step_campaign("c2", START_US, commands=[create2])
        _commit(store)
        result["cancel"] = _timed(engine, store, "c2", commands=[cancel_cmd])
    return result


def _sweep(engine: Engine, store: TableStore) -> dict[str, Any]:
    """The steps after the edit (ticks of the campaign) until its old list is dropped:
    how many, and the slowest one's time and rows."""
    steps: list[dict[str, float | int]] = []
    while True:
        camp = store.get_campaign("c1")
        if camp is None or not camp.stale:
            break
        steps.append(_timed(engine, store, at_us=START_US + (len(steps) + 1) * US))
    if not steps:
        return {"steps": 0}
    slowest = max(steps, key=lambda s: s["step_s"])
    return {
        "steps": len(steps),
        "slowest": slowest,
        "max_rows": max(s["rows_changed"] for s in steps),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument(
        "--cancel", action="store_true", help="also a cancel of another draft of N contacts"
    )
    args = parser.parse_args()
    print(json.dumps(run(args.contacts, args.cancel)))


if __name__ == "__main__":
    main()
