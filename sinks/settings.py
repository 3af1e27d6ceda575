"""What the ClickHouse sink is told by the command line (nothing here reads the environment)."""

from __future__ import annotations

from dataclasses import dataclass

from topics.clients import KafkaSettings


@dataclass(frozen=True)
class SinkSettings:
    """One sink process: where it writes, the cluster it reads, and the topics' prefix."""

    dsn: str
    kafka: KafkaSettings
    topic_prefix: str = ""
