"""The project's broker with SASL/SCRAM and ACLs (`campaignflow kafka up --secure`), real Kafka.

Each service runs as its own principal (the real `campaignflow` commands as subprocesses):
ingest creates and starts a campaign, the worker (Faust, SASL too) plans the calls, the
dialer places them, the sink stores them, and the campaign completes. The dialer's
principal is refused on campaign.commands, and a principal without ACLs on everything.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from campaignflow import kafka_secure
from campaignflow.config import settings
from tests.helpers import STALL_SECONDS, free_port, wait_until
from topics import catalogue
from topics.admin import create_topics
from topics.codec import Codec

CAMPAIGNFLOW = str(Path(sys.executable).parent / "campaignflow")


@pytest.fixture(scope="module")
def secure() -> Iterator[kafka_secure.SecureBroker]:
    settings.cache_clear()
    was_running = kafka_secure.status().running
    broker = kafka_secure.up(prefix="")
    try:
        yield broker
    finally:
        if not was_running:
            kafka_secure.down()


@pytest.fixture()
def prefix(secure: kafka_secure.SecureBroker) -> Iterator[str]:
    """Catalogue topics under a fresh prefix, created by admin, with the services' ACLs."""
    p = f"sec-{uuid.uuid4().hex[:8]}."
    kafka_secure.apply_acls(secure, kafka_secure.service_acls(p))
    admin = AdminClient(dict(secure.client_config(kafka_secure.ADMIN)))
    specs = list(settings().topics_at(p).catalogue().values())
    create_topics([s for s in specs], admin=admin)
    yield p
    admin.delete_topics([s.name for s in specs], operation_timeout=30)


def produce(conf: dict[str, Any], topic: str, value: bytes) -> KafkaError | None:
    """Produce one message; the delivery error, if any (no retries past the first refusal)."""
    errors: list[KafkaError | None] = []
    p = Producer({**conf, "message.timeout.ms": 15000})
    p.produce(topic, value=value, key=b"k", on_delivery=lambda err, msg: errors.append(err))
    p.flush(20)
    return errors[0] if errors else KafkaError(KafkaError._MSG_TIMED_OUT)


def consume_error(conf: dict[str, Any], topic: str, group: str) -> KafkaError | None:
    c = Consumer({**conf, "group.id": group, "auto.offset.reset": "earliest"})
    try:
        c.subscribe([topic])
        deadline = time.monotonic() + STALL_SECONDS  # the refusal comes with the first fetch
        while time.monotonic() < deadline:
            msg = c.poll(0.5)
            if msg is not None and msg.error() is not None:
                err: KafkaError = msg.error()
                return err
        return None
    except KafkaException as exc:
        err = exc.args[0]
        return err
    finally:
        c.close()


def test_the_dialer_principal_is_refused_on_campaign_commands(
    secure: kafka_secure.SecureBroker, prefix: str
) -> None:
    dialer = secure.client_config("dialer")
    commands = prefix + catalogue.COMMANDS
    err = produce(dialer, commands, b"not allowed")
    assert err is not None and err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, err
    err = consume_error(dialer, commands, "campaignflow-dialer-sec")
    assert err is not None and err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, err
    # ... and may do what it needs: write outcomes, read call:create in its group.
    assert produce(dialer, prefix + catalogue.OUTCOMES, b"x") is None
    assert consume_error(dialer, prefix + catalogue.CALL_CREATE, "campaignflow-dialer-sec") is None
    # Other groups are not its own.
    err = consume_error(dialer, prefix + catalogue.CALL_CREATE, "campaignflow-sink")
    assert err is not None and err.code() == KafkaError.GROUP_AUTHORIZATION_FAILED, err
    # The sink cannot write commands either; ingest cannot write call:create.
    err = produce(secure.client_config("sink"), commands, b"x")
    assert err is not None and err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    err = produce(secure.client_config("ingest"), prefix + catalogue.CALL_CREATE, b"x")
    assert err is not None and err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


def test_a_wrong_password_or_no_credentials_is_refused(
    secure: kafka_secure.SecureBroker, prefix: str
) -> None:
    bad = {**secure.client_config("ingest"), "sasl.password": "guess"}
    admin = AdminClient(dict(bad))
    with pytest.raises(KafkaException):
        admin.list_topics(timeout=5)
    plain = AdminClient({"bootstrap.servers": secure.bootstrap, "socket.timeout.ms": 3000})
    with pytest.raises(KafkaException):
        plain.list_topics(timeout=5)


CAMPAIGN = """\
campaign_id: {cid}
account_id: acme
name: Secure broker test
agent:
  id: bot
  prompt: "Hi {{{{name}}}}"
source_number: "+15550100000"
default_region: US
rules:
  calling_days: [mon, tue, wed, thu, fri, sat, sun]
  calling_window: {{start: "00:00", end: "24:00"}}
  timezone: UTC
  concurrent_calls: 5
  max_call_minutes: 2
"""


