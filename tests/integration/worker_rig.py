"""Test rig for the engine worker: real broker, worker subprocesses, a scripted dialer.

No mocks: topics are created with the catalogue under a unique prefix, the worker runs
as `campaignflow worker` with its own CAMPAIGNFLOW_HOME, and the dialer here is a real
consumer of call.create answering on call.outcomes from a script.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import requests
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from campaignflow.config import settings
from campaigns.contacts import Contact
from campaigns.engine import parse_call_id
from campaigns.events import Command
from campaigns.models import AccountSettings
from tests import helpers
from tests.helpers import free_port
from topics import catalogue, translate
from topics.admin import create_topics, delete_topics
from topics.clients import KafkaSettings, admin_config, consumer_config, producer_config
from topics.codec import Codec, DecodeError

PARTITIONS = 3
CAMPAIGNFLOW = str(Path(sys.executable).parent / "campaignflow")


def now_us() -> int:
    return time.time_ns() // 1000


def wait_until(pred: Callable[[], Any], timeout: float, what: str, every: float = 0.1) -> Any:
    """Poll `pred` until truthy (tests.helpers.wait_until): `timeout` without progress at
    least, and never less than its stall window, so a loaded machine fails no wait."""
    return helpers.wait_until(
        pred, what, stall_seconds=max(timeout, helpers.STALL_SECONDS), poll_seconds=every
    )


class Collector:
    """Reads a topic from its start in a thread; keeps (decoded name, record, raw message)."""

    def __init__(self, bootstrap: str, topic: str, codec: Codec) -> None:
        self.items: list[tuple[str, dict[str, Any]]] = []
        self.undecodable: list[bytes] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._consumer = Consumer(
            consumer_config(KafkaSettings(bootstrap), f"rig-{uuid.uuid4().hex}")
        )
        parts = self._consumer.list_topics(topic, timeout=30).topics[topic].partitions
        self._consumer.assign([TopicPartition(topic, p, 0) for p in parts])
        self.codec = codec
        self.on_item: Callable[[str, dict[str, Any]], None] | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Collector:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            for msg in self._consumer.consume(500, timeout=0.1):
                if msg.error():
                    continue
                try:
                    name, rec = self.codec.decode(msg.value())
                except DecodeError:
                    with self._lock:
                        self.undecodable.append(msg.value() or b"")
                    continue
                with self._lock:
                    self.items.append((name, rec))
                if self.on_item is not None:
                    self.on_item(name, rec)
        self._consumer.close()

    def snapshot(self) -> list[tuple[str, dict[str, Any]]]:
        with self._lock:
            return list(self.items)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


class Rig:
    def __init__(self, bootstrap: str, home: Path) -> None:
        self.bootstrap = bootstrap
        self.home = home
        self.prefix = f"itw-{uuid.uuid4().hex[:8]}."
        self.codec = Codec(None)
        self.specs = {
            k: replace(v, partitions=PARTITIONS)
            for k, v in settings().topics_at(self.prefix).catalogue().items()
        }
        self.admin = AdminClient(admin_config(KafkaSettings(bootstrap)))
        create_topics(self.specs.values(), admin=self.admin)
        self.producer = Producer(producer_config(KafkaSettings(bootstrap)))
        self.workers: dict[int, subprocess.Popen[bytes]] = {}
        self.collectors: list[Collector] = []
        self.accounts: dict[str, str] = {}
        self.env = {
            **os.environ,
            "CAMPAIGNFLOW_HOME": str(home),
            "CAMPAIGNFLOW_TOPIC_PREFIX": self.prefix,
            "CAMPAIGNFLOW_PARTITIONS": str(PARTITIONS),
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        }

    def topic(self, logical: str) -> str:
        return self.specs[logical].name

    # ---- workers -----------------------------------------------------------------------

    def start_worker(self, port: int | None = None) -> int:
        port = port or free_port()
        log = open(self.home / f"worker-{port}.log", "ab")  # noqa: SIM115 - owned by the process
        proc = subprocess.Popen(
            [
                CAMPAIGNFLOW,
                "worker",
                "--web-port",
                str(port),
                "--loglevel",
                os.environ.get("RIG_LOGLEVEL", "warning"),
            ],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.workers[port] = proc
        return port

    def wait_ready(self, port: int, timeout: float = 60.0) -> None:
        def ok() -> bool:
            proc = self.workers[port]
            if proc.poll() is not None:
                raise AssertionError(f"worker {port} exited: {self.log(port)[-3000:]}")
            try:
                return requests.get(f"http://127.0.0.1:{port}/metrics", timeout=1).ok
            except requests.RequestException:
                return False

        wait_until(ok, timeout, f"worker on port {port}", every=0.3)

    def log(self, port: int) -> str:
        return (self.home / f"worker-{port}.log").read_text(errors="replace")

    def kill(self, port: int, sig: int = signal.SIGKILL) -> None:
        proc = self.workers.pop(port)
        proc.send_signal(sig)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)

    def status(
        self, port: int, campaign_id: str, account: str | None = None
    ) -> dict[str, Any] | None:
        account = account or self.account(campaign_id)
        url = f"http://127.0.0.1:{port}/accounts/{account}/campaigns/{campaign_id}"
        try:
            resp = requests.get(url, timeout=5)
        except requests.RequestException:
            return None
        return resp.json() if resp.status_code == 200 else None

    # ---- inputs ---------------------------------------------------------------------------

    def account(self, campaign_id: str) -> str:
        """The account of the campaign's create command sent so far (else the tests' "acme")."""
        return self.accounts.get(campaign_id, "acme")

    def send_command(self, campaign_id: str, command: Command) -> None:
        if command.definition is not None:
            self.accounts[campaign_id] = command.definition.account_id
        if command.account_id is None:
            command = replace(command, account_id=self.account(campaign_id))
        rec = translate.command_to_record(campaign_id, command, now_us())
        assert command.account_id is not None
        self.producer.produce(
            self.topic(catalogue.COMMANDS),
            key=command.account_id.encode(),
            value=self.codec.encode("CampaignCommand", rec),
        )
        self.producer.flush(30)

    def send_contacts(
        self,
        campaign_id: str,
        contacts: Sequence[Contact],
        size: int = 50,
        account: str | None = None,
    ) -> None:
        account = account or self.account(campaign_id)
        for i in range(0, len(contacts), size):
            rec = translate.batch_to_record(
                campaign_id,
                f"b{i}-{uuid.uuid4().hex[:6]}",
                list(contacts[i : i + size]),
                now_us(),
                account,
            )
            self.producer.produce(
                self.topic(catalogue.CONTACTS),
                key=account.encode(),
                value=self.codec.encode("ContactBatch", rec),
            )
        self.producer.flush(30)

    def activate(self, *accounts: str) -> None:
        """Give accounts an active subscription on account.status (none is active by default)."""
        for account in accounts:
            rec = {
                "account_id": account,
                "active": True,
                "plan": None,
                "updated_at": now_us() // 1000,
            }
            self.producer.produce(
                self.topic(catalogue.ACCOUNT_STATUS),
                key=account.encode(),
                value=self.codec.encode("AccountStatus", rec),
            )
        self.producer.flush(30)

    def set_lines(self, account: str, lines: int | None) -> None:
        """The account's settings (SPEC 8) on account.status, as the API and CLI write them."""
        rec = translate.status_record(
            account,
            active=True,
            plan=None,
            settings=AccountSettings(account_id=account, lines=lines),
            updated_at_ms=now_us() // 1000,
        )
        self.send_raw(
            catalogue.ACCOUNT_STATUS, account.encode(), self.codec.encode("AccountStatus", rec)
        )

    def send_inbound(self, account: str, call_id: str, kind: str) -> None:
        """An inbound call starting or ending now, as the dialer publishes it."""
        rec = {
            "call_id": call_id,
            "agent_id": "bot",
            "account_id": account,
            "kind": kind,
            "at": now_us() // 1000,
            "dialer_id": "test-dialer",
        }
        self.send_raw(catalogue.INBOUND, account.encode(), self.codec.encode("InboundCall", rec))

    def inputs_handled(self, port: int, logical: str) -> float:
        """The worker's count of input messages it handled from a topic (its /metrics)."""
        text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        name = self.topic(logical)
        for line in text.splitlines():
            if (
                line.startswith("campaignflow_engine_inputs_total{")
                and f'topic="{logical}"' in line
            ):
                return float(line.rsplit(" ", 1)[1])
            if line.startswith("campaignflow_engine_inputs_total{") and f'topic="{name}"' in line:
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    def send_raw(self, logical: str, key: bytes, value: bytes) -> None:
        self.producer.produce(self.topic(logical), key=key, value=value)
        self.producer.flush(30)

    def send_outcome(
        self, campaign_id: str, call_id: str, status: str, account: str | None = None
    ) -> None:
        parsed = parse_call_id(campaign_id, call_id)
        contact_id, attempt = parsed if parsed else ("?", 1)
        account = account or self.account(campaign_id)
        rec = {
            "call_id": call_id,
            "campaign_id": campaign_id,
            "account_id": account,
            "contact_id": contact_id,
            "attempt": attempt,
            "status": status,
            "ended_at": now_us() // 1000,
            "dialer_id": "test-dialer",
        }
        self.producer.produce(
            self.topic(catalogue.OUTCOMES),
            key=account.encode(),
            value=self.codec.encode("CallOutcome", rec),
        )
        self.producer.flush(30)

    def collect(self, logical: str) -> Collector:
        c = Collector(self.bootstrap, self.topic(logical), self.codec).start()
        self.collectors.append(c)
        return c

    def close(self) -> None:
        for port in list(self.workers):
            self.kill(port, signal.SIGTERM)
        for c in self.collectors:
            c.stop()
        delete_topics([s.name for s in self.specs.values()], admin=self.admin)


