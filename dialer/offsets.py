"""Which offsets may be committed: per partition, up to the first message not yet handed off.

Messages finish out of order (calls are concurrent); Kafka commits a position, so the
position of a partition only moves past a message once it and all before it are done.
"""

from __future__ import annotations

from collections import deque


class OffsetTracker:
    """Offsets in flight per (topic, partition) and the position safe to commit."""

    def __init__(self) -> None:
        self._inflight: dict[tuple[str, int], deque[int]] = {}
        self._done: dict[tuple[str, int], set[int]] = {}
        self._ready: dict[tuple[str, int], int] = {}

    def add(self, topic: str, partition: int, offset: int) -> None:
        """A message was read and is being worked on."""
        key = (topic, partition)
        self._inflight.setdefault(key, deque()).append(offset)
        self._done.setdefault(key, set())

    def done(self, topic: str, partition: int, offset: int) -> None:
        """The message is finished with (handed off, skipped or dead-lettered)."""
        key = (topic, partition)
        queue = self._inflight.get(key)
        if queue is None:
            return  # partition revoked meanwhile
        done = self._done[key]
        done.add(offset)
        while queue and queue[0] in done:
            first = queue.popleft()
            done.discard(first)
            self._ready[key] = first + 1

    def take_ready(self) -> dict[tuple[str, int], int]:
        """Positions to commit since the last call (and forget them)."""
        ready, self._ready = self._ready, {}
        return ready

    def restore(self, ready: dict[tuple[str, int], int]) -> None:
        """Put back positions whose commit failed (unless a later one is ready)."""
        for key, position in ready.items():
            if key in self._inflight and self._ready.get(key, -1) < position:
                self._ready[key] = position

    def pending(self) -> int:
        return sum(len(q) for q in self._inflight.values())

    def forget(self, topic: str, partition: int) -> None:
        """Drop a revoked partition."""
        key = (topic, partition)
        self._inflight.pop(key, None)
        self._done.pop(key, None)
        self._ready.pop(key, None)
