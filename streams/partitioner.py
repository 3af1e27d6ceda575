"""Which partition a campaign key lands on: the same rule as the project's other producers.

Every confluent-kafka producer of the project is configured by
`topics.clients.producer_config()` with librdkafka's `murmur2_random`: the Java hash,
which aiokafka and Faust use too. The worker installs this function as Faust's producer
partitioner and routes the status API with `partition_of`, so both agree with where a
campaign's inputs are. The integration tests check the rule against the broker.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from aiokafka.partitioner import murmur2


def partition_of(key: bytes, partitions: int) -> int:
    """The partition the project's producers put a non-empty `key` on."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def partitioner(key: bytes | None, all_partitions: Sequence[int], available: Sequence[int]) -> int:
    """Faust/aiokafka partitioner signature; random for null or empty keys, like librdkafka."""
    if not key:
        return random.choice(list(available) or list(all_partitions))
    return all_partitions[partition_of(key, len(all_partitions))]
