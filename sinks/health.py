"""Caller-ID health announcements: the sink tells the API which numbers became degraded.

ClickHouse judges the numbers (v_caller_id_health, migration 0007); the sink, its only
writer, asks it after a flush (at most every `CHECK_EVERY_S`) which (account, campaign,
caller ID) are degraded and not announced yet (caller_id_announced, migration 0009),
publishes one CallerIdHealth record each on caller_id.health (keyed by account), and
records those the broker acknowledged as announced. So a number is announced once, a
restart does not announce it again, and a crash between the two steps announces it again
with the same event id (the webhook receiver drops the repeat). No number in a log line.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from campaigns.privacy import mask_numbers_in
from topics import catalogue
from topics.codec import Codec

log = logging.getLogger("sinks.consumer")

# A spam label shows over days: a minute's delay costs nothing, and the check (about 0.4 s
# over 100k calls, on the sink's thread) then takes under 1% of the sink's time.
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
    """Announces newly degraded caller IDs; `maybe_check` after each flush of the sink."""

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
        self._last: float | None = None
        self._dirty = False  # outcomes went in since the last check
        self.announced = 0
        self.checks = 0  # checks that ran to the end (announcing or not)

    def outcomes_flushed(self) -> None:
        self._dirty = True

    def due(self) -> bool:
        """Outcomes went in since the last check, and it was `every_s` ago or more."""
        return self._dirty and (self._last is None or self.clock() - self._last >= self.every_s)

    def maybe_check(self, client: Any, producer: HealthProducer) -> int:
        """`check` if `due`; never raises (the sink goes on; the next check, `every_s`
        later, tries again). How many numbers were announced."""
        if not self.due():
            return 0
        self._last = self.clock()
        self._dirty = False
        try:
            return self.check(client, producer)
        except Exception as exc:
            self._dirty = True
            # An error may quote a value: the numbers in it are masked.
            reason = mask_numbers_in(str(exc)) or type(exc).__name__
            log.warning("caller-ID health check failed (%s); the next check tries again", reason)
            return 0

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
