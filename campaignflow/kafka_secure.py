"""`campaignflow kafka up --secure`: the project's broker with SASL/SCRAM users per service and ACLs.

The same Apache Kafka (KRaft, jars of `kafka_local`) in a state directory of its own
(`<home>/secure`) on its own ports, with:
- one client listener, SASL_PLAINTEXT on 127.0.0.1, mechanism SCRAM-SHA-512;
- SCRAM credentials for `admin` and each service, bootstrapped at format time
  (`kafka-storage format --add-scram`), passwords generated into a 0600 file;
- the controller listener on 127.0.0.1 authenticated with SASL/PLAIN (KRaft controllers
  cannot use SCRAM: its credentials live in the metadata they serve);
- `StandardAuthorizer`, no access without an ACL, `admin` the only super user;
- the ACLs of `service_acls`: least privilege per service (ops/README.md, Security).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any

from campaignflow import kafka_local
from campaignflow.config import Settings, settings
from campaignflow.kafka_local import KafkaLocalError, Layout, Status

MECHANISM = "SCRAM-SHA-512"
PROTOCOL = "SASL_PLAINTEXT"
ADMIN = "admin"
CONTROLLER = "controller"
SERVICES: tuple[str, ...] = ("worker", "dialer", "sink", "ingest", "api")
START_TIMEOUT_S = 120.0

Say = Callable[[str], None]

PROPERTIES = Template("""\
# Written by campaignflow/kafka_secure.py (rewritten on every start).
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:${controller_port}

listeners=SASL_PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controller_port}
advertised.listeners=SASL_PLAINTEXT://127.0.0.1:${port}
listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=SASL_PLAINTEXT

sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="${admin_password}";
sasl.mechanism.controller.protocol=PLAIN
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="controller" password="${controller_password}" user_controller="${controller_password}";

authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:admin;User:controller

log.dirs=${log_dirs}
auto.create.topics.enable=false
num.partitions=6
default.replication.factor=1
min.insync.replicas=1
delete.topic.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=12
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=6
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
background.threads=4
log.retention.hours=168
log.segment.bytes=104857600
""")


@dataclass(frozen=True)
class Acl:
    """One allow rule: `principal` may do `operation` on a topic/group/cluster resource."""

    service: str
    resource: str  # "topic" | "group"
    name: str
    operation: str  # READ, WRITE, CREATE, DESCRIBE, DESCRIBE_CONFIGS
    prefixed: bool = False


def engine_app_id(prefix: str) -> str:
    """The worker's Faust app id (its consumer group and the prefix of its internal topics)."""
    from topics import catalogue

    return catalogue.group_id("campaignflow-engine", prefix)


def service_acls(prefix: str, dialer_group: str = "campaignflow-dialer") -> list[Acl]:
    """Least privilege per service; ops/README.md (Security) is this table in words.

    Topics are created by `admin` (`campaignflow topics create`), never by a service.
    """
    from topics import catalogue as c

    def t(logical: str) -> str:
        return prefix + logical

    app = engine_app_id(prefix)
    rules: list[Acl] = []

    def allow(service: str, op: str, *logicals: str) -> None:
        rules.extend(Acl(service, "topic", t(name), op) for name in logicals)

    # worker: the engine's inputs and directories in; calls, events, timeouts, ticks out.
    allow(
        "worker",
        "READ",
        c.COMMANDS,
        c.CONTACTS,
        c.TICKS,
        c.OUTCOMES,
        c.INBOUND,
        c.DNC,
        c.ACCOUNT_STATUS,
    )
    allow("worker", "WRITE", c.CALL_CREATE, c.EVENTS, c.OUTCOMES, c.TICKS, c.DEADLETTER)
    for op in ("CREATE", "READ", "WRITE", "DESCRIBE", "DESCRIBE_CONFIGS"):
        rules.append(Acl("worker", "topic", f"{app}-", op, prefixed=True))  # Faust changelogs
    rules.append(Acl("worker", "group", app, "READ", prefixed=True))
    # dialer: call:create in, outcomes out; bad call:create parked, inbound-call events;
    # its placed-call record, read back on assignment.
    allow("dialer", "READ", c.CALL_CREATE, c.PLACED)
    allow("dialer", "WRITE", c.OUTCOMES, c.DEADLETTER, c.INBOUND, c.PLACED)
    rules.append(Acl("dialer", "group", dialer_group, "READ", prefixed=True))
    # sink: what analysts query in, its own dead letters out.
    # (and the numbers' rates and accounts' billing increments, to price calls)
    allow("sink", "READ", c.CALL_CREATE, c.OUTCOMES, c.EVENTS, c.COMMANDS)
    allow("sink", "READ", c.API_NUMBERS, c.API_ACCOUNTS)
    allow("sink", "WRITE", c.DEADLETTER)
    allow("sink", "WRITE", c.CALLER_ID_HEALTH)  # its announcements of degraded numbers
    rules.append(Acl("sink", "group", "campaignflow-sink", "READ", prefixed=True))
    # ingest (CLI, CampaignClient) and the API: contacts and commands out, answers in.
    for svc in ("ingest", "api"):
        allow(svc, "WRITE", c.COMMANDS, c.CONTACTS, c.DEADLETTER)
        allow(svc, "READ", c.COMMANDS, c.EVENTS)
        for group in ("campaignflow-cli-", "campaignflow-list-"):
            rules.append(Acl(svc, "group", group, "READ", prefixed=True))
    allow("api", "READ", c.CALLER_ID_HEALTH)  # the `caller_id.degraded` webhook event
    return rules


