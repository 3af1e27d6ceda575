"""Which partition a campaign key lands on, the same way the project's other producers choose.

The ingest, CLI and dialer producers are confluent-kafka clients with librdkafka's
default `consistent_random` partitioner: CRC-32 of the key modulo the partition count.
Faust (aiokafka) would use murmur2 instead, so the worker installs this function as its
producer partitioner: its own keyed messages, and Faust's table routing of the status
API, then agree with where the inputs of a campaign really are.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Sequence


def partition_of(key: bytes, partitions: int) -> int:
    """librdkafka `consistent_random` for a non-empty key."""
    return zlib.crc32(key) % partitions


def consistent_random(
    key: bytes | None, all_partitions: Sequence[int], available: Sequence[int]
) -> int:
    """Faust/aiokafka partitioner signature; random for null or empty keys, as librdkafka does."""
    if not key:
        return random.choice(list(available) or list(all_partitions))
    return all_partitions[partition_of(key, len(all_partitions))]
