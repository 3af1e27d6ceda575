"""Kafka client configs from settings: one place for bootstrap, security and producer tuning."""

from __future__ import annotations

from typing import Any

from campaignflow.config import settings
from topics.catalogue import MAX_MESSAGE_BYTES


def common_config() -> dict[str, Any]:
    """bootstrap.servers plus the SASL/SSL passthrough settings that are set."""
    s = settings()
    conf: dict[str, Any] = {"bootstrap.servers": s.bootstrap}
    passthrough = {
        "security.protocol": s.kafka_security_protocol,
        "sasl.mechanism": s.kafka_sasl_mechanism,
        "sasl.username": s.kafka_sasl_username,
        "sasl.password": s.kafka_sasl_password,
        "ssl.ca.location": s.kafka_ssl_ca_location,
    }
    conf.update({k: v for k, v in passthrough.items() if v is not None})
    return conf


def producer_config(**overrides: Any) -> dict[str, Any]:
    """Idempotent, batching, compressed producer (lz4: cheap, and readable by aiokafka/Faust).

    Keys are hashed with murmur2, as Java clients, aiokafka and Faust do, so a campaign's
    messages land on the same partition whichever client produced them.
    """
    conf = common_config()
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


def consumer_config(group_id: str, **overrides: Any) -> dict[str, Any]:
    """Consumer in `group_id`, reading from the start, committing explicitly after processing."""
    conf = common_config()
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


def admin_config(**overrides: Any) -> dict[str, Any]:
    conf = common_config()
    conf.update(overrides)
    return conf
