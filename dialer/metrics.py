"""Prometheus metrics of the dialer (served on settings().dialer_metrics_port at /metrics).

The per-call hot path stays cheap: counters are added up per fetched batch by the
consumer, and the create-to-dial histogram is a plain-list collector (a bisect and two
additions per call, no lock) rather than prometheus_client's locked per-bucket values.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterator, Sequence

from prometheus_client import REGISTRY, Counter, Gauge
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector

CALLS_PLACED = Counter("dialer_calls_placed", "Calls handed to the telephony adapter.", ["adapter"])
IN_PROGRESS = Gauge("dialer_calls_in_progress", "Calls placed and not yet ended.")
OUTCOMES = Counter("dialer_outcomes", "Outcomes published, by status.", ["status"])
DEDUPE_HITS = Counter("dialer_dedupe_hits", "call:create messages dropped as duplicates.")
ADAPTER_ERRORS = Counter(
    "dialer_adapter_errors", "Errors of the telephony adapter, by kind.", ["adapter", "kind"]
)
DEADLETTERS = Counter("dialer_deadletters", "Messages parked on the dead-letter topic.")
RECONCILED = Counter(
    "dialer_calls_reconciled",
    "Calls placed by a predecessor and never reported, by what the adapter said of them.",
    ["state"],
)
RECORD_RESTORES = Counter(
    "dialer_placed_record_restores", "Reads of the placed-call record on partition assignment."
)
FENCED = Counter(
    "dialer_fenced", "Stalls after which the group no longer counted this dialer (zombie)."
)
PREDIAL = Counter(
    "dialer_predial_checks",
    "Pre-dial checks (issue 23) by result: dial, refused, error_skipped, error_dialled.",
    ["result"],
)
EXPIRED = Counter("dialer_deadline_expired", "Calls not dialled because their deadline passed.")
INBOUND = Counter("dialer_inbound_events", "Inbound-call events published, by kind.", ["kind"])


class CheapHistogram(Collector):
    """A label-less histogram for one thread's hot path; exposed like a prometheus Histogram.

    Written by the dialer's event-loop thread only; a scrape from the metrics thread may
    see a sum one observation ahead of the buckets, which Prometheus tolerates.
    """

    def __init__(self, name: str, documentation: str, buckets: Sequence[float]) -> None:
        self.name = name
        self.documentation = documentation
        self.bounds = [float(b) for b in buckets]
        if self.bounds[-1] != math.inf:
            self.bounds.append(math.inf)
        self.counts = [0] * len(self.bounds)
        self.sum = 0.0
        REGISTRY.register(self)

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.sum += value

    def collect(self) -> Iterator[HistogramMetricFamily]:
        counts = list(self.counts)
        cumulative, buckets = 0, []
        for bound, count in zip(self.bounds, counts, strict=True):
            cumulative += count
            label = "+Inf" if bound == math.inf else repr(bound)
            buckets.append((label, cumulative))
        yield HistogramMetricFamily(
            self.name, self.documentation, buckets=buckets, sum_value=self.sum
        )


CREATE_TO_DIAL = CheapHistogram(
    "dialer_create_to_dial_seconds",
    "Delay from call creation (created_at) to the dial.",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
