"""What the ClickHouse sink is told by the command line (nothing here reads the environment)."""

from __future__ import annotations

from dataclasses import dataclass, field

from topics.catalogue import Topics
from topics.clients import KafkaSettings


@dataclass(frozen=True)
class SinkSettings:
    """One sink process: where it writes, the cluster it reads, and the topic layout."""

    dsn: str
    kafka: KafkaSettings
    topics: Topics = field(default_factory=Topics)
