"""The engine worker on the real broker: live equals simulate, crashes, two workers, lifecycle, bad input.

Each test runs `campaignflow worker` subprocesses under its own topic prefix and
CAMPAIGNFLOW_HOME, with the scripted dialer of worker_rig answering call:create.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from campaigns.contacts import Alternate, Contact
from campaigns.events import Command, CommandKind
from campaigns.models import CampaignDefinition
from campaigns.simulate import ScriptedCall, SimDialer, Simulation
from tests.integration.worker_rig import Rig, ScriptedDialer, now_us, wait_until
from topics import catalogue

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

NS = "io.campaignflow.v1."


def definition(cid: str, **rules: Any) -> CampaignDefinition:
    base: dict[str, Any] = {
        "max_retries": 2,
        "retry_delay_minutes": 0.02,
        "calling_days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        "calling_window": {"start": "00:00", "end": "24:00"},
        "timezone": "UTC",
        "concurrent_calls": 3,
        "max_call_minutes": 0.05,
        "caller_ids": {"numbers": ["+15550100001", "+15550100002"], "strategy": "rolling"},
    }
    base.update(rules)
    return CampaignDefinition.model_validate(
        {
            "campaign_id": cid,
            "account_id": "acme",
            "name": "Live test",
            "agent": {"id": "bot", "prompt": "Hi {{name}}"},
            "source_number": "+15550100000",
            "variable_mapping": {},
            "rules": base,
        }
    )


def contacts(n: int) -> list[Contact]:
    out = []
    for i in range(n):
        alts = [Alternate(2, f"+1202555{2000 + i:04d}", {"name": f"alt{i}"})] if i % 3 == 0 else []
        out.append(Contact(f"c{i}", i + 1, f"+1202555{1000 + i:04d}", alts, {"name": f"person{i}"}))
    return out


SCRIPT: dict[tuple[str, int], str] = {
    ("c0", 1): "answered",
    ("c1", 1): "busy",
    ("c1", 2): "answered",
    ("c2", 1): "invalid_number",
    ("c4", 1): "none",  # the engine times it out
    ("c4", 2): "answered",
    ("c5", 1): "voicemail",
    ("c5", 2): "busy",
    ("c5", 3): "no_answer",
    ("c7", 1): "answered",
}


def simulate(
    d: CampaignDefinition, cs: list[Contact]
) -> tuple[set[tuple[str, str, str]], dict[str, str]]:
    dialer = SimDialer(
        script={k: ScriptedCall(v, 0) for k, v in SCRIPT.items()},
        default=ScriptedCall("no_answer", 0),
    )
    lines = list(Simulation(d, cs, [], start=now_us(), dialer=dialer).run())
    calls = {(x["call_id"], x["to"], x["from"]) for x in lines if x["type"] == "call.create"}
    finals = {x["contact_id"]: x["status"] for x in lines if x["type"] == "contact.final"}
    return calls, finals


def bodies(items: list[tuple[str, dict[str, Any]]], cid: str, kind: str) -> list[dict[str, Any]]:
    return [
        r["body"][1]
        for name, r in items
        if name == "CampaignEvent" and r["campaign_id"] == cid and r["body"][0] == NS + kind
    ]


def statuses(events: Any, cid: str) -> list[str]:
    return [b["status"] for b in bodies(events.snapshot(), cid, "StatusChanged")]


@pytest.fixture()
def rig(kafka_bootstrap: str, tmp_path: Path) -> Iterator[Rig]:
    r = Rig(kafka_bootstrap, tmp_path)
    try:
        yield r
    finally:
        r.close()


def create(rig: Rig, d: CampaignDefinition, n: int, cid: str | None = None) -> None:
    rig.send_command(
        d.campaign_id,
        Command(f"create-{d.campaign_id}", CommandKind.create, definition=d, expected_contacts=n),
    )


def command(rig: Rig, cid: str, kind: CommandKind, cmd_id: str, **kw: Any) -> None:
    rig.send_command(cid, Command(cmd_id, kind, **kw))


def live_result(
    dialer: ScriptedDialer, events: Any, cid: str
) -> tuple[set[tuple[str, str, str]], dict[str, str]]:
    calls = {(c["call_id"], c["to"], c["from"]) for c in dialer.calls() if c["campaign_id"] == cid}
    finals = {b["contact_id"]: b["status"] for b in bodies(events.snapshot(), cid, "ContactFinal")}
    return calls, finals


# ---- live equals simulate ------------------------------------------------------------------


@pytest.mark.parametrize("contacts_first", [False, True], ids=["create-first", "contacts-first"])
def test_live_equals_simulate(rig: Rig, contacts_first: bool) -> None:
    cid = f"live-{int(contacts_first)}"
    d = definition(cid)
    cs = contacts(9)
    expected_calls, expected_finals = simulate(d, cs)
    dialer = ScriptedDialer(rig, SCRIPT)
    events = rig.collect(catalogue.EVENTS)
    port = rig.start_worker()
    rig.wait_ready(port)
    if contacts_first:
        rig.send_contacts(cid, cs, size=4)
        create(rig, d, len(cs))
    else:
        create(rig, d, len(cs))
        rig.send_contacts(cid, cs, size=4)
    command(rig, cid, CommandKind.start, "start-1")
    wait_until(lambda: "completed" in statuses(events, cid), 90, "campaign completed")
    calls, finals = live_result(dialer, events, cid)
    assert calls == expected_calls
    assert finals == expected_finals
    status = rig.status(port, cid)
    assert status is not None and status["status"] == "completed"
    assert status["contacts"]["final"] == len(cs)
