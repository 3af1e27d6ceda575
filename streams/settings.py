"""What the engine worker is told by the command line (nothing here reads the environment)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from topics.catalogue import Topics
from topics.clients import KafkaSettings


@dataclass(frozen=True)
class WorkerSettings:
    """One worker process: its cluster, topic layout, state directory and web server."""

    kafka: KafkaSettings
    topics: Topics
    data_dir: Path  # RocksDB tables and Faust's own state
    web_port: int
    web_bind: str = "127.0.0.1"
    advertised_host: str | None = None  # how other workers reach this one (None: derived)
    account_default_active: bool = False  # an account with no account.status record
