"""Caller-ID health announcements: the sink tells the API which numbers became degraded.

ClickHouse judges the numbers (v_caller_id_health, migration 0007); the sink, its only
writer, asks it after a flush (every `CHECK_EVERY_S` at most, the first one period after
the sink started) which (account, campaign, caller ID) are degraded and not announced yet
(caller_id_announced, migration 0009),
publishes one CallerIdHealth record each on caller_id.health (keyed by account), and
records those the broker acknowledged as announced. So a number is announced once, a
restart does not announce it again, and a crash between the two steps announces it again
with the same event id (the webhook receiver drops the repeat). No number in a log line.

The check reads every finished call (v_calls, twice), so it takes longer as history grows
(0.1-0.9 s at 50-300k calls on the 2-core machine). It runs in its own thread with its
own ClickHouse client (`start`): the consumer loop goes on fetching and the flusher goes
on inserting meanwhile. (On the consumer thread, under the writer's lock, the first check
came right after the sink's first flush and held up the next insert for its whole length:
the sink benchmark's ratio fell from 0.82 to 0.64, issue 26.)
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, Protocol

from campaigns.privacy import mask_numbers_in
from sinks.dsn import is_embedded, open_client
from topics import catalogue
from topics.codec import Codec

log = logging.getLogger("sinks.consumer")

# A spam label shows over days: a minute's delay costs nothing (the first check too, a
# minute after the sink started), and the check (about 0.4 s over 100k calls, in its own
# thread) takes under 1% of the sink's time.
CHECK_EVERY_S = 60.0
ANNOUNCED = "caller_id_announced"
EVENT = "CallerIdHealth"
WAIT_ACK_S = 30.0
# Newly degraded numbers announced per check at most; the next check takes the rest.
MAX_PER_CHECK = 1000

DEGRADED_SQL = f"""
SELECT toString(account_id), toString(campaign_id), toString(caller_id), recent_calls,
       recent_answer_rate, campaign_median_answer_rate
FROM v_caller_id_health
WHERE degraded
  AND (toString(account_id), toString(campaign_id), toString(caller_id)) NOT IN (
      SELECT toString(account_id), toString(campaign_id), caller_id
      FROM {ANNOUNCED} WHERE degraded)
