"""Kafka client configs: one place for bootstrap, security and producer tuning.

The connection (`KafkaSettings`: bootstrap servers and the SASL/SSL passthrough) is
built by the command line from its settings and passed to every config function.

Clients log through `CLIENT_LOG` (a Python logger), which passes each kind of librdkafka
message (its facility, e.g. FAIL when a broker is down) at most once a minute: a broker
that is away gave hundreds of identical lines otherwise. `require_broker` is the quick
check a command makes before building a client, so it can say in one line that no
broker answers.
"""

from __future__ import annotations

import logging
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from topics.catalogue import MAX_MESSAGE_BYTES
from topics.exceptions import BrokerUnreachable

LOG_EVERY_S = 60.0
BROKER_CHECK_TIMEOUT_S = 3.0


class _OncePerFacility(logging.Filter):
    """Lets a librdkafka message through when its facility was not logged in the last minute."""

    def __init__(self) -> None:
        super().__init__()
        self._last: dict[str, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        facility = str(args[0]) if args else record.getMessage()
        now = time.monotonic()
        last = self._last.get(facility)
        if last is not None and now - last < LOG_EVERY_S:
            return False
        self._last[facility] = now
        return True


CLIENT_LOG = logging.getLogger("campaignflow.kafka.client")
CLIENT_LOG.addFilter(_OncePerFacility())


@dataclass(frozen=True)
class KafkaSettings:
    """How every client of one process reaches the cluster (passed to librdkafka as is)."""

    bootstrap: str
    security_protocol: str | None = None
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)  # out of logs and tracebacks
    ssl_ca_location: str | None = None


def require_broker(bootstrap: str, timeout_s: float = BROKER_CHECK_TIMEOUT_S) -> str:
    """The bootstrap servers if one of them accepts a TCP connection; else BrokerUnreachable.

    Why: a client built without a broker retries quietly for its whole timeout and then
    gives a traceback; this answers within `timeout_s` per server.
    """
    servers = bootstrap
    for entry in servers.split(","):
        hostport = entry.strip().rsplit("://", 1)[-1]
        host, _, port = hostport.rpartition(":")
        try:
            with socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout_s):
                return servers
        except (OSError, ValueError):
            continue
    raise BrokerUnreachable(
        f"no Kafka broker answers at {servers}: start the local one with"
        " `campaignflow kafka up` (or `campaignflow dev up`), or set KAFKA_BOOTSTRAP_SERVERS"
    )


def common_config(kafka: KafkaSettings) -> dict[str, Any]:
    """bootstrap.servers plus the SASL/SSL passthrough settings that are set."""
    conf: dict[str, Any] = {"bootstrap.servers": kafka.bootstrap, "logger": CLIENT_LOG}
    passthrough = {
        "security.protocol": kafka.security_protocol,
        "sasl.mechanism": kafka.sasl_mechanism,
        "sasl.username": kafka.sasl_username,
        "sasl.password": kafka.sasl_password,
        "ssl.ca.location": kafka.ssl_ca_location,
    }
    conf.update({k: v for k, v in passthrough.items() if v is not None})
    return conf


def producer_config(kafka: KafkaSettings, **overrides: Any) -> dict[str, Any]:
    """Idempotent, batching, compressed producer (lz4: cheap, and readable by aiokafka/Faust).

    Keys are hashed with murmur2, as Java clients, aiokafka and Faust do, so a campaign's
    messages land on the same partition whichever client produced them.
    """
    conf = common_config(kafka)
    conf.update(
        {
            "partitioner": "murmur2_random",
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 20,
            "batch.num.messages": 10_000,
            "compression.type": "lz4",
            # The topics' max.message.bytes: a message no topic takes fails at produce().
            "message.max.bytes": MAX_MESSAGE_BYTES,
        }
    )
    conf.update(overrides)
    return conf


def consumer_config(kafka: KafkaSettings, group_id: str, **overrides: Any) -> dict[str, Any]:
    """Consumer in `group_id`, reading from the start, committing explicitly after processing."""
    conf = common_config(kafka)
    conf.update(
        {
            "group.id": group_id,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "enable.partition.eof": False,
        }
    )
    conf.update(overrides)
    return conf


def admin_config(kafka: KafkaSettings, **overrides: Any) -> dict[str, Any]:
    conf = common_config(kafka)
    conf.update(overrides)
    return conf


def consumer_error(err: KafkaError, logger: logging.Logger) -> None:
    """The one triage of a consumer's error: fatal raises, end of partition is normal,
    anything else (a broker away, a rebalance) is logged and the loop goes on. A fatal error
    (e.g. a static member fenced after its coordinator moved) leaves the consumer dead: it
    raises, so the supervisor starts a fresh process."""
    if err.fatal() or err.code() == KafkaError._FATAL:
        raise KafkaException(err)
    if err.code() != KafkaError._PARTITION_EOF:
        logger.warning("consumer error: %s", err)


# A partition whose leader is moving or not elected yet (a broker restarting, a topic just
# made) answers these for a moment: asked again rather than raised.
PASSING = {
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError._TRANSPORT,
    KafkaError._TIMED_OUT,
    KafkaError.UNKNOWN_TOPIC_OR_PART,
}


def watermarks(consumer: Consumer, tp: TopicPartition, timeout_s: float) -> tuple[int, int]:
    """(low, high) offsets of a partition, asked again while its leader is passing."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            low, high = consumer.get_watermark_offsets(tp, timeout=min(timeout_s, 10.0))
            return int(low), int(high)
        except KafkaException as exc:
            code = exc.args[0].code() if exc.args else None
            if code not in PASSING or time.monotonic() > deadline:
                raise
            time.sleep(0.2)
