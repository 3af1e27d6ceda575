"""Prometheus metrics of the engine worker, served on `/metrics` of its web port."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

CALLS_CREATED = Counter(
    "campaignflow_calls_created_total", "call:create records published", ["campaign_id"]
)
OUTCOMES = Counter(
    "campaignflow_outcomes_total", "Call outcomes the engine recorded", ["status", "applied"]
)
EVENTS = Counter(
    "campaignflow_engine_inputs_total", "Input messages handled by the engine agent", ["topic"]
)
DEAD_LETTERS = Counter(
    "campaignflow_engine_dead_letters_total", "Messages parked on the dead-letter topic", ["reason"]
)
IN_FLIGHT = Gauge(
    "campaignflow_calls_in_flight",
    "Calls in flight per campaign owned by this worker (a campaign leaves when it has none)",
    ["campaign_id"],
)
STEP_SECONDS = Histogram(
    "campaignflow_engine_step_seconds",
    "Time of one engine step (one campaign, one batch)",
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0),
)
BATCH_SECONDS = Histogram(
    "campaignflow_engine_batch_seconds",
    "Agent time of one batch of input messages: decode, engine steps, encode, outputs handed"
    " to the producer (the commit runs behind, see campaignflow_engine_commit_seconds)",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
DUE_CAMPAIGNS = Counter(
    "campaignflow_engine_due_steps_total", "Campaign steps triggered by ticks (due index)"
)
LAG = Gauge(
    "campaignflow_engine_input_lag",
    "Messages not yet read on an input partition",
    ["topic", "partition"],
)
PUBLISH_SECONDS = Histogram(
    "campaignflow_engine_publish_seconds",
    "Handing a batch's outputs to the producer (not waiting for the broker)",
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1),
)
COMMIT_SECONDS = Histogram(
    "campaignflow_engine_commit_seconds",
    "Committing a group of batches: output acks, changelog run and marker ack, RocksDB write",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)
COMMIT_GROUP = Histogram(
    "campaignflow_engine_commit_batches",
    "Batches committed together (they queued while the previous commit waited for the broker)",
    buckets=(1, 2, 4, 8, 16, 32),
)
OPT_OUTS = Counter(
    "campaignflow_opt_outs_total",
    "Opt-outs the engine honoured (a number joined its account's do-not-call list)",
)