def test_each_service_works_with_its_own_principal(
    secure: kafka_secure.SecureBroker, prefix: str, tmp_path: Path
) -> None:
    cid = f"secure-{uuid.uuid4().hex[:6]}"
    (tmp_path / "campaign.yaml").write_text(CAMPAIGN.format(cid=cid))
    rows = "\n".join(f"c{i},+1202555{i:04d},N{i}" for i in range(1, 6))
    (tmp_path / "contacts.csv").write_text("contact_id,phone_number,name\n" + rows + "\n")
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CAMPAIGNFLOW_KAFKA_SASL", "CAMPAIGNFLOW_KAFKA_SECURITY"))
    }
    base.update(
        {
            "CAMPAIGNFLOW_HOME": str(tmp_path / "home"),
            "CAMPAIGNFLOW_TOPIC_PREFIX": prefix,
            "CAMPAIGNFLOW_CLICKHOUSE_DSN": f"chdb://{tmp_path / 'ch'}",
        }
    )

    def env(service: str) -> dict[str, str]:
        return {**base, **secure.env(service)}

    procs: list[subprocess.Popen[bytes]] = []
    logs: dict[str, Path] = {}

    def start(service: str, *args: str) -> subprocess.Popen[bytes]:
        logs[service] = tmp_path / f"{service}.log"
        proc = subprocess.Popen(
            [CAMPAIGNFLOW, *args],
            env=env(service),
            stdout=logs[service].open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        procs.append(proc)
        return proc

    def run(service: str, *args: str) -> str:
        out = subprocess.run(
            [CAMPAIGNFLOW, *args], env=env(service), capture_output=True, text=True, timeout=120
        )
        assert out.returncode == 0, (args, out.stdout, out.stderr, tail(logs))
        return out.stdout + out.stderr

    web = free_port()
    try:
        worker = start("worker", "worker", "--web-port", str(web), "--no-create-topics")
        start(
            "dialer", "dialer", "--time-scale", "0", "--shares", "answered=1", "--metrics-port", "0"
        )
        start("sink", "sink", "--port", str(free_port()))

        def worker_answers() -> bool:
            assert worker.poll() is None, tail(logs)
            try:
                return requests.get(f"http://127.0.0.1:{web}/metrics", timeout=1).ok
            except requests.RequestException:
                return False

        wait_until(worker_answers, "the worker's /metrics", poll_seconds=0.5)
        # The operator (the super user here) opens and activates the account.
        run("admin", "accounts", "create", "acme")
        run("admin", "accounts", "activate", "acme")
        out = run(
            "ingest",
            "campaign",
            "create",
            str(tmp_path / "campaign.yaml"),
            "--contacts",
            str(tmp_path / "contacts.csv"),
            "--yes",
            "--wait",
            "--workers",
            "1",
            "--timeout",
            "90",
        )
        assert "draft" in out, out
        assert "accepted" in run("ingest", "campaign", "start", cid, "--timeout", "60")
        finals = events_until_completed(secure, prefix, cid)
        assert sorted(finals) == [f"c{i}" for i in range(1, 6)]
        assert set(finals.values()) == {"reached"}
        # The sink, as its own principal, read and committed the outcomes.
        wait_committed(secure, prefix + catalogue.OUTCOMES, "campaignflow-sink", 5)
        for p in procs:
            assert p.poll() is None, tail(logs)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
    assert "AUTHORIZATION_FAILED" not in logs["worker"].read_text(errors="replace")


def events_until_completed(
    secure: kafka_secure.SecureBroker, prefix: str, cid: str
) -> dict[str, str]:
    """Read campaign.events as ingest (the principal the CLI answers come to)."""
    codec = Codec()
    c = Consumer(
        {
            **secure.client_config("ingest"),
            "group.id": f"campaignflow-cli-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
        }
    )
    c.subscribe([prefix + catalogue.EVENTS])
    finals: dict[str, str] = {}
    try:
        moved_at = time.monotonic()  # fails only when no event of the campaign comes for long
        while time.monotonic() - moved_at < STALL_SECONDS:
            msg = c.poll(0.5)
            if msg is None or msg.error() is not None:
                assert msg is None or msg.error().code() != KafkaError.TOPIC_AUTHORIZATION_FAILED
                continue
            _, rec = codec.decode(msg.value())
            if rec["campaign_id"] != cid:
                continue
            moved_at = time.monotonic()
            name, body = rec["body"]
            if name.endswith("ContactFinal"):
                finals[body["contact_id"]] = body["status"]
            if name.endswith("StatusChanged") and body["status"] == "completed":
                return finals
    finally:
        c.close()
    raise AssertionError(f"campaign {cid} stalled before completing; finals so far {finals}")


def wait_committed(secure: kafka_secure.SecureBroker, topic: str, group: str, n: int) -> None:
    admin_conf = dict(secure.client_config(kafka_secure.ADMIN))
    c = Consumer({**admin_conf, "group.id": group, "enable.auto.commit": False})
    try:
        meta = c.list_topics(topic, timeout=10).topics[topic]

        def done() -> int:
            parts = c.committed([TopicPartition(topic, p) for p in meta.partitions], timeout=10)
            return sum(max(tp.offset, 0) for tp in parts)

        wait_until(
            lambda: done() >= n,
            f"{group} to commit {n} messages of {topic}",
            progress=done,
            poll_seconds=1,
        )
    finally:
        c.close()


def tail(logs: dict[str, Path]) -> str:
    return "\n".join(
        f"--- {name}\n" + "\n".join(p.read_text(errors="replace").splitlines()[-30:])
        for name, p in logs.items()
        if p.exists()
    )


def test_the_secure_broker_keeps_its_passwords_in_a_0600_file(
    secure: kafka_secure.SecureBroker,
) -> None:
    path = kafka_secure.credentials_file(secure.layout)
    assert path.stat().st_mode & 0o777 == 0o600
    assert (secure.layout.server_properties.stat().st_mode & 0o777) == 0o600
    assert set(secure.credentials) >= {"admin", *kafka_secure.SERVICES}
