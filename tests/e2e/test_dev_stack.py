"""The whole stack as an operator runs it: dev up, a campaign from the CLI, ClickHouse, dev down.

The calls that land in ClickHouse must be exactly those `campaignflow simulate`
predicts for the same scripted outcomes (same call ids, numbers and caller IDs).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import DEV_UP_SECONDS, free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
EXE = str(Path(sys.executable).parent / "campaignflow")

CAMPAIGN = """\
campaign_id: e2e-stack
account_id: acme
name: End to end
agent: {id: bot, prompt: "Hi {{customer_name}}, about {{plan}}"}
source_number: "+15550100000"
variable_mapping: {name: customer_name}
rules:
  max_retries: 2
  retry_delay_minutes: 0.01
  calling_days: [mon, tue, wed, thu, fri, sat, sun]
  calling_window: {start: "00:00", end: "24:00"}
  timezone: Europe/Paris
  concurrent_calls: 3
  inbound_free_slots: 1
  caller_ids: {numbers: ["+15550100001", "+15550100002"], strategy: rolling}
  alternate_strategy: clamp
  max_call_minutes: 0.5
"""
CONTACTS = """\
contact_id,phone_number,name,plan,phone_number_2,name_2
a,+12125550101,Ann,gold,+12125550191,Ann's office
b,+12125550102,Bob,silver,,
c,+12125550103,Cat,gold,+12125550193,
d,+12125550104,Dan,basic,,
e,+12125550105,Eve,pro,+12125550195,Eve's office
f,not-a-number,Fay,pro,,
"""
OUTCOMES = """\
contact_id,attempt,status,duration_seconds
a,1,no_answer,2
a,2,answered,3
b,1,busy,1
b,2,busy,1
b,3,busy,1
c,1,invalid_number,1
d,1,answered,2
e,1,voicemail,1
e,2,none,0
e,3,answered,1
"""


def cli(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EXE, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def stack(tmp_path: Path, kafka_bootstrap: str, topic_prefix: str) -> Any:
    env = {
        **os.environ,
        "CAMPAIGNFLOW_HOME": str(tmp_path / "home"),
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "CAMPAIGNFLOW_TOPIC_PREFIX": topic_prefix,
        "CAMPAIGNFLOW_WORKER_PORT": str(free_port()),
        "CAMPAIGNFLOW_DIALER_METRICS_PORT": str(free_port()),
        "CAMPAIGNFLOW_DIALER_CALLBACK_PORT": str(free_port()),
        "CAMPAIGNFLOW_SINK_PORT": str(free_port()),
        "CAMPAIGNFLOW_API_PORT": str(free_port()),
    }
    (tmp_path / "campaign.yaml").write_text(CAMPAIGN)
    (tmp_path / "contacts.csv").write_text(CONTACTS)
    (tmp_path / "outcomes.csv").write_text(OUTCOMES)
    up = cli(
        env,
        "dev",
        "up",
        "--dialer-script",
        str(tmp_path / "outcomes.csv"),
        "--dialer-time-scale",
        "1",
        timeout=DEV_UP_SECONDS,
    )
    assert up.returncode == 0, up.stdout + up.stderr
    # No account may start a campaign without a subscription record: activate acme's.
    account = cli(env, "accounts", "create", "acme", "--active")
    assert account.returncode == 0, account.stdout + account.stderr
    try:
        yield env, tmp_path
    finally:
        pids = [int(p.read_text()) for p in (tmp_path / "home" / "run").glob("*.pid")]
        down = cli(env, "dev", "down", timeout=120)
        assert down.returncode == 0, down.stdout + down.stderr
        for pid in pids:
            assert (
                not Path(f"/proc/{pid}").exists()
                or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
            ), f"pid {pid} still runs after dev down"


def sql(env: dict[str, str], query: str) -> list[dict[str, Any]]:
    out = cli(env, "sql", query, "--format", "json")
    assert out.returncode == 0, out.stdout + out.stderr
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def test_campaign_through_the_stack_matches_simulate(stack: Any) -> None:
    env, tmp = stack
    predicted = cli(
        env,
        "simulate",
        "--campaign",
        str(tmp / "campaign.yaml"),
        "--contacts",
        str(tmp / "contacts.csv"),
        "--outcomes",
        str(tmp / "outcomes.csv"),
        "--start",
        "2026-12-01T14:00:00Z",
    )
    assert predicted.returncode == 0, predicted.stderr
    lines = [json.loads(x) for x in predicted.stdout.splitlines()]
    want_calls = sorted(
        (x["call_id"], x["to"], x["from"]) for x in lines if x["type"] == "call.create"
    )
    want_finals = {x["contact_id"]: x["status"] for x in lines if x["type"] == "contact.final"}

    created = cli(
        env,
        "campaign",
        "create",
        str(tmp / "campaign.yaml"),
        "--contacts",
        str(tmp / "contacts.csv"),
        "--yes",
        "--wait",
    )
    assert created.returncode == 0, created.stdout + created.stderr
    assert (tmp / "contacts.rejects.csv").exists() or "reject" in created.stdout.lower()
    started = cli(env, "campaign", "start", "e2e-stack")
    assert started.returncode == 0, started.stdout + started.stderr

    calls_query = (
        "SELECT call_id, to_number, caller_id FROM call_attempts FINAL"
        " WHERE campaign_id = 'e2e-stack' ORDER BY call_id"
    )
    finals_query = "SELECT contact_id, status FROM v_contact_finals WHERE campaign_id = 'e2e-stack'"
    seen: dict[str, int] = {"calls": 0, "finals": 0}
    got_calls: list[tuple[str, str, str]] = []

    def every_contact_final() -> bool:
        calls = sorted(
            (r["call_id"], r["to_number"], r["caller_id"]) for r in sql(env, calls_query)
        )
        finals = sql(env, finals_query)
        seen.update(calls=len(calls), finals=len(finals))
        got_calls[:] = calls
        return len(calls) >= len(want_calls) and len(finals) >= len(want_finals)  # then compared

    wait_until(
        every_contact_final,
        "every call and final in ClickHouse",
        progress=seen.copy,
        poll_seconds=2,
    )
    finals = sql(env, finals_query)
    assert {r["contact_id"]: r["status"] for r in finals} == want_finals
    assert got_calls == want_calls
    outcomes = sql(
        env, "SELECT count() AS n FROM call_outcomes FINAL WHERE campaign_id = 'e2e-stack'"
    )
    assert outcomes[0]["n"] == len(want_calls), "one outcome row per call, timeouts included"