@dataclass(frozen=True)
class SecureBroker:
    layout: Layout
    credentials: dict[str, str]  # user -> password

    @property
    def bootstrap(self) -> str:
        return self.layout.bootstrap

    def client_config(self, user: str) -> dict[str, str | int | float | bool]:
        """librdkafka settings for `user` (bootstrap included)."""
        return {
            "bootstrap.servers": self.bootstrap,
            "security.protocol": PROTOCOL,
            "sasl.mechanism": MECHANISM,
            "sasl.username": user,
            "sasl.password": self.credentials[user],
        }

    def env(self, user: str) -> dict[str, str]:
        """The environment that makes any campaignflow command connect as `user`."""
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "CAMPAIGNFLOW_KAFKA_SECURITY_PROTOCOL": PROTOCOL,
            "CAMPAIGNFLOW_KAFKA_SASL_MECHANISM": MECHANISM,
            "CAMPAIGNFLOW_KAFKA_SASL_USERNAME": user,
            "CAMPAIGNFLOW_KAFKA_SASL_PASSWORD": self.credentials[user],
        }


def secure_layout(s: Settings | None = None) -> Layout:
    s = s or settings()
    return Layout(
        home=(s.home / "secure").resolve(),
        version=s.kafka_version,
        port=s.kafka_secure_port or s.kafka_port + 2,
        controller_port=s.kafka_secure_controller_port or s.kafka_port + 3,
        cache_dir=s.cache_dir,
    )


def credentials_file(layout: Layout) -> Path:
    return layout.home / "credentials.json"


def load_credentials(layout: Layout) -> dict[str, str]:
    """The users' passwords: generated once, kept in a 0600 file under the state directory."""
    path = credentials_file(layout)
    if path.exists():
        data: dict[str, str] = json.loads(path.read_text())
        return data
    layout.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    creds = {u: secrets.token_urlsafe(24) for u in (ADMIN, CONTROLLER, *SERVICES)}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(creds, f, indent=2)
    return creds


