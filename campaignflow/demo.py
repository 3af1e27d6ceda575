"""`campaignflow demo`: the whole pipeline on the sample campaign, watched live, then its report.

dev up (broker, worker, simulated dialer, sink), create the campaign from
examples/demo with the ingest client, start it, follow the topics until it
completes, wait until ClickHouse holds every call, print the report.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from confluent_kafka import TopicPartition
from rich.console import Console
from rich.live import Live
from rich.table import Table

from campaignflow import devstack
from campaignflow.config import REPO_ROOT, settings
from campaigns.events import CommandKind
from ingest.definitions import load_definition
from topics import catalogue
from topics.codec import DecodeError, decode
from topics.consumer import TopicConsumer

EXAMPLE = REPO_ROOT / "examples" / "demo"
DIALER_MODEL = "answered=0.35,no_answer=0.35,busy=0.15,voicemail=0.1,failed=0.05"
TIME_SCALE = "0.02"  # a 20 s simulated call lasts 0.4 s
TIMEOUT_S = 240


@dataclass
class Progress:
    created: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    finals: Counter[str] = field(default_factory=Counter)
    status: str = "draft"
    started: float = field(default_factory=time.monotonic)

    @property
    def in_flight(self) -> int:
        return self.created - sum(self.outcomes.values())

    def table(self, accepted: int) -> Table:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        t = Table(title=f"campaign status: {self.status}", show_header=False)
        t.add_row("calls created", f"{self.created:,}  ({self.created / elapsed:,.0f}/s)")
        t.add_row("calls in flight", f"{self.in_flight:,}")
        t.add_row(
            "outcomes", ", ".join(f"{k} {v:,}" for k, v in sorted(self.outcomes.items())) or "-"
        )
        done = sum(self.finals.values())
        t.add_row("contacts final", f"{done:,} of {accepted:,}")
        t.add_row(
            "by final status",
            ", ".join(f"{k} {v:,}" for k, v in sorted(self.finals.items())) or "-",
        )
        return t


def _follow(campaign_id: str, since_ms: int) -> TopicConsumer:
    """A consumer of the call and event topics from `since_ms` on, no group commits."""
    s = settings()
    c = TopicConsumer.build(s.kafka, f"demo-{uuid.uuid4().hex[:8]}")
    parts = []
    for logical in (catalogue.CALL_CREATE, catalogue.OUTCOMES, catalogue.EVENTS):
        name = s.topics.name(logical)
        parts += [TopicPartition(name, p, since_ms) for p in c.partitions(name)]
    c.assign(c.raw.offsets_for_times(parts, timeout=10))
    return c


def _apply(p: Progress, campaign_id: str, kind: str, rec: dict[str, object]) -> None:
    if rec.get("campaign_id") != campaign_id:
        return
    if kind == "CallCreate":
        p.created += 1
    elif kind == "CallOutcome":
        p.outcomes[str(rec["status"])] += 1
    elif kind == "CampaignEvent":
        body = rec["body"]
        assert isinstance(body, tuple)
        name, value = body
        if name.endswith("ContactFinal"):
            p.finals[value["status"]] += 1
        elif name.endswith("StatusChanged"):
            p.status = value["status"]


def run(console: Console) -> int:
    say = console.print
    say(
        "[bold]1/4[/bold] starting the local stack (Kafka, engine worker, simulated dialer, ClickHouse sink, REST API and console)"
    )
    devstack.up(
        say,
        (
            "--shares",
            DIALER_MODEL,
            "--time-scale",
            TIME_SCALE,
            "--seed",
            "7",
            "--inbound-per-hour",
            "30",
        ),
    )

    from ingest import CampaignClient

    key = _demo_account("acme")
    s = settings()
    say(f"    console: http://{s.api_host}:{s.api_port}/  (sign in with the key below)")
    say(f"    API key of account acme: {key}")
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    definition = load_definition(EXAMPLE / "campaign.yaml")
    definition = definition.model_copy(update={"campaign_id": f"demo-{stamp}"})
    campaign_id = definition.campaign_id
    since_ms = int(time.time() * 1000) - 5_000
    say(f"[bold]2/4[/bold] creating campaign {campaign_id} from {EXAMPLE.relative_to(REPO_ROOT)}/")
    with CampaignClient(settings().kafka, settings().topics, timeout=60) as client:
        summary = client.create(definition, EXAMPLE / "contacts.csv", wait=True)
        say(
            f"    {summary.accepted:,} contacts accepted, {summary.rejected:,} rejected; engine says: {summary.answer}"
        )
        answer = client.start(campaign_id)
        say(f"    start: {answer.describe(campaign_id, CommandKind.start)}")
        if not answer.ok:
            return 1
    say("[bold]3/4[/bold] running (calls are simulated; a 20 s call lasts 0.4 s here)")
    progress = Progress()
    consumer = _follow(campaign_id, since_ms)
    deadline = time.monotonic() + TIMEOUT_S
    try:
        with Live(progress.table(summary.accepted), console=console, refresh_per_second=4) as live:
            while progress.status not in ("completed", "cancelled") and time.monotonic() < deadline:
                for msg in consumer.messages(2000, timeout_seconds=0.25):
                    if msg.value() is None:
                        continue
                    try:
                        kind, rec = decode(msg.value(), msg.topic(), msg.partition(), msg.offset())
                    except DecodeError:
                        continue
                    _apply(progress, campaign_id, kind, rec)
                live.update(progress.table(summary.accepted))
    finally:
        consumer.close()
    if progress.status != "completed":
        say(f"[red]campaign did not complete within {TIMEOUT_S}s (status {progress.status})[/red]")
        return 1
    say("[bold]4/4[/bold] waiting for ClickHouse to hold every call, then the report")
    _wait_for_sink(campaign_id, progress.created, sum(progress.outcomes.values()))
    from campaignflow.cli_sink import run_query
    from sinks.report import gather, render

    render(gather(campaign_id, run_query, definition.account_id), console)
    accepted = summary.accepted
    kinds = ("reached", "exhausted", "failed", "suppressed", "opted_out")
    parts = {k: progress.finals.get(k, 0) for k in kinds}
    total = sum(parts.values())
    verdict = "adds up" if total == accepted else "DOES NOT add up"
    say(
        f"contacts accepted {accepted:,} = reached {parts['reached']:,} + exhausted {parts['exhausted']:,}"
        f" + failed {parts['failed']:,} + suppressed {parts['suppressed']:,}"
        f" + opted out {parts['opted_out']:,} = {total:,}: {verdict}"
    )
    logs = settings().home / "logs"
    say(f"logs: {', '.join(str(p) for p in sorted(Path(logs).glob('*.log')))}")
    say("The stack keeps running. Stop it with: .venv/bin/campaignflow dev down")
    return 0 if total == accepted else 1


def _demo_account(account_id: str) -> str:
    """The demo's account with an active subscription (none is active by default) and a
    fresh key for the console: created on first run, a new key added on later runs."""
    from api import accounts
    from api.controlplane import ControlPlane

    s = settings()
    cp = ControlPlane(s.kafka, s.topics)
    cp.start()
    try:
        if cp.get("account", account_id, account_id) is None:
            new = accounts.create_account(cp, account_id, "Acme (demo)")
        else:
            new = accounts.add_key(cp, account_id)
        cp.set_subscription(account_id, True, "demo")
        return new.key
    finally:
        cp.close()


def _wait_for_sink(campaign_id: str, calls: int, outcomes: int, timeout: float = 60) -> None:
    from campaignflow.cli_sink import run_query

    sql = (
        f"SELECT (SELECT count() FROM call_attempts FINAL WHERE campaign_id = '{campaign_id}'),"
        f" (SELECT count() FROM call_outcomes FINAL WHERE campaign_id = '{campaign_id}')"
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = run_query(sql).rows[0]
        if row[0] >= calls and row[1] >= outcomes:
            return
        time.sleep(1)
