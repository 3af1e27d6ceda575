"""Prometheus metrics of the sink, served on /metrics by its query server."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

ROWS_INSERTED = Counter(
    "campaignflow_sink_rows_inserted_total",
    "Rows inserted into ClickHouse, by table.",
    ["table"],
    registry=REGISTRY,
)
INSERT_SECONDS = Histogram(
    "campaignflow_sink_insert_seconds",
    "Latency of one successful batch insert, by table.",
    ["table"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)
BATCHES = Counter(
    "campaignflow_sink_batches_total",
    "Batches flushed (inserted, then offsets committed).",
    registry=REGISTRY,
)
BATCH_ROWS = Histogram(
    "campaignflow_sink_batch_rows",
    "Rows per flushed batch (all tables).",
    buckets=(10, 100, 1_000, 10_000, 25_000, 50_000, 100_000),
    registry=REGISTRY,
)
INSERT_FAILURES = Counter(
    "campaignflow_sink_insert_failures_total",
    "Failed insert attempts (retried with backoff).",
    ["table"],
    registry=REGISTRY,
)
NATIVE_FALLBACKS = Counter(
    "campaignflow_sink_native_fallbacks_total",
    "Batches of a table ClickHouse could not decode as Avro, decoded in Python instead.",
    ["table"],
    registry=REGISTRY,
)
DEAD_LETTERS = Counter(
    "campaignflow_sink_dead_letters_total",
    "Messages parked on the dead-letter topic, by source topic.",
    ["topic"],
    registry=REGISTRY,
)
CLICKHOUSE_UP = Gauge(
    "campaignflow_sink_clickhouse_up",
    "1 while the last insert succeeded, 0 while ClickHouse is failing.",
    registry=REGISTRY,
)
LAG = Gauge(
    "campaignflow_sink_consumer_lag",
    "Messages behind the partition's high watermark (from librdkafka statistics).",
    ["topic", "partition"],
    registry=REGISTRY,
)
QUERIES = Counter(
    "campaignflow_sink_queries_total",
    "Read-only queries answered by the query endpoint, by result.",
    ["result"],
    registry=REGISTRY,
)