def write_properties(layout: Layout, creds: dict[str, str]) -> Path:
    layout.data.mkdir(parents=True, exist_ok=True, mode=0o700)
    text = PROPERTIES.substitute(
        port=layout.port,
        controller_port=layout.controller_port,
        log_dirs=str(layout.log_dirs),
        admin_password=creds[ADMIN],
        controller_password=creds[CONTROLLER],
    )
    fd = os.open(layout.server_properties, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return layout.server_properties


def format_storage(java: str, layout: Layout, creds: dict[str, str], say: Say) -> None:
    """Format once, with a SCRAM credential for admin and every service."""
    if (layout.log_dirs / "meta.properties").exists():
        return
    say(f"formatting KRaft storage with SCRAM users in {layout.log_dirs}")
    cmd = [
        *kafka_local._jvm_base(java, layout, "256m"),
        "kafka.tools.StorageTool",
        "format",
        "--ignore-formatted",
        "-t",
        kafka_local.new_cluster_id(),
        "-c",
        str(layout.server_properties),
    ]
    for user in (ADMIN, *SERVICES):
        cmd += ["--add-scram", f"{MECHANISM}=[name={user},password={creds[user]}]"]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise KafkaLocalError(f"formatting the secure broker's storage failed:\n{tail}")


def _wait_until_answers(broker: SecureBroker, pid: int) -> None:
    conf = {k: str(v) for k, v in broker.client_config(ADMIN).items() if k != "bootstrap.servers"}
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if not kafka_local._pid_alive(pid):
            broker.layout.pid_file.unlink(missing_ok=True)
            raise KafkaLocalError(
                f"the secure broker (pid {pid}) exited during start-up. Last lines of"
                f" {broker.layout.log_file}:\n{kafka_local._log_tail(broker.layout)}"
            )
        if kafka_local.port_open(broker.layout.port) and kafka_local.broker_answers(
            broker.bootstrap, timeout_seconds=2, **conf
        ):
            return
        time.sleep(0.5)
    raise KafkaLocalError(
        f"the secure broker did not answer on {broker.bootstrap} as {ADMIN} within"
        f" {START_TIMEOUT_S:.0f}s:\n{kafka_local._log_tail(broker.layout)}"
    )


def apply_acls(broker: SecureBroker, rules: list[Acl]) -> int:
    """Create the ACLs as admin (creating an existing one is a no-op). Returns how many."""
    from confluent_kafka.admin import (
        AclBinding,
        AclOperation,
        AclPermissionType,
        AdminClient,
        ResourcePatternType,
        ResourceType,
    )

    admin = AdminClient(dict(broker.client_config(ADMIN)))
    bindings = [
        AclBinding(
            ResourceType[r.resource.upper()],
            r.name,
            ResourcePatternType.PREFIXED if r.prefixed else ResourcePatternType.LITERAL,
            f"User:{r.service}",
            "*",
            AclOperation[r.operation],
            AclPermissionType.ALLOW,
        )
        for r in rules
    ]
    for future in admin.create_acls(bindings, request_timeout=30).values():
        future.result()
    return len(bindings)


def up(say: Say = kafka_local._quiet, prefix: str | None = None) -> SecureBroker:
    """Start the secure broker unless it runs; (re)apply the ACLs for `prefix`'s topics."""
    s = settings()
    layout = secure_layout(s)
    creds = load_credentials(layout)
    broker = SecureBroker(layout, creds)
    with kafka_local._locked(layout):
        pid = kafka_local._read_pid(layout)
        if pid is None:
            layout.pid_file.unlink(missing_ok=True)
            for port in (layout.port, layout.controller_port):
                if kafka_local.port_open(port):
                    raise KafkaLocalError(
                        f"port {port} on 127.0.0.1 is taken; choose others with"
                        " CAMPAIGNFLOW_KAFKA_SECURE_PORT / CAMPAIGNFLOW_KAFKA_SECURE_CONTROLLER_PORT"
                    )
            java = kafka_local.require_java()
            kafka_local.fetch_jars(layout, say)
            write_properties(layout, creds)
            format_storage(java, layout, creds, say)
            pid = kafka_local._spawn(java, layout, s.kafka_heap)
            say(f"started the secure broker (pid {pid}); log: {layout.log_file}")
        _wait_until_answers(broker, pid)
    n = apply_acls(broker, service_acls(s.topic_prefix if prefix is None else prefix))
    say(f"{n} ACLs for users {', '.join(SERVICES)}; passwords in {credentials_file(layout)}")
    return broker


def down(say: Say = kafka_local._quiet) -> bool:
    return kafka_local.down(secure_layout(), say=say)


def status() -> Status:
    return kafka_local.status(secure_layout())


def describe(broker: SecureBroker) -> dict[str, Any]:
    return {"bootstrap": broker.bootstrap, "mechanism": MECHANISM, "protocol": PROTOCOL}
