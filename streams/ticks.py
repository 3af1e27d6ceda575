"""The worker's clock input: the leader publishes one tick per partition per second.

A tick goes to an explicit partition of campaign.ticks (key = its number), so every
partition's campaigns are woken on time even when no other input arrives; every worker
keeps its own due index (`streams.due`) and steps what a tick makes due.
"""

from __future__ import annotations

import time
from typing import Any

import faust

from topics.codec import Codec

TICK_SECONDS = 1.0


class TickSource:
    """Sends the ticks of every partition (run by the leader only, every TICK_SECONDS)."""

    def __init__(self, topic: Any, partitions: int, codec: Codec) -> None:
        self.topic = topic  # the Faust topic of campaign.ticks (raw bytes)
        self.partitions = partitions
        self.codec = codec

    async def tick(self) -> None:
        at_ms = time.time_ns() // 1_000_000
        for p in range(self.partitions):
            value = self.codec.encode("Tick", {"partition": p, "at": at_ms})
            await self.topic.send(key=str(p).encode(), value=value, partition=p)

    def register(self, app: faust.App) -> TickSource:
        app.timer(TICK_SECONDS, on_leader=True, name="campaignflow.tick")(self.tick)
        return self
