"""Which partition a campaign key lands on: the same rule as the project's other producers.

The ingest, CLI and dialer producers are confluent-kafka clients configured by
`topics.clients.producer_config()`; its `partitioner` decides (`murmur2_random`, the
Java/Faust hash, today; librdkafka's default `consistent_random`, CRC-32, if unset). The
worker installs the matching function as Faust's producer partitioner, so its own keyed
messages and the status API's table routing agree with where a campaign's inputs are.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Sequence

from aiokafka.partitioner import murmur2

from topics.clients import producer_config


def _murmur2(key: bytes, partitions: int) -> int:
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def _crc32(key: bytes, partitions: int) -> int:
    return zlib.crc32(key) % partitions


def _rule() -> str:
    return str(producer_config().get("partitioner", "consistent_random"))


def partition_of(key: bytes, partitions: int) -> int:
    """The partition the project's producers put a non-empty `key` on."""
    if _rule().startswith("murmur2"):
        return _murmur2(key, partitions)
    return _crc32(key, partitions)


def partitioner(key: bytes | None, all_partitions: Sequence[int], available: Sequence[int]) -> int:
    """Faust/aiokafka partitioner signature; random for null or empty keys, like librdkafka."""
    if not key:
        return random.choice(list(available) or list(all_partitions))
    return all_partitions[partition_of(key, len(all_partitions))]
