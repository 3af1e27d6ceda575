"""The Faust app of the engine worker: one agent, the state table, the directory, ticks, web.

`build_app` wires the parts, each in its own module:
- `streams.agent.EngineAgent`: ONE agent (concurrency 1) over the five co-partitioned
  engine inputs, with its shell, publisher and committer (the commit order is there);
- `streams.ticks`: the leader publishes one tick per partition per second; every worker
  keeps a due index;
- `streams.web`: GET /accounts/{account}/campaigns/{id} (routed to the owner by the state
  table) and /metrics.
Everything it is told comes in a `streams.settings.WorkerSettings`.
"""

from __future__ import annotations

import gc
import logging
import socket
import ssl
from typing import Any

import faust

import streams.transport  # noqa: F401  (registers the cfkafka:// transport)
from streams import web
from streams.agent import AGENT_NAME, EngineAgent
from streams.directory import AccountFollower, global_table
from streams.lease import Lease
from streams.partitioner import partitioner
from streams.rocks import AtomicRocksStore  # noqa: F401  (importing registers cfrocks://)
from streams.settings import WorkerSettings
from streams.ticks import TickSource
from topics import catalogue
from topics.clients import KafkaSettings, consumer_config
from topics.codec import default_codec

# RocksDB per table partition: Faust's default block cache is 2 GiB per partition.
STATE_ROCKS = {
    "block_cache_size": 32 * 2**20,
    "block_cache_compressed_size": 0,
    "write_buffer_size": 16 * 2**20,
    "max_write_buffer_number": 3,
    "target_file_size_base": 32 * 2**20,
    "max_open_files": 512,
}
DIRECTORY_ROCKS = {
    "block_cache_size": 8 * 2**20,
    "block_cache_compressed_size": 0,
    "write_buffer_size": 4 * 2**20,
    "max_write_buffer_number": 2,
    "max_open_files": 128,
}
# Full collections scan every object the worker holds (its row cache included) and paused
# the agent 100 ms or more every second or two under load. Young ones every 10,000
# allocations (CPython's default: 700): a step makes and drops tens of thousands of
# short-lived objects (records, events, rows), and at 700 a young collection ran many
# times a step, each tenth promoting survivors towards a full pass over the row cache.
GC_THRESHOLDS = (10_000, 10, 1000)

RAW: dict[str, Any] = {
    "key_type": bytes,
    "value_type": bytes,
    "key_serializer": "raw",
    "value_serializer": "raw",
}


class Worker(faust.Worker):
    """Faust's worker without its terminal spinner.

    The spinner sets the root logger to DEBUG (to spin on every record), so each
    `log.debug` of aiokafka (one per message sent) built and dropped a LogRecord:
    about a sixth of the worker's time under load.
    """

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        self.spinner = None


def app_id(prefix: str) -> str:
    return catalogue.group_id("campaignflow-engine", prefix)


SESSION_TIMEOUT_S = 10.0
LEASE_RENEW_S = 0.5
LAG_EVERY_S = 5.0


WILDCARDS = ("0.0.0.0", "::", "")


def advertised_url(bind: str, advertised_host: str | None, port: int) -> str:
    """The URL other workers route status requests to (Faust's canonical_url).

    It must name this host as the others reach it: a wildcard bind says nothing about
    that, so it falls back to the host name, never to a loopback address another host
    would resolve to itself.
    """
    host = advertised_host or (socket.getfqdn() if bind in WILDCARDS else bind)
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 literal
    return f"http://{host}:{port}"


def broker_credentials(
    protocol: str | None,
    mechanism: str | None,
    username: str | None,
    password: str | None,
    ca_location: str | None,
) -> Any:
    """Faust (aiokafka) credentials from the same settings the confluent clients get."""
    proto = (protocol or "PLAINTEXT").upper()
    context = None
    if proto in ("SSL", "SASL_SSL"):
        context = ssl.create_default_context(cafile=ca_location)
    if proto in ("SASL_PLAINTEXT", "SASL_SSL"):
        return faust.SASLCredentials(
            username=username,
            password=password,
            mechanism=mechanism or "PLAIN",
            ssl_context=context,
        )
    if proto == "SSL":
        return faust.SSLCredentials(context)
    return None


