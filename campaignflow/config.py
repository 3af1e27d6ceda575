"""Every setting of campaignflow, read from the environment (one place, one prefix).

The README's configuration reference is generated from this class: add a field
here and document it in its description.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from topics.catalogue import DEFAULT_PARTITIONS, Topics
from topics.clients import KafkaSettings

if TYPE_CHECKING:
    from dialer.service import DialerSettings
    from sinks.settings import SinkSettings
    from streams.settings import WorkerSettings

REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CAMPAIGNFLOW_", extra="ignore")

    home: Path = Field(
        default=REPO_ROOT / ".campaignflow",
        description="State directory: broker data, worker tables, embedded ClickHouse, logs, pids.",
    )
    kafka_bootstrap_servers: str | None = Field(
        default=None,
        validation_alias="KAFKA_BOOTSTRAP_SERVERS",
        description="Use an existing Kafka cluster instead of the local broker (host:port,...).",
    )
    kafka_port: int = Field(
        default=39092, description="Port of the local broker's client listener."
    )
    kafka_controller_port: int = Field(
        default=39093, description="Port of the local broker's KRaft controller listener."
    )
    kafka_secure_port: int | None = Field(
        default=None,
        description="Port of the secured local broker's SASL/SCRAM listener (`kafka up --secure`; default: kafka_port + 2).",
    )
    kafka_secure_controller_port: int | None = Field(
        default=None,
        description="Port of the secured local broker's controller listener (default: kafka_port + 3).",
    )
    kafka_brokers: int = Field(
        default=1,
        ge=1,
        description="Nodes of the local cluster: 1 (the default broker) or 3 (`kafka up --brokers 3`, node i on ports KAFKA_PORT+8i and +8i+1); clients bootstrap from every node.",
    )
    kafka_version: str = Field(
        default="4.4.0",
        description="Apache Kafka version fetched from Maven Central for the local broker (4.x, KRaft; needs Java 17+).",
    )
    kafka_heap: str = Field(
        default="512m", description="Maximum JVM heap (-Xmx) of the local broker."
    )
    cache_dir: Path = Field(
        default=Path.home() / ".cache" / "campaignflow",
        description="Download cache shared by all state directories: the local broker's jars (kafka-VERSION/libs).",
    )
    kafka_security_protocol: str | None = Field(
        default=None, description="Passed to clients as security.protocol (SASL_SSL, SSL, ...)."
    )
    kafka_sasl_mechanism: str | None = Field(
        default=None, description="Passed to clients as sasl.mechanism."
    )
    kafka_sasl_username: str | None = Field(
        default=None, description="Passed to clients as sasl.username."
    )
    kafka_sasl_password: str | None = Field(
        default=None, description="Passed to clients as sasl.password."
    )
    kafka_ssl_ca_location: str | None = Field(
        default=None, description="Passed to clients as ssl.ca.location."
    )
    partitions: int = Field(
        default=DEFAULT_PARTITIONS,
        description="Partitions of every account-keyed topic (all the same, so they co-partition).",
    )
    replication_factor: int | None = Field(
        default=None,
        ge=1,
        description="Replication factor of created topics (default: 3 on a local cluster of 3+ nodes, else 1); from 3 on, topics get min.insync.replicas=2.",
    )
    topic_prefix: str = Field(
        default="", description="Prefix put before every topic name (isolates tests and tenants)."
    )
    schema_registry_url: str | None = Field(
        default=None,
        description="Schema registry URL; set it to use Confluent framing instead of Avro single-object encoding.",
    )
    clickhouse_dsn: str | None = Field(
        default=None,
        description="ClickHouse DSN: chdb:///path (embedded, default under home) or http://user:pass@host:8123/db.",
    )
    worker_port: int = Field(
        default=6066, description="Web port of the engine worker (status API and /metrics)."
    )
    worker_bind: str = Field(
        default="127.0.0.1",
        description="Address the engine worker's web server binds (loopback; 0.0.0.0 = every interface).",
    )
    worker_advertised_host: str | None = Field(
        default=None,
        description="Host other workers use to reach this one's web server (status requests are routed to the owner); default: the bind address, or this host's name when it binds every interface.",
    )
    dialer_metrics_port: int = Field(default=9102, description="Prometheus port of the dialer.")
    dialer_metrics_bind: str = Field(
        default="127.0.0.1",
        description="Address the dialer's /metrics binds (loopback; 0.0.0.0 exposes it on every interface).",
    )
    dialer_id: str | None = Field(
        default=None,
        description="Id of this dialer instance, written on its outcomes (default: dialer-<hostname>).",
    )
    dialer_group_id: str = Field(
        default="campaignflow-dialer",
        description="Consumer group of the dialers reading call.create (one group shares the partitions); a topic prefix P makes it `<group>-P`.",
    )
    dialer_concurrency: int = Field(
        default=100, ge=1, description="Calls in progress at once per dialer process."
    )
    dialer_dedupe_size: int = Field(
        default=1_000_000,
        ge=1,
        description="Call ids of the placed-call record (topic call.placed) a dialer keeps in memory to drop duplicate call:create (oldest reported ones forgotten first).",
    )
    dialer_adapter: str = Field(
        default="simulator", description="Telephony adapter of the dialer: simulator or webhook."
    )
    dialer_webhook_url: str | None = Field(
        default=None, description="Webhook adapter: URL the dialer POSTs each call to (JSON)."
    )
    dialer_webhook_secret: str | None = Field(
        default=None,
        description="Webhook adapter: shared secret (>= 32 bytes) of the timestamped HMAC-SHA256 signatures (calls out, outcomes in).",
    )
    dialer_webhook_previous_secret: str | None = Field(
        default=None,
        description="Webhook adapter: the secret being rotated out; callbacks signed with it are still accepted.",
    )
    dialer_webhook_tolerance_seconds: float = Field(
        default=300.0,
        gt=0,
        description="Webhook adapter: how old (or how far in the future) a callback's signed timestamp may be.",
    )
    dialer_webhook_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Webhook adapter: timeout of one POST."
    )
    dialer_webhook_retries: int = Field(
        default=5,
        ge=0,
        description="Webhook adapter: retries of a POST after a 5xx or network error.",
    )
    dialer_webhook_backoff_seconds: float = Field(
        default=0.5,
        ge=0,
        description="Webhook adapter: first retry delay; doubles each retry (capped at 30 s).",
    )
    dialer_callback_host: str = Field(
        default="127.0.0.1",
        description="Webhook adapter: address the outcome callback server binds.",
    )
    dialer_callback_port: int = Field(
        default=9104,
        description="Webhook adapter: port of the outcome callback server (0 = any free port).",
    )
    dialer_callback_url: str | None = Field(
        default=None,
        description="Webhook adapter: public URL of the callback server sent with each call (default: http://host:port).",
    )
    sink_port: int = Field(
        default=9103, description="Port of the sink's read-only query endpoint and /metrics."
    )
    account_id: str | None = Field(
        default=None,
        description="CLI: account that lifecycle commands and added contacts are sent for (default: the campaign's own, from its create command).",
    )
    account_default_active: bool = Field(
        default=False,
        description="Engine worker: whether an account with no record on account.status has an active subscription (accounts are activated explicitly: `campaignflow accounts activate`).",
    )
    api_host: str = Field(
        default="127.0.0.1", description="Address `campaignflow api` binds (loopback by default)."
    )
    api_port: int = Field(
        default=8080, description="Port of `campaignflow api` (REST API and console)."
    )
    api_requests_per_hour: int = Field(
        default=72_000,
        ge=0,
        description="API: requests one account may make an hour, all its keys together (a 60th of it at once; 0: no limit); past it 429 with Retry-After.",
    )
    api_creates_per_hour: int = Field(
        default=2_000,
        ge=0,
        description="API: agents, numbers, webhooks and campaigns one account may create an hour, each kind apart (a 10th of it at once; 0: no limit).",
    )
    api_forecast_contacts_per_hour: int = Field(
        default=2_000_000,
        ge=0,
        description="API: contacts one account's forecasts may simulate an hour (half of it at once; 0: no limit).",
    )
    api_max_webhooks: int = Field(
        default=20, ge=1, description="API: webhooks one account may have at once."
    )
    api_webhook_allow_loopback: bool = Field(
        default=False,
        description="Webhooks may go to loopback addresses (127.0.0.1, ::1, localhost): for tests and a local stack only. Private, link-local and other non-public addresses are always refused.",
    )

    @property
    def bootstrap(self) -> str:
        if self.kafka_bootstrap_servers:
            return self.kafka_bootstrap_servers
        if self.kafka_brokers > 1:
            nodes = range(1, self.kafka_brokers + 1)
            return ",".join(f"127.0.0.1:{self.node_ports(n)[0]}" for n in nodes)
        return f"127.0.0.1:{self.kafka_port}"

    def node_ports(self, node_id: int) -> tuple[int, int]:
        """(client, controller) ports of node `node_id` (1-based) of the local cluster."""
        return self.kafka_port + 8 * node_id, self.kafka_port + 8 * node_id + 1

    @property
    def topic_replication(self) -> int:
        """Replicas of every created topic: the setting, else 3 on a 3-node local cluster."""
        return self.replication_factor or min(3, self.kafka_brokers)

    # -- what the command line hands down (the packages below never read settings) --------

    @property
    def kafka(self) -> KafkaSettings:
        """The cluster every client of this process talks to."""
        return KafkaSettings(
            bootstrap=self.bootstrap,
            security_protocol=self.kafka_security_protocol,
            sasl_mechanism=self.kafka_sasl_mechanism,
            sasl_username=self.kafka_sasl_username,
            sasl_password=self.kafka_sasl_password,
            ssl_ca_location=self.kafka_ssl_ca_location,
        )

    def kafka_at(self, bootstrap: str | None) -> KafkaSettings:
        """`kafka`, with a command's `--bootstrap` (when given) instead of the setting's."""
        kafka = self.kafka
        return replace(kafka, bootstrap=bootstrap) if bootstrap else kafka

    @property
    def topics(self) -> Topics:
        """The topic layout: prefix, partitions, replication."""
        return Topics(self.topic_prefix, self.partitions, self.topic_replication)

    def topics_at(self, prefix: str) -> Topics:
        """The settings' layout under another prefix (tests and benchmarks isolate by prefix)."""
        return Topics(prefix, self.partitions, self.topic_replication)

    @property
    def dsn(self) -> str:
        """The ClickHouse DSN: the setting, else the embedded engine under `home`."""
        from sinks.dsn import default_dsn

        return self.clickhouse_dsn or default_dsn(self.home)

    @property
    def sink_token_file(self) -> Path:
        from sinks.access import token_path

        return token_path(self.home)

    def worker(self, web_port: int | None = None, data_dir: Path | None = None) -> WorkerSettings:
        """The engine worker's settings (`campaignflow worker`)."""
        from streams.settings import WorkerSettings

        port = web_port or self.worker_port
        return WorkerSettings(
            kafka=self.kafka,
            topics=self.topics,
            data_dir=data_dir or (self.home / "worker" / str(port)),
            web_port=port,
            web_bind=self.worker_bind,
            advertised_host=self.worker_advertised_host,
            account_default_active=self.account_default_active,
        )

    def sink(self, dsn: str | None = None) -> SinkSettings:
        """The ClickHouse sink's settings (`campaignflow sink`)."""
        from sinks.settings import SinkSettings

        return SinkSettings(dsn=dsn or self.dsn, kafka=self.kafka, topics=self.topics)

    def default_dialer_id(self) -> str:
        import socket

        return self.dialer_id or f"dialer-{socket.gethostname()}"

    def dialer(self, **overrides: Any) -> DialerSettings:
        """The dialer's options; `overrides` that are not None win (`campaignflow dialer`)."""
        from dialer.service import DialerSettings
        from topics import catalogue

        values: dict[str, Any] = {
            "dialer_id": self.default_dialer_id(),
            "concurrency": self.dialer_concurrency,
            "group_id": catalogue.group_id(self.dialer_group_id, self.topic_prefix),
            "dedupe_size": self.dialer_dedupe_size,
            "topics": self.topics,
            "kafka": self.kafka,
            "predial_secrets_dir": self.home / "predial",
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return DialerSettings(**values)


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings()


def create_catalogue_topics(s: Settings | None = None) -> dict[str, str]:
    """Create every missing catalogue topic with the settings' layout; name -> outcome."""
    from topics.admin import admin_client, create_topics

    s = s or settings()
    return create_topics(s.topics.catalogue().values(), admin_client(s.kafka))