ORDER BY account_id, campaign_id, caller_id
LIMIT {MAX_PER_CHECK}
"""
ANNOUNCED_COLUMNS = (
    "account_id",
    "campaign_id",
    "caller_id",
    "degraded",
    "event_id",
    "recent_calls",
    "recent_answer_rate",
    "campaign_median_answer_rate",
    "announced_at",
)


class HealthProducer(Protocol):
    """What the announcer needs of a producer (the sink's TrackedProducer)."""

    def produce(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | str | None = None,
        partition: int | None = None,
        on_delivery: Any = None,
    ) -> None: ...

    def flush(self, timeout_s: float = 60.0) -> int: ...


def event_id(account: str, campaign: str, caller_id: str, degraded: bool) -> str:
    """Deterministic: the same judgement of the same number gives the same id. Hashed, so
    the id (which logs and the console's delivery list show) carries no phone number."""
    judged = "degraded" if degraded else "healthy"
    digest = hashlib.sha256(f"{account}/{campaign}/{caller_id}/{judged}".encode()).hexdigest()
    return f"cid-{digest[:32]}"


def record(row: tuple[Any, ...], at_ms: int) -> dict[str, Any]:
    """The CallerIdHealth record of one degraded row of DEGRADED_SQL."""
    account, campaign, caller_id, calls, rate, median = row
    return {
        "event_id": event_id(account, campaign, caller_id, True),
        "account_id": account,
        "campaign_id": campaign,
        "caller_id": caller_id,
        "degraded": True,
        "recent_calls": int(calls),
        "recent_answer_rate": float(rate),
        "campaign_median_answer_rate": float(median),
        "at": datetime.fromtimestamp(at_ms / 1000, UTC),
    }


def _acked_into(acked: set[str], eid: str) -> Callable[[Any, Any], None]:
    """A delivery report adding `eid` to `acked` when the broker took the message."""

    def delivered(err: Any, msg: Any) -> None:
        if err is None:
            acked.add(eid)

    return delivered


class CallerIdAnnouncer:
    """Announces newly degraded caller IDs; `start` (or `maybe_check`) after each flush."""

    def __init__(
        self,
        topic: str,
        codec: Codec,
        every_s: float = CHECK_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.topic = topic
        self.codec = codec
        self.every_s = every_s
        self.clock = clock
        self._last = clock()  # the period starts with the sink: no check at its first flush
        self._dirty = False  # outcomes went in since the last check
        self.announced = 0
        self.checks = 0  # checks that ran to the end (announcing or not)
        self._executor: ThreadPoolExecutor | None = None
        self._running: Future[int] | None = None
        self._client: Any = None  # the check thread's own ClickHouse client
        self._client_lock = threading.Lock()

    def outcomes_flushed(self) -> None:
        self._dirty = True

    def due(self) -> bool:
        """Outcomes went in since the last check, and it was `every_s` ago or more."""
        return self._dirty and self.clock() - self._last >= self.every_s

    def maybe_check(self, client: Any, producer: HealthProducer) -> int:
        """`check` if `due`, here and now; never raises (the sink goes on; the next check,
        `every_s` later, tries again). How many numbers were announced."""
        if not self.due():
            return 0
        self._begin()
        return self._checked(client, producer)

    def _begin(self) -> None:
        """A check starts: the next one is `every_s` later, for outcomes flushed from now."""
        self._last = self.clock()
        self._dirty = False

    def _checked(self, client: Any, producer: HealthProducer) -> int:
        try:
            return self.check(client, producer)
        except Exception as exc:
            self._dirty = True
            # An error may quote a value: the numbers in it are masked.
            reason = mask_numbers_in(str(exc)) or type(exc).__name__
            log.warning("caller-ID health check failed (%s); the next check tries again", reason)
            return 0

    def start(self, dsn: str, producer: HealthProducer) -> bool:
        """Start a check in the announcer's thread if `due` and none is running (the
        sink's loop, after each turn). Whether one started."""
        if (self._running is not None and not self._running.done()) or not self.due():
            return False
        self._begin()
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="sink-health")
        self._running = self._executor.submit(self._check_own, dsn, producer)
        return True

    def _check_own(self, dsn: str, producer: HealthProducer) -> int:
        """A check on the thread's own client (opened once; a server's dropped on failure)."""
        try:
            with self._client_lock:
                if self._client is None:
                    self._client = open_client(dsn)
                client = self._client
        except Exception as exc:
            self._dirty = True
            log.warning("caller-ID health check: no ClickHouse client (%s); tried again", exc)
            return 0
        checks = self.checks
        announced = self._checked(client, producer)
        if self.checks == checks and not is_embedded(dsn):
            self._close_client()  # failed: a new connection next time
        return announced

    def _close_client(self) -> None:
        with self._client_lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def shutdown(self) -> None:
        """Wait for a check in flight, then close the thread's client (the sink stops)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        self._close_client()

    def check(self, client: Any, producer: HealthProducer) -> int:
        """Publish each degraded number not announced yet; remember those acknowledged."""
        rows = client.query(DEGRADED_SQL).result_rows
        if not rows:
            self.checks += 1
            return 0
        at_ms = int(time.time() * 1000)
        records = [record(tuple(r), at_ms) for r in rows]
        acked: set[str] = set()
        for rec in records:
            producer.produce(
                self.topic,
                self.codec.encode(EVENT, rec),
                catalogue.account_key(rec["account_id"]),
                on_delivery=_acked_into(acked, rec["event_id"]),
            )
        producer.flush(WAIT_ACK_S)
        done = [r for r in records if r["event_id"] in acked]
        if done:
            rows = [
                [r["at"] if c == "announced_at" else r[c] for c in ANNOUNCED_COLUMNS] for r in done
            ]
            client.insert(ANNOUNCED, rows, column_names=list(ANNOUNCED_COLUMNS))
        if len(done) < len(records):
            self._dirty = True  # not acknowledged: the next check publishes them again
        self.announced += len(done)
        self.checks += 1
        log.info(
            "caller-ID health: %d degraded number(s) announced, %d not acknowledged (retried)",
            len(done),
            len(records) - len(done),
        )
        return len(done)
