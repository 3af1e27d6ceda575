"""Per-account rate limits: a token bucket per (account, what), answered with 429 and Retry-After.

One account must not stall the API for the others (issue 21, item 14): requests per
key, and the costly things (creating agents, numbers, webhooks and campaigns, and the
contacts a forecast simulates) each draw from a bucket of their own. The numbers come
from the command line (`ApiLimits`); the clock is passed in so tests need no waiting.
A bucket that is full again is the same as none: the table forgets those when it grows,
so memory stays bounded by the accounts active within one refill.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from api.exceptions import RateLimited

MAX_BUCKETS = 100_000


@dataclass(frozen=True)
class Rate:
    """`burst` at once, refilled at `per_hour` an hour (0 burst: no limit)."""

    burst: int
    per_hour: float

    @property
    def per_second(self) -> float:
        return self.per_hour / 3600.0


@dataclass(frozen=True)
class ApiLimits:
    """What one account may do; generous defaults, tests set low ones."""

    requests: Rate = Rate(burst=1_200, per_hour=72_000.0)  # 20 a second, 1,200 at once
    creates: Rate = Rate(burst=200, per_hour=2_000.0)  # agents, numbers, webhooks, campaigns
    forecast_contacts: Rate = Rate(burst=1_000_000, per_hour=2_000_000.0)
    max_webhooks: int = 20

    @classmethod
    def hourly(
        cls, requests: int, creates: int, forecast_contacts: int, max_webhooks: int
    ) -> ApiLimits:
        """Limits from hourly numbers (the settings); each allows a share of it at once."""
        return cls(
            requests=Rate(burst=max(requests // 60, 1) if requests else 0, per_hour=requests),
            creates=Rate(burst=max(creates // 10, 1) if creates else 0, per_hour=creates),
            forecast_contacts=Rate(
                burst=forecast_contacts // 2 if forecast_contacts else 0,
                per_hour=forecast_contacts,
            ),
            max_webhooks=max_webhooks,
        )


class Limiter:
    """Token buckets keyed by (account, what); thread-safe (routes run in worker threads)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}  # tokens, at

    def take(self, account: str, what: str, rate: Rate, cost: float = 1.0) -> None:
        """Spend `cost` tokens of the account's `what` bucket, or raise RateLimited."""
        if rate.burst <= 0:
            return
        cost = min(cost, float(rate.burst))  # one request at most empties the bucket
        now = self._clock()
        key = (account, what)
        with self._lock:
            tokens, at = self._buckets.get(key, (float(rate.burst), now))
            tokens = min(float(rate.burst), tokens + (now - at) * rate.per_second)
            if tokens < cost:
                self._buckets[key] = (tokens, now)
                raise RateLimited(what, _seconds(cost - tokens, rate))
            self._buckets[key] = (tokens - cost, now)
            if len(self._buckets) > MAX_BUCKETS:
                self._forget_idle(now)

    def _forget_idle(self, now: float) -> None:
        """Drop buckets untouched for an hour (full again at the default rates)."""
        for key, (_, at) in list(self._buckets.items()):
            if now - at >= 3600.0:
                del self._buckets[key]


def _seconds(missing: float, rate: Rate) -> int:
    """Whole seconds until `missing` tokens have come back (at least 1)."""
    if rate.per_second <= 0:
        return 3600
    return max(1, math.ceil(missing / rate.per_second))
