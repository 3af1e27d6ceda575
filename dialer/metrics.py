"""Prometheus metrics of the dialer (served on settings().dialer_metrics_port at /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

CALLS_PLACED = Counter("dialer_calls_placed", "Calls handed to the telephony adapter.", ["adapter"])
IN_PROGRESS = Gauge("dialer_calls_in_progress", "Calls placed and not yet ended.")
OUTCOMES = Counter("dialer_outcomes", "Outcomes published, by status.", ["status"])
DEDUPE_HITS = Counter("dialer_dedupe_hits", "call:create messages dropped as duplicates.")
ADAPTER_ERRORS = Counter(
    "dialer_adapter_errors", "Errors of the telephony adapter, by kind.", ["adapter", "kind"]
)
DEADLETTERS = Counter("dialer_deadletters", "Messages parked on the dead-letter topic.")
EXPIRED = Counter("dialer_deadline_expired", "Calls not dialled because their deadline passed.")
INBOUND = Counter("dialer_inbound_events", "Inbound-call events published, by kind.", ["kind"])
CREATE_TO_DIAL = Histogram(
    "dialer_create_to_dial_seconds",
    "Delay from call creation (created_at) to the dial.",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
