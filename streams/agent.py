"""The engine agent: the worker's one Faust agent (concurrency 1) and what it owns.

It reads the five co-partitioned engine inputs (commands, contacts, outcomes, inbound calls,
ticks) as raw bytes and hands them to `streams.shell.Shell`, which runs the one
`campaigns.engine.Engine`. A batch is whatever waits in the agent's queue when it is
ready for more (up to BATCH_MAX messages or BATCH_BYTES_MAX of values): no timer, so a
lone outcome is stepped at once and a backlog is stepped in a few goes. The byte bound
keeps a step of contact batches (a thousand rows each) short: unbounded, 2,000 of them
were one step of two million contacts, which held the event loop past the worker's lease.
The loop turns between two steps.

Per batch: the outputs go to the `Publisher` at once (record batches, not awaited), the
state changes are sealed, and the `Committer` commits behind the agent: outputs acked,
THEN the changelog run + marker, THEN RocksDB, THEN the input offsets are acked. A
crash anywhere replays inputs against state that never ran ahead of its outputs:
repeated call:create records carry the same call ids, nothing is lost.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from typing import Any

import faust

from campaigns.engine import Engine
from campaigns.state import CampaignState
from streams import metrics
from streams.committer import Committer, Sealed
from streams.directory import AccountFollower, TableDirectory
from streams.lease import Lease
from streams.publish import Publisher
from streams.rocks import AtomicRocksStore
from streams.shell import Incoming, Shell
from streams.tablestore import TableStore
from topics.clients import KafkaSettings
from topics.codec import Codec

log = logging.getLogger(__name__)

BATCH_MAX = 2000
# About 8 contact batches of 1,000 short rows (32 KB each; at 1 MiB a step took 33 of them,
# 2.5-3.3 s under load, and the status page and /metrics waited several steps); 2,000
# outcomes still fit.
BATCH_BYTES_MAX = 256 * 1024
COMMIT_WAITING = 16  # sealed batches that may wait for their commit before the agent waits
# Faust names an agent after its function; the name it always had, kept explicitly.
AGENT_NAME = "streams.app.engine"


class EngineAgent:
    """The agent's body and its parts: the shell (engine + state), publisher and committer.

    The parts are made on first use (`shell`, `publisher`, `committer`): the state
    table's store exists only once the app runs.
    """

    def __init__(
        self,
        app: faust.App,
        *,
        kafka: KafkaSettings,
        prefix: str,
        input_names: list[str],
        state: Any,  # the "state" table (cfrocks:// store)
        dnc: Any,  # the "dnc" global table
        accounts: Any,  # the "accounts" global table
        follower: AccountFollower,
        account_default_active: bool,
        codec: Codec,
        lease: Lease,
    ) -> None:
        self.app = app
        self.kafka = kafka
        self.prefix = prefix
        self.input_names = input_names
        self.state = state
        self.dnc = dnc
        self.accounts = accounts
        self.follower = follower
        self.account_default_active = account_default_active
        self.codec = codec
        self.lease = lease
        self._shell: Shell | None = None
        self._publisher: Publisher | None = None
        self._committer: Committer | None = None
        self.last_offsets: dict[tuple[str, int], int] = {}  # last input offset handled

    # -- parts, made on first use ---------------------------------------------------------

    def _build(self) -> None:
        rocks = self.state.data
        assert isinstance(rocks, AtomicRocksStore), "the state table needs the cfrocks:// store"
        store = TableStore(rocks)
        directory = TableDirectory(
            self.dnc, self.accounts, self.account_default_active, follower=self.follower
        )
        self._publisher = Publisher(self.kafka)
        self._committer = Committer(
            store,
            self._publisher,
            self.state.changelog_topic.get_topic_name(),
            COMMIT_WAITING,
            on_error=self.app.crash,
            consumer=self.app.consumer,
            before_write=self.lease.check,
        )
        self._shell = Shell(Engine(store, directory), store, self.codec, prefix=self.prefix)

    @property
    def started(self) -> bool:
        return self._shell is not None

    @property
    def shell(self) -> Shell:
        if self._shell is None:
            self._build()
        assert self._shell is not None
        return self._shell

    @property
    def publisher(self) -> Publisher:
        if self._publisher is None:
            self._build()
        assert self._publisher is not None
        return self._publisher

    @property
    def committer(self) -> Committer:
        if self._committer is None:
            self._build()
        assert self._committer is not None
        return self._committer

    def committed_campaign(
        self, partition: int, account_id: str, campaign_id: str
    ) -> CampaignState | None:
        """A campaign's committed state (what the status page answers)."""
        return self.shell.store.committed_campaign(partition, account_id, campaign_id)

    # -- the agent ------------------------------------------------------------------------

    async def run(self, stream: Any) -> None:
        """The agent's body: reads its channel's queue itself, one batch at a time.

        Faust's per-event stream machinery (and take_events' timer) cost more than the
        engine step of an outcome.
        """
        # Objects made so far (modules, Faust, tables) live as long as the process: keep them
        # out of the collector's full passes, which otherwise stop the agent 100 ms and more.
        gc.collect()
        gc.freeze()
        channel = aiter(stream.channel)  # subscribes this agent's queue to the topics
        queue = channel.queue
        flow = self.app.flow_control
        consumer: Any = self.app.consumer

        def handover(message: Any) -> bool:
            """The consumer's direct path into this queue (see `streams.transport`)."""
            if not flow.is_active() or queue.full():
                return False  # the conductor's way: it waits, or drops on a revocation
            message.incref()  # acked (decref'd) by the committer, as the conductor would
            queue.put_nowait(message)
            return True

        consumer.handovers = {name: handover for name in self.input_names}
        consumer.on_member = self.lease.confirm  # heartbeats renew the lease (streams.lease)
        while True:
            # Raw messages from the hand-over, Faust events from the conductor's path.
            items = [await queue.get()]
            size = _value_bytes(items[0])
            while len(items) < BATCH_MAX and size < BATCH_BYTES_MAX and not queue.empty():
                item = queue.get_nowait()
                items.append(item)
                size += _value_bytes(item)
            await self.step(items, stream)
            # A step awaits nothing when the queues have room, so without this turn the
            # loop ran steps back to back for seconds (timers, web, the committer waiting).
            await asyncio.sleep(0)

    def _inbound(self, items: list[Any], stream: Any) -> tuple[list[Incoming], list[Any]]:
        """The batch for the shell and the messages to ack; tells Faust's monitor each
        partition's stream is alive."""
        batch = []
        messages = []
        seen: dict[Any, Any] = {}
        for item in items:
            m = getattr(item, "message", item)
            messages.append(m)
            batch.append(Incoming(m.topic, m.partition, m.offset, m.key, m.value))
            seen[m.tp] = item
        sensors = self.app.sensors
        for tp, item in seen.items():
            offset = getattr(item, "message", item).offset
            self.last_offsets[(tp.topic, tp.partition)] = offset
            sensors.on_stream_event_out(
                tp, offset, stream, item, sensors.on_stream_event_in(tp, offset, stream, item)
            )
        return batch, messages

    async def step(self, items: list[Any], stream: Any) -> None:
        """One batch: engine step, outputs published, the sealed batch handed to the committer."""
        started = time.perf_counter()
        batch, messages = self._inbound(items, stream)
        self.lease.check()  # a stalled worker may no longer own these partitions
        sh = self.shell
        out = sh.handle(batch)
        run = sh.store.seal()
        t1 = time.perf_counter()
        try:
            self.lease.check()
            delivered = await self.publisher.publish(out)
            metrics.PUBLISH_SECONDS.observe(time.perf_counter() - t1)
            metrics.BATCH_SECONDS.observe(time.perf_counter() - started)
            await self.committer.submit(Sealed(delivered, run, messages))
        except Exception as exc:
            # State in memory is ahead of what may be committed: stop this worker; its
            # partitions replay from the last commit on the next owner.
            log.exception("engine agent cannot go on")
            await self.app.crash(exc)
            raise

    async def on_revoked(self, sender: Any, revoked: Any, **kwargs: Any) -> None:
        """Partitions move: what was handled is committed first, then the shell forgets."""
        if self.started:
            await self.committer.drain()
            self.shell.forget()

    async def renew_lease(self) -> None:
        self.lease.renew()

    async def report_lag(self) -> None:
        """Consumer lag per input partition (highwater - last handled offset - 1)."""
        consumer = self.app.consumer
        for (topic, partition), offset in list(self.last_offsets.items()):
            tp = faust.types.TP(topic, partition)
            try:
                high = consumer.highwater(tp)
            except Exception:  # partition not assigned any more
                continue
            if high is not None:
                metrics.LAG.labels(topic, str(partition)).set(max(high - offset - 1, 0))


def _value_bytes(item: Any) -> int:
    """Size of a queued raw message or Faust event's value."""
    value = getattr(item, "message", item).value
    return len(value) if value is not None else 0
