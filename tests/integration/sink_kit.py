"""Helpers of the sink's integration tests: records, publishing, a sink subprocess, queries."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from confluent_kafka import Producer

from campaignflow.config import settings
from tests.helpers import STALL_SECONDS, wait_until
from topics import catalogue
from topics.admin import admin_client, create_topics
from topics.clients import producer_config
from topics.codec import encode
from topics.schemas import full_name

T0 = 1_796_133_600_000  # 2026-12-01T14:00:00Z
STATUSES = ("answered", "no_answer", "busy", "voicemail")
CAMPAIGNFLOW = str(Path(sys.executable).with_name("campaignflow"))


def make_topics(prefix: str) -> list[str]:
    specs = list(settings().topics_at(prefix).catalogue().values())
    create_topics(specs, admin_client(settings().kafka))
    return [s.name for s in specs]


def call_create(campaign: str, contact: str, attempt: int) -> dict[str, Any]:
    at = T0 + attempt * 3_600_000
    return {
        "call_id": f"{campaign}/{contact}/{attempt}",
        "campaign_id": campaign,
        "account_id": "acme",
        "contact_id": contact,
        "attempt": attempt,
        "to": "+15550109999",
        "from": f"+1555010000{attempt}",
        "alternate_position": 0,
        "agent_id": "bot",
        "agent_prompt": "Hi",
        "variables": {"name": contact},
        "created_at": at,
        "deadline": at + 3_600_000,
    }


def call_outcome(campaign: str, contact: str, attempt: int, status: str) -> dict[str, Any]:
    at = T0 + attempt * 3_600_000
    return {
        "call_id": f"{campaign}/{contact}/{attempt}",
        "campaign_id": campaign,
        "account_id": "acme",
        "contact_id": contact,
        "attempt": attempt,
        "status": status,
        "created_at": at,
        "started_at": at,
        "answered_at": at + 5_000 if status == "answered" else None,
        "ended_at": at + 65_000,
        "duration_seconds": 60.0 if status == "answered" else None,
        "hangup_cause": "normal",
        "dialer_id": "d1",
    }


def campaign(campaign_id: str, contacts: int) -> dict[str, list[dict[str, Any]]]:
    """A finished campaign: contact i answers on attempt (i % 3) + 1; creates, outcomes, events."""
    creates, outcomes, events = [], [], []
    events.append(
        {
            "event_id": f"{campaign_id}/status/running",
            "campaign_id": campaign_id,
            "account_id": "acme",
            "at": T0,
            "body": (full_name("StatusChanged"), {"status": "running"}),
        }
    )
    for i in range(contacts):
        contact = f"k{i}"
        answer_on = i % 3 + 1
        for attempt in range(1, answer_on + 1):
            creates.append(call_create(campaign_id, contact, attempt))
            status = "answered" if attempt == answer_on else STATUSES[1 + (i + attempt) % 3]
            outcomes.append(call_outcome(campaign_id, contact, attempt, status))
        events.append(
            {
                "event_id": f"{campaign_id}/final/{contact}",
                "campaign_id": campaign_id,
                "account_id": "acme",
                "at": T0 + answer_on * 3_600_000 + 65_000,
                "body": (
                    full_name("ContactFinal"),
                    {"contact_id": contact, "status": "reached", "attempts": answer_on},
                ),
            }
        )
    command = {
        "command_id": f"{campaign_id}/create",
        "campaign_id": campaign_id,
        "account_id": "acme",
        "issued_at": T0,
        "command": (
            full_name("CreateCampaign"),
            {
                "definition": {
                    "campaign_id": campaign_id,
                    "account_id": "acme",
                    "name": "Integration",
                    "description": None,
                    "agent": {"id": "bot", "prompt": "Hi"},
                    "source_number": "+15550100000",
                    "default_region": "US",
                    "variable_mapping": {},
                    "rules": {
                        "max_retries": 2,
                        "retry_delay_minutes": 30.0,
                        "calling_days": ["mon"],
                        "calling_window": {"start": "09:00", "end": "19:00"},
                        "timezone": "America/New_York",
                        "concurrent_calls": 5,
                        "inbound_free_slots": 0,
                        "caller_ids": None,
                        "alternate_strategy": "rolling",
                        "retry_on": ["no_answer"],
                        "max_call_minutes": 60.0,
                        "contact_local_time": {
                            "enabled": False,
                            "window": {"start": "08:00", "end": "21:00"},
                        },
                    },
                },
                "expected_contacts": contacts,
            },
        ),
    }
    return {
        "CallCreate": creates,
        "CallOutcome": outcomes,
        "CampaignEvent": events,
        "CampaignCommand": [command],
    }


LOGICAL = {
    "CallCreate": catalogue.CALL_CREATE,
    "CallOutcome": catalogue.OUTCOMES,
    "CampaignEvent": catalogue.EVENTS,
    "CampaignCommand": catalogue.COMMANDS,
}


def priced_number(e164: str, rate: str, currency: str, at_ms: int) -> bytes:
    """The API's control-plane record of an account acme number with a rate (api.numbers)."""
    body = {"number_id": e164[1:], "e164": e164, "label": "", "caller_id": True}
    body |= {"rate_per_minute": rate, "currency": currency}
    rec = {"kind": "number", "account_id": "acme", "id": e164[1:], "updated_at": at_ms}
    return encode("ApiRecord", {**rec, "body": json.dumps(body)})


