"""Every private name of Faust, mode and aiokafka the worker relies on, in one place.

The worker reaches under these libraries' public APIs in a few places, each for a reason
written beside it (`streams/transport.py`, `streams/directory.py`, `streams/rocks.py`).
Private names change without notice between releases, so the versions they were read
from are pinned exactly (pyproject.toml and requirements.lock), and
`tests/unit/test_pinned_libraries.py` fails loudly when an installed version, one of
these names, or the upstream source of a copied function is not what this file says.
Upgrading one of the libraries means reading each entry again against the new source.
"""

from __future__ import annotations

from dataclasses import dataclass

#: distribution name -> the exact version the names below were read from
PINNED_VERSIONS: dict[str, str] = {
    "faust-streaming": "0.15.3",
    "mode-streaming": "0.7.1",
    "aiokafka": "0.14.0",
}


@dataclass(frozen=True)
class PrivateName:
    """`owner` (module:qualname) has `name`, as a class attribute or as `self.<name>`."""

    owner: str
    name: str
    used_in: str
    why: str


PRIVATE_NAMES: tuple[PrivateName, ...] = (
    PrivateName(
        "faust.transport.drivers.aiokafka:Producer",
        "_settings_extra",
        "streams/transport.py IdempotentProducer",
        "the only hook that adds acks=all and idempotence outside exactly-once mode",
    ),
    PrivateName(
        "faust.transport.drivers.aiokafka:AIOKafkaConsumerThread",
        "_fetch_records",
        "streams/transport.py ConsumerThread",
        "where the fetcher of each consumer start is reachable, to shorten its fetch wait",
    ),
    PrivateName(
        "faust.transport.drivers.aiokafka:Consumer",
        "_new_consumer_thread",
        "streams/transport.py Consumer",
        "installs the consumer thread above",
    ),
    PrivateName(
        "aiokafka.consumer.fetcher:Fetcher",
        "_get_actions_per_node",
        "streams/transport.py ConsumerThread",
        "wrapped to pick the fetch wait from whether records are still buffered",
    ),
    PrivateName(
        "aiokafka.consumer.fetcher:Fetcher",
        "_records",
        "streams/transport.py ConsumerThread",
        "tells whether a partition was left out of the fetch (records still buffered)",
    ),
    PrivateName(
        "aiokafka.consumer.fetcher:Fetcher",
        "_fetch_max_wait_ms",
        "streams/transport.py ConsumerThread",
        "the wait the fetcher reads when it builds each request (Faust fixes 1.5 s)",
    ),
    PrivateName(
        "faust.transport.drivers.aiokafka:AIOKafkaConsumerThread",
        "_ensure_consumer",
        "streams/transport.py ConsumerThread.on_start",
        "the aiokafka consumer it started, whose coordinator answers the heartbeats",
    ),
    PrivateName(
        "aiokafka.consumer.consumer:AIOKafkaConsumer",
        "_coordinator",
        "streams/transport.py ConsumerThread.on_start",
        "the group coordinator (created by start) that heartbeats, joins and syncs",
    ),
    PrivateName(
        "aiokafka.consumer.group_coordinator:GroupCoordinator",
        "_send_req",
        "streams/transport.py watch_membership",
        "every Heartbeat, JoinGroup and SyncGroup goes through it: answered ones renew the lease",
    ),
    PrivateName(
        "faust.transport.consumer:Consumer",
        "_read_offset",
        "streams/transport.py Consumer._drain_messages",
        "read and advanced by the copied drain loop exactly as upstream does",
    ),
    PrivateName(
        "faust.transport.consumer:Consumer",
        "_add_gap",
        "streams/transport.py Consumer._drain_messages",
        "offset gaps of compacted topics, as upstream",
    ),
    PrivateName(
        "faust.transport.consumer:Consumer",
        "_n_acked",
        "streams/transport.py Consumer._drain_messages",
        "commit_every accounting, as upstream",
    ),
    PrivateName(
        "faust.transport.consumer:Consumer",
        "_commit_every",
        "streams/transport.py Consumer._drain_messages",
        "commit_every accounting, as upstream",
    ),
    PrivateName(
        "mode:Service",
        "_stopped",
        "streams/transport.py Consumer._drain_messages",
        "the stop events the copied loop polls, as upstream",
    ),
    PrivateName(
        "faust:GlobalTable",
        "_changelog_topic_name",
        "streams/directory.py TopicGlobalTable",
        "the assignor names changelogs by app id even when changelog_topic= is given",
    ),
    PrivateName(
        "faust.stores.rocksdb:Store",
        "_db_for_partition",
        "streams/rocks.py AtomicRocksStore.db",
        "one atomic WriteBatch per changelog run needs the partition's database",
    ),
    PrivateName(
        "faust.stores.rocksdb:Store",
        "_dbs",
        "streams/directory.py _raw_get",
        "a lookup of an absent number without Faust's sensors and KeyError",
    ),
)


@dataclass(frozen=True)
class CopiedSource:
    """A function copied into this project: upstream's source, hashed, when it was copied."""

    function: str  # module:qualname
    copied_to: str
    sha256: str


COPIED_SOURCES: tuple[CopiedSource, ...] = (
    CopiedSource(
        "faust.transport.consumer:Consumer._drain_messages",
        "streams/transport.py Consumer._drain_messages",
        "44a2500309e83c630493f6828af50166ec8d96a0b3e4fb2bab735f704ae93417",
    ),
)
