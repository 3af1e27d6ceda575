"""The due index: which campaigns of a partition need a step at a tick.

A heap of (next wake-up, campaign key) per partition (`campaigns.store.campaign_key`:
campaign ids are per account), with the current wake-up of each campaign in a dict so
superseded heap entries are skipped when popped. A tick pops only what is due, so its
cost follows the campaigns with something to do, not the partition's size. The index
lives in memory and is rebuilt from the state table (one scan of the campaign records)
the first time a partition is handled after an assignment.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable


class DueIndex:
    def __init__(self) -> None:
        self._heaps: dict[int, list[tuple[int, str]]] = {}
        self._wake_us: dict[str, int] = {}
        self.built: set[int] = set()

    def build(self, partition: int, wakes: Iterable[tuple[str, int | None]]) -> None:
        heap: list[tuple[int, str]] = []
        for key, wake_us in wakes:
            if wake_us is not None:
                heap.append((wake_us, key))
                self._wake_us[key] = wake_us
        heapq.heapify(heap)
        self._heaps[partition] = heap
        self.built.add(partition)

    def set(self, partition: int, key: str, wake_us: int | None) -> None:
        if wake_us is None:
            self._wake_us.pop(key, None)
            return
        if self._wake_us.get(key) == wake_us:
            return
        self._wake_us[key] = wake_us
        heapq.heappush(self._heaps.setdefault(partition, []), (wake_us, key))

    def pop_due(self, partition: int, now_us: int) -> list[str]:
        heap = self._heaps.get(partition)
        due: list[str] = []
        while heap and heap[0][0] <= now_us:
            wake_us, key = heapq.heappop(heap)
            if self._wake_us.get(key) == wake_us:
                del self._wake_us[key]
                due.append(key)
        return due

    def next_wake_us(self, key: str) -> int | None:
        return self._wake_us.get(key)

    def size(self, partition: int) -> int:
        return len(self._heaps.get(partition, ()))

    def reset(self) -> None:
        self._heaps.clear()
        self._wake_us.clear()
        self.built.clear()
