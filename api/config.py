"""What the API needs to run, passed down from the command line (no settings read here)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from api.ratelimit import ApiLimits
from topics.catalogue import Topics
from topics.clients import KafkaSettings

MiB = 1 << 20


@dataclass(frozen=True)
class ApiSettings:
    """One API replica: its cluster, topic layout, state directory, limits and webhooks."""

    kafka: KafkaSettings
    topics: Topics
    state_dir: Path  # this replica's directory: read model, operator key
    host: str = "127.0.0.1"
    port: int = 8080
    # Request size limits: a JSON body and a multipart body (the CSV upload) on the upload
    # routes; every other route's body at most max_request_bytes.
    max_json_bytes: int = 16 * MiB
    max_upload_bytes: int = 1024 * MiB
    max_request_bytes: int = 1 * MiB
    max_definition_bytes: int = 1 * MiB
    # Contacts one JSON request may carry (more: upload a CSV).
    max_json_contacts: int = 100_000
    # The forecast runs the engine in-process: bounded by the contacts it simulates.
    max_forecast_contacts: int = 200_000
    command_timeout_s: float = 30.0
    # Webhook delivery: tries per endpoint before the event is parked, first backoff,
    # the whole of one attempt (connect to status line), deliveries waiting per endpoint.
    webhook_tries: int = 5
    webhook_backoff_s: float = 0.5
    webhook_timeout_s: float = 5.0
    webhook_queue_max: int = 1000
    # How long an event waits for the read model to know its campaign (then dropped).
    webhook_campaign_wait_s: float = 30.0
    # Endpoints on loopback (tests, a local stack); never private or link-local ones.
    webhook_allow_loopback: bool = False
    webhooks: bool = True  # run the dispatcher in this process
    console_dir: Path | None = field(default=None)
    limits: ApiLimits = field(default_factory=ApiLimits)  # per-account rates (api.ratelimit)
    # Runs one checked read-only SELECT on ClickHouse (the sink's endpoint with the embedded
    # engine), rows as dicts; raises api.analytics.AnalyticsUnavailable. None: /v1/analytics 503.
    analytics: Callable[[str], list[dict[str, Any]]] | None = None

    @property
    def prefix(self) -> str:
        return self.topics.prefix

    @property
    def operator_key_file(self) -> Path:
        return self.state_dir / "operator.key"
