"""What a dialer writes besides its placed-call record: outcomes, inbound calls, dead letters.

Every engine input is keyed by its account. An outcome's call waits in `to_report` until
the outcome is known acknowledged; then its `reported` record is written
(`dialer.placed`). Counters are added up per call and given to Prometheus once per loop
turn (`count`).
"""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import KafkaError, Message

from dialer import metrics
from dialer.calls import STATUSES, Call, Inbound, Outcome, outcome_record
from topics import catalogue, deadletter
from topics.codec import Codec
from topics.producer import TrackedProducer

log = logging.getLogger(__name__)


def failed_delivery(err: KafkaError | None, message: Message) -> None:
    """The producer's report of a failed delivery (successes are not reported; the
    producer counts failures, and the placer puts back a batch recorded before one)."""
    if err is not None:
        log.error("could not deliver to %s: %s", message.topic(), err)


class OutcomePublisher:
    """Encodes and produces a dialer's outcomes, inbound calls and dead letters."""

    def __init__(self, producer: TrackedProducer, codec: Codec, prefix: str, dialer_id: str):
        self.producer = producer
        self.codec = codec
        self.dialer_id = dialer_id
        self.outcome_topic = catalogue.topic_name(catalogue.OUTCOMES, prefix)
        self.inbound_topic = catalogue.topic_name(catalogue.INBOUND, prefix)
        self.deadletter_topic = catalogue.topic_name(catalogue.DEADLETTER, prefix)
        # Outcomes published whose `reported` record waits for their acks.
        self.to_report: list[tuple[Call, int]] = []
        self._by_status = {st: metrics.OUTCOMES.labels(st) for st in STATUSES}
        self._status_counts = dict.fromkeys(STATUSES, 0)

    def outcomes(self, ended: list[tuple[Call, Outcome, int]]) -> None:
        """Publish calls' outcomes (encoded together); each call's `reported` record
        follows once its outcome is acked."""
        dialer_id = self.dialer_id
        records = [
            outcome_record(
                call.call_id,
                call.campaign_id,
                call.account_id,
                call.contact_id,
                call.attempt,
                outcome,
                call.created_at,
                dialer_id,
            )
            for call, outcome, _partition in ended
        ]
        values = self.codec.encode_many("CallOutcome", records)
        key = catalogue.account_key
        self.producer.produce_all(
            self.outcome_topic,
            [
                (value, key(call.account_id), None)
                for (call, _o, _p), value in zip(ended, values, strict=True)
            ],
        )
        counts = self._status_counts
        for call, outcome, partition in ended:
            self.to_report.append((call, partition))
            counts[outcome.status] += 1

    def outcome(self, call: Call, outcome: Outcome, partition: int) -> None:
        """Publish one call's outcome (see `outcomes`)."""
        self.outcomes([(call, outcome, partition)])

    def unrecorded_outcome(self, record: dict[str, Any], account_id: str, status: str) -> None:
        """An outcome record for a call no longer in this dialer's memory (no `reported`)."""
        self.producer.produce(
            self.outcome_topic,
            self.codec.encode("CallOutcome", record),
            catalogue.account_key(account_id),
        )
        self._by_status[status].inc()

    def inbound(self, event: Inbound) -> None:
        record = event.record(self.dialer_id)
        self.producer.produce(
            self.inbound_topic,
            self.codec.encode("InboundCall", record),
            catalogue.account_key(event.account_id),
        )
        metrics.INBOUND.labels(event.kind).inc()

    def park(self, message: Message, reason: str) -> None:
        """The shared helper: the dead letter fits the limit, a produce error never stops us."""
        self.producer.park(
            deadletter.of_message(
                message, reason, "dialer", codec=self.codec, dead_letter_topic=self.deadletter_topic
            )
        )
        metrics.DEADLETTERS.inc()
        log.warning("parked on %s: %s", self.deadletter_topic, reason)

    def count(self) -> None:
        """Add the outcomes published since the last turn to the Prometheus counters."""
        counts = self._status_counts
        for status, n in counts.items():
            if n:
                self._by_status[status].inc(n)
                counts[status] = 0
