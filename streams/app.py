"""The Faust app of the engine worker: one agent, the state table, the directory, ticks, web.

- ONE agent (concurrency 1) reads the four co-partitioned engine inputs (commands,
  contacts, outcomes, ticks) as raw bytes and hands them to `streams.shell.Shell`,
  which runs the one `campaigns.engine.Engine`. A batch is whatever waits in the
  agent's queue when it is ready for more (up to BATCH_MAX): no timer, so a lone
  outcome is stepped at once and a backlog is stepped in one go.
- Per batch: the outputs go to the producer at once (record batches, not awaited), the
  state changes are sealed, and `streams.committer.Committer` commits behind the agent:
  outputs acked, THEN the changelog run + marker, THEN RocksDB, THEN the input offsets
  are acked. A crash anywhere replays inputs against state that never ran ahead of its
  outputs: repeated call:create records carry the same call ids, nothing is lost.
- The leader publishes one tick per partition per second; every worker keeps a due index.
- Web: GET /campaigns/{id} (routed to the owner by the state table) and /metrics.
"""

from __future__ import annotations

import gc
import logging
import socket
import ssl
import time
from pathlib import Path
from typing import Any

import faust
from prometheus_client import generate_latest

import streams.transport  # noqa: F401  (registers the cfkafka:// transport)
from campaignflow.config import settings
from campaigns.engine import Engine
from campaigns.state import CampaignState
from campaigns.windows import iso
from streams import metrics
from streams.committer import Committer, Sealed
from streams.directory import AccountFollower, TableDirectory, global_table
from streams.lease import Lease
from streams.partitioner import partition_of, partitioner
from streams.publish import Publisher
from streams.rocks import AtomicRocksStore  # importing registers the cfrocks:// store
from streams.shell import Inbound, Shell
from streams.tablestore import TableStore
from topics import catalogue
from topics.clients import consumer_config
from topics.codec import default_codec

log = logging.getLogger(__name__)

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
BATCH_MAX = 2000
COMMIT_WAITING = 16  # sealed batches that may wait for their commit before the agent waits
TICK_SECONDS = 1.0
# Full collections scan every object the worker holds (its row cache included) and paused
# the agent 100 ms or more every second or two under load; young ones stay as in CPython.
GC_THRESHOLDS = (700, 10, 1000)

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
    return "campaignflow-engine" + (f"-{prefix.strip('.-_')}" if prefix else "")


def status_body(camp: CampaignState, partition: int) -> dict[str, Any]:
    """What GET /campaigns/{id} answers (committed state)."""
    open_contacts = camp.arrived - camp.final
    return {
        "campaign_id": camp.campaign_id,
        "status": camp.status.value if camp.status is not None else None,
        "partition": partition,
        "contacts": {
            "expected": camp.expected,
            "arrived": camp.arrived,
            "final": camp.final,
            "open": open_contacts,
            "in_call": camp.in_flight,
            "never_called": max(camp.arrived - camp.cursor, 0),
            "by_final_status": dict(sorted(camp.counts.items())),
        },
        "calls_created": camp.calls,
        "in_flight": camp.in_flight,
        "next_wake": iso(camp.next_wake) if camp.next_wake is not None else None,
        "start_at": iso(camp.start_at) if camp.start_at is not None else None,
        "finished_at": iso(camp.finished_at) if camp.finished_at is not None else None,
    }


SESSION_TIMEOUT_S = 10.0
LEASE_RENEW_S = 0.5


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