def faust_app(settings: WorkerSettings) -> faust.App:
    """The Faust app: cluster, RocksDB state directory, web server, producer and consumer tuning."""
    kafka = settings.kafka
    port = settings.web_port
    return faust.App(
        app_id(settings.topics.prefix),
        broker=[f"cfkafka://{host}" for host in kafka.bootstrap.split(",")],
        store="cfrocks://",
        datadir=str(settings.data_dir),
        web_host=settings.web_bind,
        # Loopback unless CAMPAIGNFLOW_WORKER_BIND widens it (Faust's own default is every
        # interface); web_host names the URL.
        web_bind=settings.web_bind,
        web_port=port,
        canonical_url=advertised_url(settings.web_bind, settings.advertised_host, port),
        # Faust's /table/ pages list and return table rows (state, do-not-call, accounts);
        # /router/ lists every worker's URL. Status requests are routed by app.router,
        # which needs neither page. Stats and graph pages follow `debug` (off).
        web_tables_enabled=False,
        web_router_enabled=False,
        broker_credentials=credentials_of(kafka),
        topic_partitions=settings.topics.partitions,
        topic_replication_factor=settings.topics.replication,
        producer_partitioner=partitioner,
        producer_acks=-1,
        producer_linger_ms=1,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=1.0,
        # A killed worker's partitions move after this long, not Faust's default minute.
        broker_session_timeout=SESSION_TIMEOUT_S,
        broker_heartbeat_interval=2.0,
        stream_buffer_maxsize=8192,
        table_standby_replicas=1,
    )


def credentials_of(kafka: KafkaSettings) -> Any:
    return broker_credentials(
        kafka.security_protocol,
        kafka.sasl_mechanism,
        kafka.sasl_username,
        kafka.sasl_password,
        kafka.ssl_ca_location,
    )


def build_app(settings: WorkerSettings) -> faust.App:
    """The worker's app: its topics and tables, the engine agent, the ticks and the web pages."""
    gc.set_threshold(*GC_THRESHOLDS)
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    partitions = settings.topics.partitions
    app = faust_app(settings)
    names = settings.topics.names()
    input_names = [names[t] for t in catalogue.ENGINE_INPUTS]
    inputs = app.topic(*input_names, **RAW)

    state = app.Table("state", partitions=partitions, options=dict(STATE_ROCKS), **_table_types())
    dnc = global_table(
        app,
        "dnc",
        app.topic(names[catalogue.DNC], **RAW),
        partitions=partitions,
        options=dict(DIRECTORY_ROCKS),
        **_table_types(),
    )
    accounts = global_table(
        app,
        "accounts",
        app.topic(names[catalogue.ACCOUNT_STATUS], **RAW),
        partitions=partitions,
        options=dict(DIRECTORY_ROCKS),
        **_table_types(),
    )
    # account.status read live besides the global table (see AccountFollower)
    follower = AccountFollower(
        consumer_config(settings.kafka, f"{app.conf.id}-accounts", log_level=2),
        names[catalogue.ACCOUNT_STATUS],
    ).start()
    codec = default_codec()
    agent = EngineAgent(
        app,
        kafka=settings.kafka,
        prefix=settings.topics.prefix,
        input_names=input_names,
        state=state,
        dnc=dnc,
        accounts=accounts,
        follower=follower,
        account_default_active=settings.account_default_active,
        codec=codec,
        lease=Lease(SESSION_TIMEOUT_S / 2),
    )
    app.agent(inputs, concurrency=1, name=AGENT_NAME)(agent.run)
    app.on_partitions_revoked.connect(agent.on_revoked)  # type: ignore[arg-type]
    app.timer(LEASE_RENEW_S, name="campaignflow.renew_lease")(agent.renew_lease)
    app.timer(LAG_EVERY_S, name="campaignflow.lag")(agent.report_lag)
    TickSource(app.topic(names[catalogue.TICKS], **RAW), partitions, codec).register(app)
    web.register(app, state, agent.committed_campaign, partitions)
    return app


def _table_types() -> dict[str, Any]:
    return {"key_type": bytes, "value_type": bytes}
