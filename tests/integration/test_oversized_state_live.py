"""A live worker refuses a create whose state it could not write, and keeps serving.

Issue 21, item 2: the create command goes straight onto the topic (no API, no CLI dry
run). Its Avro is under the message limit, its definition's state row is not; before, the
worker died on MessageTooLarge writing its changelog, restarted and died again.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from campaigns import testing
from campaigns.contacts import Contact
from campaigns.events import Command, CommandKind
from tests.integration.worker_rig import Rig, ScriptedDialer, wait_until
from topics import catalogue

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

NS = "io.campaignflow.v1."
# 400 kB of Avro, 2.4 MB as the worker's JSON state row (control characters as \u00XX).
CONTROL_MAPPING = {f"{i:03d}" + "\x01" * 197: f"{i:03d}" + "\x02" * 197 for i in range(1_000)}


@pytest.fixture()
def rig(kafka_bootstrap: str, tmp_path: Path) -> Iterator[Rig]:
    r = Rig(kafka_bootstrap, tmp_path)
    r.activate("acme")
    try:
        yield r
    finally:
        r.close()


def _bodies(items: list[tuple[str, dict[str, Any]]], cid: str, kind: str) -> list[dict[str, Any]]:
    return [
        r["body"][1]
        for name, r in items
        if name == "CampaignEvent" and r["campaign_id"] == cid and r["body"][0] == NS + kind
    ]


def test_an_oversized_state_create_is_refused_and_the_worker_serves_the_next(rig: Rig) -> None:
    dialer = ScriptedDialer(rig, {}, default="answered")
    events = rig.collect(catalogue.EVENTS)
    parked = rig.collect(catalogue.DEADLETTER)
    port = rig.start_worker()
    rig.wait_ready(port)

    big = testing.definition("big-state", variable_mapping=CONTROL_MAPPING, concurrent_calls=2)
    rig.send_command(
        "big-state",
        Command("create-big", CommandKind.create, definition=big, expected_contacts=1),
    )
    rejected = wait_until(
        lambda: _bodies(events.snapshot(), "big-state", "CommandRejected"),
        90,
        "command.rejected for the oversized create",
    )
    assert rejected[0]["command_id"] == "create-big" and "definition row" in rejected[0]["reason"]
    letters = wait_until(
        lambda: [r for n, r in parked.snapshot() if n == "DeadLetter" and r["key"] == b"big-state"],
        60,
        "the create parked",
    )
    assert letters[0]["topic"] == rig.topic(catalogue.COMMANDS)

    # The same worker process serves the next campaign to its end.
    d = testing.definition("after-big", concurrent_calls=2)
    rig.send_command(
        "after-big", Command("create-after", CommandKind.create, definition=d, expected_contacts=2)
    )
    rig.send_contacts(
        "after-big",
        [Contact(f"c{i}", i + 1, f"+1202555{1000 + i:04d}", [], {"name": "x"}) for i in range(2)],
    )
    rig.send_command("after-big", Command("start-after", CommandKind.start))
    wait_until(
        lambda: (
            "completed"
            in [b["status"] for b in _bodies(events.snapshot(), "after-big", "StatusChanged")]
        ),
        90,
        "the next campaign completed",
    )
    assert len({c["call_id"] for c in dialer.calls() if c["campaign_id"] == "after-big"}) == 2
    assert rig.workers[port].poll() is None, rig.log(port)[-3000:]
    assert "MessageTooLarge" not in rig.log(port)
    assert rig.status(port, "big-state") is None