def build_app(web_port: int | None = None, data_dir: Path | None = None) -> faust.App:
    gc.set_threshold(*GC_THRESHOLDS)
    s = settings()
    port = web_port or s.worker_port
    datadir = data_dir or (s.home / "worker" / str(port))
    datadir.mkdir(parents=True, exist_ok=True)
    partitions = s.partitions
    app = faust.App(
        app_id(s.topic_prefix),
        broker=[f"cfkafka://{host}" for host in s.bootstrap.split(",")],
        store="cfrocks://",
        datadir=str(datadir),
        web_host=s.worker_bind,
        web_bind=s.worker_bind,  # Faust binds 0.0.0.0 unless told (web_host only names the URL)
        web_port=port,
        canonical_url=advertised_url(s.worker_bind, s.worker_advertised_host, port),
        # Faust's /table/ pages list and return table rows (state, do-not-call, accounts);
        # /router/ lists every worker's URL. Status requests are routed by app.router,
        # which needs neither page. Stats and graph pages follow `debug` (off).
        web_tables_enabled=False,
        web_router_enabled=False,
        broker_credentials=broker_credentials(
            s.kafka_security_protocol,
            s.kafka_sasl_mechanism,
            s.kafka_sasl_username,
            s.kafka_sasl_password,
            s.kafka_ssl_ca_location,
        ),
        topic_partitions=partitions,
        topic_replication_factor=s.topic_replication,
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
    names = {logical: catalogue.topic_name(logical) for logical in catalogue.LOGICAL_NAMES}
    input_names = [names[t] for t in catalogue.ENGINE_INPUTS]
    inputs = app.topic(*input_names, **RAW)
    ticks = app.topic(names[catalogue.TICKS], **RAW)

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
        consumer_config(f"{app.conf.id}-accounts", log_level=2),
        names[catalogue.ACCOUNT_STATUS],
    ).start()
    codec = default_codec()
    holder: dict[str, Any] = {}
    lease = Lease(SESSION_TIMEOUT_S / 2)

    def shell() -> Shell:
        """Built on first use: the table's store exists only once the app runs."""
        if "shell" not in holder:
            rocks = state.data
            assert isinstance(rocks, AtomicRocksStore), "the state table needs the cfrocks:// store"
            store = TableStore(rocks)
            directory = TableDirectory(dnc, accounts, s.account_default_active, follower=follower)
            publisher = Publisher()
            holder["publisher"] = publisher
            holder["committer"] = Committer(
                store,
                publisher,
                state.changelog_topic.get_topic_name(),
                COMMIT_WAITING,
                on_error=app.crash,
                consumer=app.consumer,
                before_write=lease.check,
            )
            holder["shell"] = Shell(Engine(store, directory), store, codec)
        sh: Shell = holder["shell"]
        return sh

    last_offsets: dict[tuple[str, int], int] = {}

    @app.agent(inputs, concurrency=1)
    async def engine(stream: Any) -> None:
        # The agent reads its channel's queue itself: Faust's per-event stream machinery
        # (and take_events' timer) cost more than the engine step of an outcome.
        # Objects made so far (modules, Faust, tables) live as long as the process: keep them
        # out of the collector's full passes, which otherwise stop the agent 100 ms and more.
        gc.collect()
        gc.freeze()
        channel = aiter(stream.channel)  # subscribes this agent's queue to the topics
        queue = channel.queue
        sensors = app.sensors
        flow = app.flow_control
        consumer: Any = app.consumer

        def handover(message: Any) -> bool:
            """The consumer's direct path into this queue (see `streams.transport`)."""
            if not flow.is_active() or queue.full():
                return False  # the conductor's way: it waits, or drops on a revocation
            message.incref()  # acked (decref'd) by the committer, as the conductor would
            queue.put_nowait(message)
            return True

        consumer.handovers = {name: handover for name in input_names}
        while True:
            # Raw messages from the hand-over, Faust events from the conductor's path.
            items = [await queue.get()]
            while len(items) < BATCH_MAX and not queue.empty():
                items.append(queue.get_nowait())
            started = time.perf_counter()
            batch = []
            messages = []
            seen: dict[Any, Any] = {}
            for item in items:
                m = getattr(item, "message", item)
                messages.append(m)
                batch.append(Inbound(m.topic, m.partition, m.offset, m.key, m.value))
                seen[m.tp] = item
            for tp, item in seen.items():  # Faust's monitor: this partition's stream is alive
                offset = getattr(item, "message", item).offset
                last_offsets[(tp.topic, tp.partition)] = offset
                sensors.on_stream_event_out(
                    tp, offset, stream, item, sensors.on_stream_event_in(tp, offset, stream, item)
                )
            lease.check()  # a stalled worker may no longer own these partitions
            sh = shell()
            out = sh.handle(batch)
            run = sh.store.seal()
            t1 = time.perf_counter()
            publisher: Publisher = holder["publisher"]
            committer: Committer = holder["committer"]
            try:
                lease.check()
                delivered = await publisher.publish([(o.topic, o.key, o.value) for o in out])
                metrics.PUBLISH_SECONDS.observe(time.perf_counter() - t1)
                metrics.BATCH_SECONDS.observe(time.perf_counter() - started)
                await committer.submit(Sealed(delivered, run, messages))
            except Exception as exc:
                # State in memory is ahead of what may be committed: stop this worker; its
                # partitions replay from the last commit on the next owner.
                log.exception("engine agent cannot go on")
                await app.crash(exc)
                raise

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def revoked(sender: Any, revoked: Any, **kwargs: Any) -> None:
        if "shell" in holder:
            await holder["committer"].drain()  # what was handled is committed first
            holder["shell"].forget()

    @app.timer(LEASE_RENEW_S)
    async def renew_lease() -> None:
        lease.renew()

    @app.timer(TICK_SECONDS, on_leader=True)
    async def tick() -> None:
        at = time.time_ns() // 1_000_000
        for p in range(partitions):
            value = codec.encode("Tick", {"partition": p, "at": at})
            await ticks.send(key=str(p).encode(), value=value, partition=p)

    @app.timer(5.0)
    async def lag() -> None:
        consumer = app.consumer
        for (topic, partition), offset in list(last_offsets.items()):
            tp = faust.types.TP(topic, partition)
            try:
                high = consumer.highwater(tp)
            except Exception:  # partition not assigned any more
                continue
            if high is not None:
                metrics.LAG.labels(topic, str(partition)).set(max(high - offset - 1, 0))

    @app.page("/campaigns/{campaign_id}")
    @app.table_route(table=state, match_info="campaign_id")
    async def campaign_status(web: Any, request: Any, campaign_id: str) -> Any:
        partition = partition_of(campaign_id.encode(), partitions)
        camp = shell().store.committed_campaign(partition, campaign_id)
        if camp is None:
            return web.json({"error": f"unknown campaign {campaign_id}"}, status=404)
        return web.json(status_body(camp, partition))

    @app.page("/metrics")
    async def prometheus(web: Any, request: Any) -> Any:
        return web.bytes(generate_latest(), content_type="text/plain; version=0.0.4")

    return app


def _table_types() -> dict[str, Any]:
    return {"key_type": bytes, "value_type": bytes}