class ScriptedDialer:
    """Consumes call.create and answers each new call id from a script.

    `script[(contact_id, attempt)]` is a call status, or "none" (never answers); attempts
    not in the script get `default`. `hold` keeps answers back until `release()`.
    """

    def __init__(
        self,
        rig: Rig,
        script: dict[tuple[str, int], str],
        default: str = "no_answer",
        hold: bool = False,
        opt_outs: frozenset[tuple[str, int]] = frozenset(),
    ) -> None:
        self.rig = rig
        self.script = script
        self.opt_outs = opt_outs  # (contact_id, attempt) answered with opt_out: true
        self.default = default
        self.hold = hold
        self.created: list[dict[str, Any]] = []  # every call:create seen, duplicates included
        self.answered: set[tuple[str, str]] = set()  # (account, call id): ids are per account
        self.held: list[tuple[str, str, str]] = []
        self._lock = threading.Lock()
        self._producer = Producer(producer_config(KafkaSettings(rig.bootstrap)))
        self.collector = rig.collect(catalogue.CALL_CREATE)
        self.collector.on_item = self._on_call

    def _on_call(self, name: str, rec: dict[str, Any]) -> None:
        with self._lock:
            self.created.append(rec)
            key = (rec["account_id"], rec["call_id"])
            if key in self.answered:
                return  # a repeated call:create: the real dialer drops it too
            self.answered.add(key)
            status = self.script.get((rec["contact_id"], rec["attempt"]), self.default)
            if status == "none":
                return
            if self.hold:
                self.held.append((rec["account_id"], rec["campaign_id"], rec["call_id"]))
                return
        self._answer(rec["account_id"], rec["campaign_id"], rec["call_id"], status)

    def _answer(self, account: str, campaign_id: str, call_id: str, status: str) -> None:
        parsed = parse_call_id(campaign_id, call_id)
        assert parsed is not None
        rec = {
            "call_id": call_id,
            "campaign_id": campaign_id,
            "account_id": account,
            "contact_id": parsed[0],
            "attempt": parsed[1],
            "status": status,
            "ended_at": now_us() // 1000,
            "dialer_id": "scripted",
            "opt_out": parsed in self.opt_outs,
        }
        self._producer.produce(
            self.rig.topic(catalogue.OUTCOMES),
            key=account.encode(),
            value=self.rig.codec.encode("CallOutcome", rec),
        )
        self._producer.flush(30)

    def release(self) -> int:
        with self._lock:
            held, self.held = self.held, []
            self.hold = False
        for account, campaign_id, call_id in held:
            parsed = parse_call_id(campaign_id, call_id)
            assert parsed is not None
            self._answer(account, campaign_id, call_id, self.script.get(parsed, self.default))
        return len(held)

    def calls(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.created)
