"""The worker's lease: a stall past it ends the process (a zombie writes nothing), unless
the group coordinator went on answering the worker's heartbeats meanwhile."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from typing import Any

from aiokafka.protocol.group import HeartbeatRequest, SyncGroupRequest
from aiokafka.protocol.metadata import MetadataRequest

from streams.lease import EXIT_FENCED
from streams.transport import watch_membership

SCRIPT = """
from streams.lease import Lease
now = [100.0]
lease = Lease(0.2, clock=lambda: now[0])  # the script moves the clock: no real waiting
lease.check()          # before the first renewal (start-up): held
lease.renew()
lease.check()
print("alive", flush=True)
now[0] += 0.5          # a stall longer than the lease
lease.check()
print("still writing", flush=True)
"""

# The worker's loop stalls (a long engine step) while the consumer thread's heartbeats
# are answered: the lease holds; once no heartbeat sent after the lease began is
# answered, the next check ends the process.
HEARTBEATS = """
from streams.lease import Lease
now = [100.0]
lease = Lease(0.2, clock=lambda: now[0])  # the script moves the clock: no real waiting
lease.renew()
now[0] += 0.5                    # the loop stalled past the lease ...
lease.confirm(now[0])            # ... while a heartbeat was answered
lease.check()
lease.renew()
print("alive", flush=True)
sent = now[0]
now[0] += 0.5                    # a pause: what is answered now was sent before it
lease.confirm(sent)
lease.check()
print("still writing", flush=True)
"""


def run(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )


def test_a_stall_past_the_lease_exits_before_the_next_write() -> None:
    out = run(SCRIPT)
    assert out.returncode == EXIT_FENCED
    assert out.stdout.split() == ["alive"]


def test_answered_heartbeats_hold_the_lease_through_a_long_step_and_a_pause_still_ends_it() -> None:
    out = run(HEARTBEATS)
    assert out.returncode == EXIT_FENCED
    assert out.stdout.split() == ["alive"]


class Answer:
    def __init__(self, error_code: int) -> None:
        self.error_code = error_code


class Coordinator:
    """aiokafka's group coordinator as `watch_membership` sees it: `_send_req` answers."""

    def __init__(self) -> None:
        self.answers: list[Answer] = []

    async def _send_req(self, request: Any) -> Answer:
        return self.answers.pop(0)


def test_only_membership_requests_answered_as_a_member_renew() -> None:
    coordinator = Coordinator()
    reported: list[float] = []
    target: list[Any] = [None]
    watch_membership(coordinator, lambda: target[0])
    heartbeat = HeartbeatRequest("g", 1, "m")
    sync = SyncGroupRequest("g", 1, "m", None, [])
    cases = [
        (heartbeat, 0, False),  # nobody listens yet (the agent not started)
        (heartbeat, 0, True),
        (heartbeat, 27, True),  # rebalance in progress: still a member until it rejoins
        (sync, 0, True),
        (heartbeat, 25, False),  # unknown member: fenced
        (heartbeat, 22, False),  # illegal generation: fenced
        (MetadataRequest([]), 0, False),  # not a membership request
    ]

    async def go() -> list[bool]:
        renewed = []
        for request, code, listening in cases:
            target[0] = reported.append if listening else None
            before = len(reported)
            coordinator.answers.append(Answer(code))
            answer = await coordinator._send_req(request)
            assert answer.error_code == code
            renewed.append(len(reported) > before)
        return renewed

    assert asyncio.run(go()) == [False, True, True, True, False, False, False]
    assert reported == sorted(reported)


def test_an_answer_renews_from_when_its_request_was_sent() -> None:
    """An answer read after a pause proves membership at the send, not at the reading."""
    released = asyncio.Event()
    coordinator = Coordinator()
    coordinator.answers.append(Answer(0))
    send = coordinator._send_req

    async def slow(request: Any) -> Answer:
        await released.wait()
        return await send(request)

    coordinator._send_req = slow  # type: ignore[method-assign]
    reported: list[float] = []
    watch_membership(coordinator, lambda: reported.append)

    async def go() -> float:
        task = asyncio.ensure_future(coordinator._send_req(HeartbeatRequest("g", 1, "m")))
        await asyncio.sleep(0)  # sent, waiting for its answer
        answered = time.monotonic()
        released.set()
        await task
        return answered

    answered = asyncio.run(go())
    assert len(reported) == 1 and reported[0] < answered