def publish(
    records: dict[str, list[dict[str, Any]]], raw: list[tuple[str, bytes | None]] | None = None
) -> None:
    """Publish records (keyed by account) and raw (logical topic, bytes or a tombstone)
    values; wait for acks."""
    producer = Producer(producer_config(settings().kafka))
    for event, recs in records.items():
        topic = catalogue.topic_name(LOGICAL[event], settings().topic_prefix)
        for rec in recs:
            key = rec.get("account_id") or "acme"
            producer.produce(topic, key=key.encode(), value=encode(event, rec))
            producer.poll(0)
    for logical, value in raw or []:
        producer.produce(
            catalogue.topic_name(logical, settings().topic_prefix), key=b"bad", value=value
        )
    assert producer.flush(60) == 0


class SinkProcess:
    """`campaignflow sink` in a subprocess with its own state directory and port."""

    def __init__(self, home: Path, port: int, group: str, *args: str) -> None:
        self.home, self.port, self.group, self.args = home, port, group, args
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = home / f"sink-{port}.log"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["CAMPAIGNFLOW_HOME"] = str(self.home)
        env["CAMPAIGNFLOW_SINK_PORT"] = str(self.port)
        return env

    def start(self) -> SinkProcess:
        self.home.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [CAMPAIGNFLOW, "sink", "--group", self.group, *self.args],
                env=self.env(),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_for(lambda: self.healthy(), 60, "the sink's /health endpoint")
        return self

    def healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(
                f"sink exited {self.proc.returncode}: {self.log.read_text()[-3000:]}"
            )
        try:
            return (
                requests.get(f"http://127.0.0.1:{self.port}/health", timeout=1).status_code == 200
            )
        except requests.RequestException:
            return False

    def token(self) -> str:
        """The bearer token the sink wrote at start (sink.token in its state directory)."""
        return (self.home / "sink.token").read_text().strip()

    def query(self, sql: str) -> list[list[Any]]:
        resp = requests.post(
            f"http://127.0.0.1:{self.port}/query",
            data=sql.encode(),
            headers={"Authorization": f"Bearer {self.token()}"},
            timeout=60,
        )
        body = resp.json()
        if resp.status_code != 200:
            raise AssertionError(body)
        rows: list[list[Any]] = body["rows"]
        return rows

    def scalar(self, sql: str) -> Any:
        try:
            return self.query(sql)[0][0]
        except AssertionError:
            return None  # tables not created yet

    def inserted(self, table: str) -> float:
        """Rows the sink reports inserted into `table` (its Prometheus counter)."""
        text = requests.get(f"http://127.0.0.1:{self.port}/metrics", timeout=5).text
        prefix = f'campaignflow_sink_rows_inserted_total{{table="{table}"}} '
        return sum(float(ln[len(prefix) :]) for ln in text.splitlines() if ln.startswith(prefix))

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)
        return int(self.proc.returncode)


def wait_for(check: Callable[[], Any], seconds: float, what: str) -> Any:
    """Poll `check` until truthy (tests.helpers.wait_until): `seconds` without progress at
    least, and never less than its stall window, so a loaded machine fails no wait."""
    return wait_until(check, what, stall_seconds=max(seconds, STALL_SECONDS))
