"""Create and inspect the catalogue's topics (idempotent: existing topics are fine)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from topics.catalogue import TopicSpec
from topics.clients import KafkaSettings, admin_config


@dataclass(frozen=True)
class TopicState:
    """A catalogue topic next to what the broker has."""

    spec: TopicSpec
    exists: bool
    partitions: int | None

    @property
    def ok(self) -> bool:
        return self.exists and self.partitions == self.spec.partitions


def admin_client(kafka: KafkaSettings) -> AdminClient:
    return AdminClient(admin_config(kafka))


def create_topics(
    specs: Iterable[TopicSpec],
    admin: AdminClient,
    timeout_seconds: float = 30.0,
) -> dict[str, str]:
    """Create missing topics; returns name -> "created" | "exists". Raises on any other error."""
    wanted = list(specs)
    existing = set(admin.list_topics(timeout=timeout_seconds).topics)
    result = {t.name: "exists" for t in wanted if t.name in existing}
    new = [
        NewTopic(
            t.name,
            num_partitions=t.partitions,
            replication_factor=t.replication,
            config=t.kafka_config(),
        )
        for t in wanted
        if t.name not in existing
    ]
    if not new:
        return result
    errors: list[str] = []
    for name, future in admin.create_topics(new, operation_timeout=timeout_seconds).items():
        try:
            future.result(timeout_seconds)
            result[name] = "created"
        except KafkaException as exc:
            err = exc.args[0]
            if isinstance(err, KafkaError) and err.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                result[name] = "exists"  # created concurrently by someone else: fine
            else:
                errors.append(f"{name}: {err}")
    if errors:
        raise RuntimeError("could not create topics: " + "; ".join(errors))
    _wait_ready(admin, [t.topic for t in new], timeout_seconds)
    return result


def _wait_ready(admin: AdminClient, names: list[str], timeout_seconds: float) -> None:
    """Return once every topic has metadata without error and a leader per partition.

    A broker acknowledges a creation before its metadata settles; clients that
    produce or list right away would otherwise see LEADER_NOT_AVAILABLE.
    """
    deadline = time.monotonic() + timeout_seconds
    pending = set(names)
    while pending and time.monotonic() < deadline:
        meta = admin.list_topics(timeout=timeout_seconds).topics
        for name in list(pending):
            found = meta.get(name)
            if (
                found is not None
                and found.error is None
                and found.partitions
                and all(p.leader >= 0 for p in found.partitions.values())
            ):
                pending.discard(name)
        if pending:
            time.sleep(0.1)


def list_topics(
    specs: Iterable[TopicSpec],
    admin: AdminClient,
    timeout_seconds: float = 30.0,
) -> list[TopicState]:
    """Every catalogue topic with whether it exists and its partition count on the broker."""
    meta = admin.list_topics(timeout=timeout_seconds).topics
    out = []
    for t in specs:
        found = meta.get(t.name)
        exists = found is not None and found.error is None
        out.append(TopicState(t, exists, len(found.partitions) if exists and found else None))
    return out


def delete_topics(names: Iterable[str], admin: AdminClient, timeout_seconds: float = 30.0) -> None:
    """Delete topics (tests clean up their prefixed topics with this); missing ones are fine."""
    names = list(names)
    if not names:
        return
    for _name, future in admin.delete_topics(names, operation_timeout=timeout_seconds).items():
        try:
            future.result(timeout_seconds)
        except KafkaException as exc:
            err = exc.args[0]
            if not (isinstance(err, KafkaError) and err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART):
                raise
