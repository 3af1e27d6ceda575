"""A dialer taking over a partition settles the calls its predecessor placed and never
reported: it asks the adapter (`lookup`) what became of each, and reports it."""

from __future__ import annotations

import asyncio
import logging

from dialer import metrics
from dialer.adapter import ENDED, IN_PROGRESS, UNKNOWN, Adapter, Lookup, lookup_of
from dialer.calls import failed, now_ms
from dialer.placed import PlacedCall
from dialer.publisher import Publisher

log = logging.getLogger(__name__)


class Reconciler:
    """One asyncio task per call placed and never reported, until it is reported."""

    def __init__(self, adapter: Adapter, publisher: Publisher, poll_seconds: float) -> None:
        self.adapter = adapter
        self.publisher = publisher
        self.poll_seconds = poll_seconds
        self.tasks: dict[str, asyncio.Task[None]] = {}

    def __contains__(self, key: str) -> bool:
        return key in self.tasks

    def start(self, placed: PlacedCall) -> None:
        """Reconcile a call (once: a call already being reconciled is left to its task)."""
        key = placed.call.key
        if key not in self.tasks:
            self.tasks[key] = asyncio.ensure_future(self._reconcile(placed))

    def cancel(self, key: str) -> bool:
        """Stop reconciling a call (its outcome came another way); False if it was not."""
        task = self.tasks.pop(key, None)
        if task is None:
            return False
        task.cancel()
        return True

    def cancel_all(self) -> None:
        for task in list(self.tasks.values()):
            task.cancel()

    async def _reconcile(self, placed: PlacedCall) -> None:
        """Ask the adapter what became of a call placed before and never reported; report it.

        Ended: its outcome. Silent: nothing (the engine times it out). In progress: asked
        again until it ends or its deadline passes (then the engine times it out). Unknown,
        no `lookup`, or the adapter cannot say after 3 tries: `failed`, cause `dialer_lost`.
        """
        call = placed.call
        try:
            while True:
                result = await self._ask(placed)
                if result.state == IN_PROGRESS and now_ms() < call.deadline:
                    wait = self.poll_seconds
                    if result.ends_at_ms is not None:
                        wait = max(0.0, (min(result.ends_at_ms, call.deadline) - now_ms()) / 1000)
                    await asyncio.sleep(wait)
                    continue
                self._report(placed, result)
                return
        finally:
            self.tasks.pop(call.key, None)

    async def _ask(self, placed: PlacedCall) -> Lookup:
        """The adapter's answer; UNKNOWN without `lookup` or after 3 failed tries."""
        look = lookup_of(self.adapter)
        if look is None:
            return Lookup(UNKNOWN)
        errors = 0
        while True:
            try:
                return await look(placed.call, placed.placed_at)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                errors += 1
                log.warning("lookup of %s failed (%d): %s", placed.call.call_id, errors, exc)
                if errors >= 3:
                    return Lookup(UNKNOWN)
                await asyncio.sleep(self.poll_seconds)

    def _report(self, placed: PlacedCall, result: Lookup) -> None:
        metrics.RECONCILED.labels(result.state).inc()
        call, partition = placed.call, placed.partition
        if result.state == ENDED and result.outcome is not None:
            self.publisher.outcome(call, result.outcome, partition)
        elif result.state == UNKNOWN:
            cause = (
                f"dialer_lost: placed by {placed.dialer_id} through {placed.adapter},"
                " which has no record of it"
            )
            self.publisher.outcome(call, failed(cause), partition)
        else:  # silent, or still in progress at its deadline: the engine times it out
            self.publisher.to_report.append((call, partition))
