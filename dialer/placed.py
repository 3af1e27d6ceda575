"""The dialers' shared record of placed calls: the compacted topic `call.placed`.

Why: `call:create` can arrive twice (replays, engine restarts, a partition moving to
another dialer before its offsets were committed); a call must be placed once. The
record lives where the partition's next owner reads it, as Kafka Streams keeps a store
in its changelog: one message per call (keyed `<account_id>/<call_id>`: call ids are
unique per account only), on the partition number of the call's
`call.create` message (the topics co-partition), written `dialing` and acknowledged by
the brokers *before* the adapter is called, written `reported` once the call's outcome
is acknowledged. On assignment a dialer reads each partition's record to its end
before it dials: ids it lists are dropped, and `dialing` ones are the calls the
predecessor placed and never reported, which the dialer reconciles.

In memory: call key (`dialer.calls.call_key`) -> state, the oldest `reported` ones
forgotten past `max_size` (the topic forgets after its retention). The map is an
`OrderedDict`: its oldest key is one link away. A plain dict's iteration starts at its
first slot and walks past every entry deleted since its last resize, so forgetting the
oldest key of a full dict cost O(max_size) a call (a 1M-contact run: the dialer's CPU a
call 3x its 100k figure).
"""

from __future__ import annotations

import logging
import uuid
from collections import OrderedDict
from itertools import islice
from typing import Any, NamedTuple

from dialer.calls import Call, call_key
from topics.codec import Codec, DecodeError
from topics.consumer import TopicConsumer
from topics.producer import TrackedProducer

log = logging.getLogger(__name__)
EVENT = "CallPlaced"
DIALING = "dialing"
REPORTED = "reported"


class PlacedCall(NamedTuple):
    """A `dialing` entry of the record: enough to ask the adapter about the call again
    (a NamedTuple: one is made per call)."""

    call: Call
    partition: int
    placed_at: int  # epoch millis
    dialer_id: str
    adapter: str


def call_from_record(record: dict[str, Any]) -> Call:
    """The Call a CallPlaced record describes (no prompt or variables: not needed any more)."""
    return Call(
        call_id=record["call_id"],
        campaign_id=record["campaign_id"],
        account_id=record["account_id"],
        contact_id=record["contact_id"],
        attempt=int(record["attempt"]),
        to=record["to"],
        from_=record["from"],
        agent_id=record["agent_id"],
        agent_prompt="",
        created_at=int(record["created_at"]),
        deadline=int(record["deadline"]),
        placed_at=int(record["placed_at"]),
    )


