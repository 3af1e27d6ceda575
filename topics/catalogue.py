"""Every Kafka topic of campaignflow: name, partitions, replication, cleanup, schema and key.

Logical names (`campaign.commands`, ...) are stable; the real name puts a prefix in
front (the command line reads it from the settings and passes it down: `Topics`, or
the `prefix` argument). Every account-keyed topic has the same partition count and
is keyed by `account_id` with the default partitioner, so the engine's inputs and
outputs co-partition by account: one agent is the single writer of every campaign of
an account, and a producer in any language stays correct by setting the key alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

COMMANDS = "campaign.commands"
CONTACTS = "campaign.contacts"
TICKS = "campaign.ticks"
OUTCOMES = "call.outcomes"
CALL_CREATE = "call.create"
EVENTS = "campaign.events"
DNC = "campaign.dnc"
ACCOUNT_STATUS = "account.status"
INBOUND = "call.inbound"
PLACED = "call.placed"
DEADLETTER = "campaignflow.deadletter"
# The sink's announcements of degraded caller IDs (ClickHouse's judgement), for the webhooks.
CALLER_ID_HEALTH = "caller_id.health"
# The REST API's control plane: compacted, keyed "<account_id>/<id>", read whole at start.
API_ACCOUNTS = "api.accounts"
API_AGENTS = "api.agents"
API_NUMBERS = "api.numbers"
API_WEBHOOKS = "api.webhooks"
API_IDEMPOTENCY = "api.idempotency"
API_TOPICS: tuple[str, ...] = (API_ACCOUNTS, API_AGENTS, API_NUMBERS, API_WEBHOOKS, API_IDEMPOTENCY)

# How long an Idempotency-Key's first answer is kept, on the topic and in the API's memory.
IDEMPOTENCY_RETENTION_MS = 86_400_000

# The largest message any topic takes and any producer of ours sends (topic
# max.message.bytes, producer message.max.bytes): set explicitly, not the broker's default.
MAX_MESSAGE_BYTES = 1_048_576
# What one contact batch may weigh (its encoded value): ingest cuts batches by it, well
# under MAX_MESSAGE_BYTES so the batch framing and the key always fit.
CONTACT_BATCH_MAX_BYTES = 900_000
# What one value our own code writes whole may weigh (a create command, a state row on the
# worker's changelog): room is left under MAX_MESSAGE_BYTES for its key and the framing.
VALUE_MAX_BYTES = MAX_MESSAGE_BYTES - 16_384

# Partitions of every account-keyed topic unless the settings say otherwise.
DEFAULT_PARTITIONS = 6

# The topics the engine agent reads together; they must co-partition (by account).
ENGINE_INPUTS: tuple[str, ...] = (COMMANDS, CONTACTS, TICKS, OUTCOMES, INBOUND)


@dataclass(frozen=True)
class TopicSpec:
    """One topic as the project creates and uses it."""

    logical: str
    name: str
    partitions: int
    replication: int
    cleanup_policy: str
    schema: str
    key: str
    account_keyed: bool  # keyed by account_id, partitions like the engine's inputs
    config: dict[str, str] = field(default_factory=dict)

    def kafka_config(self) -> dict[str, str]:
        """Topic-level configs passed at creation."""
        return {
            "cleanup.policy": self.cleanup_policy,
            "max.message.bytes": str(MAX_MESSAGE_BYTES),
            **self.config,
        }


# logical name -> (schema, key field, cleanup policy, account keyed, extra configs)
_TOPICS: dict[str, tuple[str, str, str, bool, dict[str, str]]] = {
    COMMANDS: ("CampaignCommand", "account_id", "delete", True, {}),
    CONTACTS: ("ContactBatch", "account_id", "delete", True, {}),
    # A tick is produced to an explicit partition (one per partition, key = its number);
    # only useful while fresh: keep an hour.
    TICKS: ("Tick", "partition", "delete", True, {"retention.ms": str(3_600_000)}),
    OUTCOMES: ("CallOutcome", "account_id", "delete", True, {}),
    CALL_CREATE: ("CallCreate", "account_id", "delete", True, {}),
    EVENTS: ("CampaignEvent", "account_id", "delete", True, {}),
    DNC: ("DncEntry", "number", "compact", False, {}),
    ACCOUNT_STATUS: ("AccountStatus", "account_id", "compact", False, {}),
    INBOUND: ("InboundCall", "account_id", "delete", True, {}),
    # The dialers' record of placed calls: on the partition number of the call's call.create
    # message (co-partitioned), keyed by "<account_id>/<call_id>" (call ids are unique per
    # account only), compacted; forgotten after 7 days.
    PLACED: (
        "CallPlaced",
        "account_id/call_id",
        "compact,delete",
        True,
        {"retention.ms": str(7 * 86_400_000), "min.compaction.lag.ms": str(60_000)},
    ),
    # Written by the sink (ClickHouse's only writer, which judges there), read by the API's webhook
    # dispatcher: a few records a day per account; keep a week like the placed calls.
    CALLER_ID_HEALTH: (
        "CallerIdHealth",
        "account_id",
        "delete",
        True,
        {"retention.ms": str(7 * 86_400_000)},
    ),
    # Parked messages are evidence: keep them four weeks.
    DEADLETTER: ("DeadLetter", "topic", "delete", False, {"retention.ms": str(28 * 86_400_000)}),
    API_ACCOUNTS: ("ApiRecord", "account_id/id", "compact", False, {}),
    API_AGENTS: ("ApiRecord", "account_id/id", "compact", False, {}),
    API_NUMBERS: ("ApiRecord", "account_id/id", "compact", False, {}),
    API_WEBHOOKS: ("ApiRecord", "account_id/id", "compact", False, {}),
    # A repeated Idempotency-Key answers the first answer for a day, then compaction forgets it.
    API_IDEMPOTENCY: (
        "ApiRecord",
        "account_id/id",
        "compact,delete",
        False,
        {"retention.ms": str(IDEMPOTENCY_RETENTION_MS)},
    ),
}

LOGICAL_NAMES: tuple[str, ...] = tuple(_TOPICS)


def account_key(account_id: str) -> bytes:
    """The Kafka key of every account-keyed record: the account id, for the default partitioner."""
    if not account_id:
        raise ValueError("a record of an account-keyed topic needs its account_id")
    return account_id.encode()


def topic_name(logical: str, prefix: str) -> str:
    """The real Kafka name of a logical topic (prefix + logical name)."""
    if logical not in _TOPICS:
        raise KeyError(f"unknown topic {logical!r}; known: {', '.join(_TOPICS)}")
    return prefix + logical


def group_id(base: str, prefix: str) -> str:
    """A service's consumer group under a topic prefix: `base-<prefix>` (`base` without one).

    Stacks on one broker under different prefixes never share a group: the dialer's static
    member id (its dialer id, `dialer-<hostname>` by default) would fence the other's.
    """
    return base + (f"-{prefix.strip('.-_')}" if prefix else "")


def min_insync_replicas(replication: int) -> int:
    """In-sync replicas an acks=all write needs: 2 from 3 replicas on (one node may be down)."""
    return 2 if replication >= 3 else 1


@dataclass(frozen=True)
class Topics:
    """The topic layout of one deployment: prefix, partitions and replication of every topic.

    Built once by the command line from the settings and handed to the shells, so no
    topic name depends on a global read somewhere below.
    """

    prefix: str = ""
    partitions: int = DEFAULT_PARTITIONS
    replication: int = 1

    def name(self, logical: str) -> str:
        return topic_name(logical, self.prefix)

    def names(self) -> dict[str, str]:
        """logical -> real name of every topic."""
        return {logical: self.name(logical) for logical in LOGICAL_NAMES}

    def catalogue(self) -> dict[str, TopicSpec]:
        """Every topic, keyed by logical name."""
        durability = {"min.insync.replicas": str(min_insync_replicas(self.replication))}
        out: dict[str, TopicSpec] = {}
        for logical, (schema, key, cleanup, keyed, extra) in _TOPICS.items():
            out[logical] = TopicSpec(
                logical=logical,
                name=self.name(logical),
                partitions=self.partitions,
                replication=self.replication,
                cleanup_policy=cleanup,
                schema=schema,
                key=key,
                account_keyed=keyed,
                config={**durability, **extra},
            )
        return out

    def spec(self, logical: str) -> TopicSpec:
        """One topic's spec by logical name."""
        self.name(logical)  # validates the name
        return self.catalogue()[logical]


def catalogue(
    prefix: str, partitions: int = DEFAULT_PARTITIONS, replication: int = 1
) -> dict[str, TopicSpec]:
    """Every topic of the layout `Topics(prefix, partitions, replication)`."""
    return Topics(prefix, partitions, replication).catalogue()


def spec(
    logical: str, prefix: str, partitions: int = DEFAULT_PARTITIONS, replication: int = 1
) -> TopicSpec:
    """One topic's spec by logical name."""
    return Topics(prefix, partitions, replication).spec(logical)
