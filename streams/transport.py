"""Faust's aiokafka transport with an idempotent producer and a cheaper fetch loop (`cfkafka://`).

Faust only turns idempotence on inside its exactly-once mode, which the worker does not
use (it has open bugs; correctness comes from the engine's idempotency instead).
Idempotence keeps retried batches from being written twice or out of order.

Faust's consumer hands each fetched message to the conductor inside `wait_first`,
racing it against the flow-suspended event: four tasks and an `asyncio.wait` per
message, and several event-loop turns, each of which may run a whole agent batch. At a
few hundred messages a second that loop, not the engine, set the worker's pace. Here a
message is awaited directly while the flow runs, and through `wait_first` as before
once the flow is suspended (a rebalance), so a suspended flow still drops the message
instead of blocking on it. Otherwise the loop is Faust 0.15.3's own.

Messages of the engine's input topics skip the conductor altogether when the agent has
installed a hand-over for them (`Consumer.handovers`): the conductor's per-message lock,
flow-control and producer-buffer awaits, decode into an Event and pressure callbacks cost
more than the agent's own work on a message. A hand-over takes a message only while the
flow runs and its queue has room; otherwise the message goes the conductor's way.

Faust also fixes the consumer's fetch wait at 1.5 s. aiokafka keeps one fetch in flight
per broker and leaves a partition out of it while records of that partition are still
buffered; the fetch then waits for the OTHER (idle) partitions, and outcomes arriving
meanwhile waited up to the next tick, about a second. So a fetch that leaves a partition
out (records of it still buffered) waits at most BUSY_FETCH_WAIT_MS; a fetch of every
partition returns as soon as any has data, so it may wait IDLE_FETCH_WAIT_MS, which
spares an idle worker a hundred fetches a second.

The group coordinator's answers renew the worker's lease (`streams.lease`): each
Heartbeat, JoinGroup or SyncGroup request answered as a member is reported to
`Consumer.on_member` with the time it was sent (`watch_membership`), from the consumer
thread, whose event loop keeps heartbeating while the worker's loop runs a long step.

Two holes of Faust 0.15.3 lost records the broker had acknowledged, while a worker settled
its partitions (join, rebalance, table recovery), on partitions nobody had committed an
offset of yet (a new campaign's create: its start was then refused as "unknown campaign"):

- The fetch was handed Faust's live set of active partitions, which the rebalance and the
  recovery change while the fetch waits in the consumer thread. When it woke to an empty
  set, aiokafka read "no filter" and consumed every buffered record (paused stream
  partitions included); Faust then yielded only those in the set as it was by then, and
  the rest were gone: the fetch position had moved past them. Here a fetch gets a private
  copy of the set, and the records are filtered by that same copy.
- Records consumed but not delivered (the flow stopped, the generation changed) are read
  again because the recovery seeks every stream partition back to its committed offset;
  aiokafka's `seek_to_committed` leaves a partition WITHOUT one where the fetcher is, past
  them. Here such a partition goes back to its beginning (`auto_offset_reset` earliest, as
  a new group starts): a replay, which the engine's idempotency makes harmless.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Mapping, Set
from typing import Any, cast

from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import TRANSPORTS
from faust.transport.drivers import aiokafka as driver
from mode import Service, ServiceT

YIELD_EVERY = 100  # messages handed over between two yields to the event loop, as in Faust
BUSY_FETCH_WAIT_MS = 10  # longest wait of a fetch that leaves a buffered partition out
IDLE_FETCH_WAIT_MS = 500  # ... of a fetch of every partition
# Heartbeat, JoinGroup, SyncGroup: a member's requests, each of which resets its session.
MEMBERSHIP_API_KEYS = frozenset({12, 11, 14})
ANSWERED_AS_MEMBER = frozenset({0, 27})  # no error; rebalance in progress (still a member)


def watch_membership(
    coordinator: Any, on_member: Callable[[], Callable[[float], None] | None]
) -> None:
    """Wraps an aiokafka group coordinator's `_send_req`: each membership request answered
    as a member is reported to `on_member()` (read at each answer) with its send time."""
    send = coordinator._send_req

    async def send_req(request: Any) -> Any:
        sent_at = time.monotonic()
        response = await send(request)
        report = on_member()
        if (
            report is not None
            and getattr(request, "API_KEY", None) in MEMBERSHIP_API_KEYS
            and getattr(response, "error_code", None) in ANSWERED_AS_MEMBER
        ):
            report(sent_at)
        return response

    coordinator._send_req = send_req


class IdempotentProducer(driver.Producer):
    def _settings_extra(self) -> Mapping[str, Any]:
        return {**super()._settings_extra(), "acks": "all", "enable_idempotence": True}


class ConsumerThread(driver.AIOKafkaConsumerThread):
    _patched: Any = None

    async def on_start(self) -> None:
        await super().on_start()  # creates and starts the aiokafka consumer and its coordinator
        parent = cast(Consumer, self.consumer)
        watch_membership(self._ensure_consumer()._coordinator, lambda: parent.on_member)

    async def _fetch_records(self, consumer: Any, *args: Any, **kwargs: Any) -> Any:
        fetcher = consumer._fetcher
        if self._patched is not fetcher:  # once per fetcher (one per consumer start)
            self._patched = fetcher
            actions = fetcher._get_actions_per_node

            def wait_by_buffer(assignment: Any) -> Any:
                # Read by the fetcher when it builds each fetch request.
                buffered = bool(fetcher._records)
                fetcher._fetch_max_wait_ms = BUSY_FETCH_WAIT_MS if buffered else IDLE_FETCH_WAIT_MS
                return actions(assignment)

            fetcher._get_actions_per_node = wait_by_buffer
        return await super()._fetch_records(consumer, *args, **kwargs)

    async def seek_to_committed(self) -> Mapping[Any, int]:
        return cast(Mapping[Any, int], await self.call_thread(self._seek_to_committed))

    async def _seek_to_committed(self) -> Mapping[Any, int]:
        """aiokafka's seek, and a partition with no committed offset back to its beginning.

        Changelog partitions are left alone: the tables seek those to their own offsets.
        """
        consumer = self._ensure_consumer()
        committed: Mapping[Any, int] = await consumer.seek_to_committed()
        parent = cast(Consumer, self.consumer)
        fresh = [tp for tp, offset in committed.items() if not offset]
        fresh = [tp for tp in fresh if not parent._is_changelog_tp(tp)]
        if fresh:
            await consumer.seek_to_beginning(*fresh)
        return committed


class Consumer(driver.Consumer):
    #: topic -> synchronous hand-over of a message; False sends it the conductor's way.
    handovers: dict[str, Callable[[Any], bool]] | None = None
    #: told the send time of each membership request the coordinator answered (the lease)
    on_member: Callable[[float], None] | None = None

    #: the copy of the active partitions the fetch in progress was given (nobody changes it)
    _fetching: Set[Any] | None = None

    def _new_consumer_thread(self) -> driver.AIOKafkaConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def _getmany(self, active_partitions: Set[Any] | None, timeout: float) -> Any:
        # The set is Faust's own, changed by the rebalance while the fetch waits.
        fetching = set(active_partitions) if active_partitions is not None else None
        self._fetching = fetching
        return await super()._getmany(fetching, timeout)

    async def _wait_next_records(self, timeout: float) -> Any:
        """Faust's wait, with the records filtered by the same partitions they were fetched for."""
        self._fetching = None
        records, active_partitions = await super()._wait_next_records(timeout)
        if self._fetching is not None:
            active_partitions = self._fetching
        return records, active_partitions

    async def _drain_messages(self, fetcher: ServiceT) -> None:  # pragma: no cover
        callback = self.callback
        getmany = self.getmany
        consumer_should_stop = cast(Service, self)._stopped.is_set
        fetcher_should_stop = cast(Service, fetcher)._stopped.is_set
        flow_suspended = self.suspend_flow.is_set

        get_read_offset = self._read_offset.__getitem__
        set_read_offset = self._read_offset.__setitem__
        set_flag = self.diag.set_flag
        unset_flag = self.diag.unset_flag
        commit_every = self._commit_every
        acks_enabled_for = self.app.topics.acks_enabled_for
        since_yield = 0

        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                set_flag(CONSUMER_FETCHING)
                ait = cast(AsyncIterator[Any], getmany(timeout=1.0))
                await self.sleep(0)
                if not self.should_stop:
                    async for tp, message in ait:
                        since_yield += 1
                        if since_yield > YIELD_EVERY:
                            await asyncio.sleep(0)
                            since_yield = 0
                        offset = message.offset
                        r_offset = get_read_offset(tp)
                        if r_offset is None or offset >= r_offset:
                            gap = offset - (r_offset or 0)
                            if gap > 1 and r_offset and acks_enabled_for(message.topic):
                                await self._add_gap(tp, r_offset + 1, offset)
                            if commit_every is not None and self._n_acked >= commit_every:
                                self._n_acked = 0
                                await self.commit()
                            handovers = self.handovers
                            handover = handovers.get(message.topic) if handovers else None
                            if flow_suspended():
                                await self.wait_first(callback(message), self.suspend_flow.wait())
                            elif handover is None or not handover(message):
                                await callback(message)
                            set_read_offset(tp, offset)
                    unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            unset_flag(CONSUMER_FETCHING)


class Transport(driver.Transport):
    Consumer = Consumer
    Producer = IdempotentProducer


TRANSPORTS.aliases["cfkafka"] = f"{__name__}:Transport"
