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
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, cast

from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import TRANSPORTS
from faust.transport.drivers import aiokafka as driver
from mode import Service, ServiceT

YIELD_EVERY = 100  # messages handed over between two yields to the event loop, as in Faust
BUSY_FETCH_WAIT_MS = 10  # longest wait of a fetch that leaves a buffered partition out
IDLE_FETCH_WAIT_MS = 500  # ... of a fetch of every partition


class IdempotentProducer(driver.Producer):
    def _settings_extra(self) -> Mapping[str, Any]:
        return {**super()._settings_extra(), "acks": "all", "enable_idempotence": True}


class ConsumerThread(driver.AIOKafkaConsumerThread):
    _patched: Any = None

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


class Consumer(driver.Consumer):
    #: topic -> synchronous hand-over of a message; False sends it the conductor's way.
    handovers: dict[str, Callable[[Any], bool]] | None = None

    def _new_consumer_thread(self) -> driver.AIOKafkaConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

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