class PlacedRecord:
    """Writes and restores the record of one dialer's partitions (see module doc)."""

    def __init__(
        self,
        producer: TrackedProducer,
        consumer_config: dict[str, Any],
        topic: str,
        codec: Codec,
        dialer_id: str,
        adapter: str,
        max_size: int = 1_000_000,
    ) -> None:
        if max_size < 1:
            raise ValueError("max_size must be >= 1")
        self.producer = producer
        self.topic = topic
        self.codec = codec
        self.dialer_id = dialer_id
        self.adapter = adapter
        self.max_size = max_size
        self._consumer_config = dict(consumer_config)
        self._state: OrderedDict[str, str] = OrderedDict()  # oldest first
        self._dialing: dict[str, PlacedCall] = {}
        self._read_to: dict[int, int] = {}  # partition -> next offset to read on restore

    def __contains__(self, key: str) -> bool:
        """`key`: a call key (`call_key(account_id, call_id)`)."""
        return key in self._state

    def __len__(self) -> int:
        return len(self._state)

    def known(self, keys: list[str]) -> set[str]:
        """The call keys of `keys` the record lists (placed by this dialer or a predecessor)."""
        state = self._state
        return {c for c in keys if c in state}

    def state(self, key: str) -> str | None:
        return self._state.get(key)

    def dialing_call(self, key: str) -> PlacedCall | None:
        """The `dialing` entry of a call (placed and not yet reported), if any."""
        return self._dialing.get(key)

    # -- writing --------------------------------------------------------------------------

    def _write(self, items: list[tuple[Call, int]], state: str, placed_at: list[int]) -> None:
        """Produce one record per (call, partition), encoded together (one schema lookup)."""
        dialer, adapter = self.dialer_id, self.adapter
        records = [
            {
                "call_id": call.call_id,
                "state": state,
                "campaign_id": call.campaign_id,
                "account_id": call.account_id,
                "contact_id": call.contact_id,
                "attempt": call.attempt,
                "to": call.to,
                "from": call.from_,
                "agent_id": call.agent_id,
                "created_at": call.created_at,
                "deadline": call.deadline,
                "placed_at": at,
                "dialer_id": dialer,
                "adapter": adapter,
            }
            for (call, _p), at in zip(items, placed_at, strict=True)
        ]
        self._produce(items, self.codec.encode_many(EVENT, records), state)

    def _produce(self, items: list[tuple[Call, int]], values: list[bytes], state: str) -> None:
        self.producer.produce_all(
            self.topic,
            [
                (value, call.key.encode("utf-8"), partition)
                for (call, partition), value in zip(items, values, strict=True)
            ],
        )
        set_state = self._set
        for call, _partition in items:
            set_state(call.key, state)

    def dialing(self, items: list[tuple[Call, int]], placed_at: int) -> None:
        """Record that these calls are about to be handed to the adapter (see `wait_acked`)."""
        self._write(items, DIALING, [placed_at] * len(items))
        dialer, adapter, dialing = self.dialer_id, self.adapter, self._dialing
        for call, partition in items:
            dialing[call.key] = PlacedCall(call, partition, placed_at, dialer, adapter)

    def reported(self, items: list[tuple[Call, int]]) -> None:
        """Record that these calls' outcomes are acknowledged (not waited for)."""
        pop = self._dialing.pop
        at = [placed.placed_at if (placed := pop(c.key, None)) else 0 for c, _p in items]
        self._write(items, REPORTED, at)

    def wait_acked(self, timeout_s: float) -> bool:
        """True once every message produced so far is acknowledged (acks=all)."""
        return self.producer.flush(timeout_s) == 0

    def _set(self, key: str, state: str) -> None:
        states = self._state
        states[key] = state
        states.move_to_end(key)  # order is age order
        excess = len(states) - self.max_size
        if excess > 0:
            # Only the oldest `excess` keys are looked at (a list of every key here made
            # each call past max_size cost O(max_size): a 1M-contact run crawled), and
            # reaching them is O(1) in an OrderedDict (see the module doc).
            for old in list(islice(states, excess)):
                if states[old] == REPORTED:
                    del states[old]

    # -- restoring ------------------------------------------------------------------------

    def restore(self, partitions: list[int], idle_seconds: float = 30.0) -> list[PlacedCall]:
        """Read the record of `partitions` to its end; the calls still `dialing` there.

        Reads from where the last restore of a partition stopped (the record only grows),
        so a rebalance that hands a dialer its own partitions back costs little.
        """
        if not partitions:
            return []
        conf = dict(self._consumer_config, **{"group.id": f"placed-restore-{uuid.uuid4().hex}"})
        with TopicConsumer(conf, log) as consumer:
            spans = consumer.spans(self.topic, only=set(partitions))
            for span in spans:  # those read to their end already stay where they are
                self._read_to[span.partition] = max(self._read_to.get(span.partition, 0), span.low)
            reading = [s for s in spans if self._read_to[s.partition] < s.high]
            start = self._read_to.copy()
            for msg in consumer.read_to_end(
                reading, start=lambda s: start[s.partition], idle_seconds=idle_seconds
            ):
                p, offset = int(msg.partition() or 0), int(msg.offset() or 0)
                self._read_to[p] = offset + 1
                self._apply(msg.value(), p)
        wanted = set(partitions)
        return [
            placed
            for key, placed in self._dialing.items()
            if placed.partition in wanted and self._state.get(key) == DIALING
        ]

    def _apply(self, value: bytes | None, partition: int) -> None:
        if value is None:
            return
        try:
            event, rec = self.codec.decode(value, self.topic, partition)
        except DecodeError as exc:
            log.warning("skipping an undecodable record on %s: %s", self.topic, exc)
            return
        if event != EVENT:
            return
        key, state = call_key(rec["account_id"], rec["call_id"]), rec["state"]
        self._set(key, state)
        if state == DIALING:
            self._dialing[key] = PlacedCall(
                call_from_record(rec),
                partition,
                int(rec["placed_at"]),
                rec["dialer_id"],
                rec["adapter"],
            )
        else:
            self._dialing.pop(key, None)
