"""Back-pressure: every dialer down for a while, then back. The worker's in-flight accounting
stays right: calls time out after max_call_minutes and free their slots, the campaign never
has more than its limit in flight, and when a dialer returns it does not dial the backlog
of stale calls (past their deadline: `failed`, not dialled), so no burst above the limit.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from campaigns.events import CommandKind
from tests.integration.test_worker import command, contacts, create, definition, rig  # noqa: F401
from tests.integration.worker_rig import CAMPAIGNFLOW, Rig, wait_until
from topics import catalogue

pytestmark = pytest.mark.integration  # bound: the session timeout; waits fail on a stall

LIMIT = 4
OUTAGE_S = 40.0  # the dialers are down this long: several max_call_minutes (6 s)


def max_overlap(intervals: list[tuple[int, int]]) -> int:
    """Most intervals open at one instant (an end at t frees before a start at t)."""
    edges = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals])
    most = now = 0
    for _t, step in edges:
        now += step
        most = max(most, now)
    return most


def test_dialers_down_for_a_while_no_burst_when_they_return(rig: Rig, tmp_path: Path) -> None:  # noqa: F811
    cid = "backpressure"
    d = definition(
        cid, concurrent_calls=LIMIT, max_retries=1, retry_delay_minutes=0.01, max_call_minutes=0.1
    )
    cs = contacts(40)
    creates = rig.collect(catalogue.CALL_CREATE)
    outcomes = rig.collect(catalogue.OUTCOMES)
    port = rig.start_worker()
    rig.wait_ready(port)
    create(rig, d, len(cs))
    rig.send_contacts(cid, cs, size=20)
    command(rig, cid, CommandKind.start, "start-bp")

    in_flight: list[int] = []

    def sample() -> dict[str, Any] | None:
        st = rig.status(port, cid)
        if st is not None:
            in_flight.append(st["in_flight"])
        return st

    outage_end = time.monotonic() + OUTAGE_S
    while time.monotonic() < outage_end:
        sample()
        time.sleep(0.5)
    made = [r for _n, r in creates.snapshot()]
    timeouts = [r for _n, r in outcomes.snapshot() if r["status"] == "timeout"]
    assert len(timeouts) >= 2 * LIMIT, "calls with no dialer time out"
    assert len(made) > 2 * LIMIT, "timed-out calls freed their slots for new ones"
    assert in_flight and max(in_flight) <= LIMIT

    env = {**rig.env, "CAMPAIGNFLOW_HOME": str(tmp_path / "dialer-home")}
    argv = [CAMPAIGNFLOW, "dialer", "--adapter", "simulator", "--time-scale", "0.02"]
    argv += ["--shares", "answered=0.5,busy=0.5", "--dialer-id", "bp", "--metrics-port", "0"]
    argv += ["--group-id", f"{rig.prefix}dialers"]
    dialer = subprocess.Popen(
        argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        wait_until(
            lambda: (st := sample()) is not None and st["status"] == "completed",
            180,
            "the campaign to complete once a dialer is back",
            every=0.5,
        )
    finally:
        os.killpg(dialer.pid, signal.SIGTERM)
        dialer.wait(30)
    assert max(in_flight) <= LIMIT
    by_id = {r["call_id"]: r for _n, r in creates.snapshot()}
    reported = [r for _n, r in outcomes.snapshot() if r["dialer_id"] == "bp"]
    stale = [r for r in reported if (r["hangup_cause"] or "").startswith("deadline_expired")]
    dialled = [r for r in reported if r not in stale]
    assert stale, "the backlog's stale calls were failed, not dialled"
    assert dialled, "live calls were dialled"
    assert all(r["started_at"] < by_id[r["call_id"]]["deadline"] for r in dialled)
    # Calls really placed at once, each from its dial to its end or its deadline (where
    # the engine frees its slot): never more than the campaign's limit.
    spans = [
        (r["started_at"], min(r["ended_at"], by_id[r["call_id"]]["deadline"])) for r in dialled
    ]
    assert max_overlap(spans) <= LIMIT
    st = rig.status(port, cid)
    assert st is not None and st["in_flight"] == 0
    assert st["contacts"]["final"] == len(cs) == sum(st["contacts"]["by_final_status"].values())
