"""The webhook dispatcher: campaign.events to each subscribed endpoint of the campaign's account.

It also reads caller_id.health, the sink's announcements of degraded caller IDs
(sinks.health: ClickHouse judges the numbers, and only the sink reads it continuously),
delivered as `caller_id.degraded` through the same queues, guards and offsets (kept per
topic). A separate topic, not a new CampaignEvent branch: campaign.events is the engine's
output (one writer per account, read by the sink into ClickHouse and by the read model),
and an old reader of CampaignEvent could not decode a branch it does not know.

One consumer group across replicas (`campaignflow-webhooks`), so each event is handled by
one replica. Each delivery is POSTed with the event id (`X-Campaignflow-Event-Id`, stable
across replays: the receiver drops repeats) and signed `t=...,v1=...`.

Endpoints are the accounts' choice, so they are kept from stalling or reaching anything:
- One queue per endpoint, drained in order by its own task on the sender's event loop:
  a slow or dead endpoint delays only its own deliveries, never another endpoint's or
  another account's. A queue holds at most `webhook_queue_max` deliveries; one more is
  parked at once (`endpoint backlog full`), so a stuck endpoint cannot grow the API.
- Connections go only to public addresses, checked at connect time on the resolved
  address (`dialer.targets`; loopback only with `webhook_allow_loopback`).
- Redirects are not followed (a 3xx is final); the answer's body is never read (the
  status is the receipt; the connection is dropped); one attempt takes at most
  `webhook_timeout_s` in all (connect, send, headers), however slowly the far side trickles.
- A 5xx, 408, 429, a timeout or a network error is retried with doubling backoff; after
  `webhook_tries` the delivery is parked on the dead-letter topic. Any other 4xx, a 3xx
  or a refused address is final (parked at once).

An event whose campaign the read model does not know yet is held (`Pending`) and asked
about again each round, up to `webhook_campaign_wait_s`, without holding the events after
it. Offsets are committed per partition up to the lowest event held or with a delivery
still running (`Offsets`), so a restart re-reads every event not yet settled. Endpoints already served for
an event are remembered per replica (RocksDB of the read model), so a re-read event is not
posted twice to the endpoints that already had it.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import queue
import secrets
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
from confluent_kafka import TopicPartition

from api.config import ApiSettings
from api.controlplane import ControlPlane
from api.readmodel import ReadModel
from dialer import signing
from dialer.targets import guarded_socket_factory
from topics import catalogue, deadletter
from topics.codec import DecodeError, decode
from topics.consumer import TopicConsumer
from topics.producer import QUIET, DeliveryError, TrackedProducer
from topics.translate import NAMESPACE

log = logging.getLogger(__name__)

EVENT_KINDS = {
    "StatusChanged": "campaign.status",
    "ContactFinal": "contact.final",
    "Progress": "campaign.progress",
}
# A CallerIdHealth record of caller_id.health (the sink's judgement, sinks.health) with
# `degraded`: delivered as this event, its data the record less the envelope's fields.
CALLER_ID_DEGRADED = "caller_id.degraded"
_ENVELOPE = ("event_id", "account_id", "campaign_id", "at")
EVENT_ID_HEADER = "X-Campaignflow-Event-Id"
MAX_PENDING = 10_000  # events held for the read model; past it, reading waits
COMMIT_SECONDS = 1.0  # the dispatcher commits its positions at most this often
MAX_BACKOFF_S = 30.0
RETRYABLE = {408, 429}
MAX_LOGGED = 20  # deliveries listed per endpoint (DeliveryLog)
TEST_EVENT = "webhook.test"
# Threads of the sender's DNS lookups (aiohttp resolves in the loop's executor): a slow
# name server of one endpoint must not hold the lookups of the others.
RESOLVER_THREADS = 32


def _json_value(v: Any) -> Any:
    if hasattr(v, "isoformat"):
        return v.isoformat().replace("+00:00", "Z")
    if isinstance(v, dict):
        return {k: _json_value(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_json_value(x) for x in v]
    return v


def payload(rec: dict[str, Any], kind: str, account: str) -> dict[str, Any]:
    body = rec["body"]
    data = body[1] if isinstance(body, tuple) else body
    return {
        "event_id": rec["event_id"],
        "type": kind,
        "account_id": account,
        "campaign_id": rec["campaign_id"],
        "at": _json_value(rec["at"]),
        "data": _json_value(data),
    }


def caller_id_event(rec: dict[str, Any]) -> dict[str, Any] | None:
    """A CallerIdHealth record in the shape of a campaign event (`payload` takes both);
    None for a record that is not a degradation (nothing to deliver)."""
    if not rec.get("degraded"):
        return None
    data = {k: v for k, v in rec.items() if k not in _ENVELOPE}
    return {**{k: rec[k] for k in _ENVELOPE}, "body": data}


@dataclass(frozen=True)
class Endpoint:
    """The key of one delivery queue: an account's webhook."""

    account: str
    webhook_id: str


@dataclass(frozen=True)
class WebhookDelivery:
    endpoint: Endpoint
    url: str
    secret: str
    event_id: str
    data: bytes
    msg: Any  # the campaign.events message: parked whole when the delivery fails
    event_type: str = ""


@dataclass(frozen=True)
class Pending:
    """An event held until the read model knows its campaign (so its account)."""

    msg: Any
    rec: dict[str, Any]
    kind: str
    until_s: float  # time.monotonic(); past it, still unknown, the event is dropped


@dataclass(frozen=True)
class Result:
    delivery: WebhookDelivery
    ok: bool
    error: str = ""
    status: int | None = None  # the last attempt's HTTP status; None: no answer
    attempts: int = 0


@dataclass(frozen=True)
class DeliveryRecord:
    """One settled delivery as the console lists it (never the body or the secret)."""

    event_id: str
    event_type: str
    at_ms: int
    ok: bool
    status: int | None
    attempts: int
    error: str


class DeliveryLog:
    """The last deliveries of each endpoint, newest first, kept by this replica.

    In memory: the dispatcher's consumer group spreads the events over the replicas, so each
    replica lists what it sent (one replica in the local stack: all of them); a restart
    starts the list anew. Bounded: `MAX_LOGGED` per endpoint, for the endpoints there are.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_endpoint: dict[Endpoint, deque[DeliveryRecord]] = {}

    def add(self, result: Result, event_type: str) -> DeliveryRecord:
        d = result.delivery
        record = DeliveryRecord(
            d.event_id,
            event_type,
            int(time.time() * 1000),
            result.ok,
            result.status,
            result.attempts,
            result.error,
        )
        with self._lock:
            log_ = self._by_endpoint.setdefault(d.endpoint, deque(maxlen=MAX_LOGGED))
            log_.appendleft(record)
        return record

    def last(self, endpoint: Endpoint) -> list[DeliveryRecord]:
        with self._lock:
            return list(self._by_endpoint.get(endpoint, ()))

    def forget(self, endpoint: Endpoint) -> None:
        with self._lock:
            self._by_endpoint.pop(endpoint, None)


class Offsets:
    """Per partition: the events with deliveries still running and the next offset to read.

    The committable position of a partition is its lowest event still running, else the
    next offset to read. Used by the consumer's thread only.
    """

    def __init__(self) -> None:
        self._running: dict[int, dict[int, int]] = {}
        self._next: dict[int, int] = {}
        self._committed: dict[int, int] = {}

    def read(self, partition: int, offset: int, deliveries: int) -> None:
        self._next[partition] = offset + 1
        if deliveries:
            self._running.setdefault(partition, {})[offset] = deliveries

    def add(self, partition: int, offset: int, deliveries: int) -> None:
        """More deliveries for an event already read (and still running)."""
        running = self._running.get(partition, {})
        if deliveries and offset in running:
            running[offset] += deliveries

    def done(self, partition: int, offset: int) -> None:
        running = self._running.get(partition, {})
        left = running.get(offset)
        if left is None:  # a partition given away meanwhile
            return
        if left > 1:
            running[offset] = left - 1
        else:
            del running[offset]

    def to_commit(self) -> dict[int, int]:
        """Positions that moved since the last commit."""
        out = {}
        for partition, nxt in self._next.items():
            running = self._running.get(partition)
            position = min(running) if running else nxt
            if self._committed.get(partition) != position:
                out[partition] = position
        return out

    def committed(self, positions: dict[int, int]) -> None:
        self._committed.update(positions)

    def forget(self, partitions: list[int]) -> None:
        for p in partitions:
            self._running.pop(p, None)
            self._next.pop(p, None)
            self._committed.pop(p, None)

    @property
    def running(self) -> int:
        return sum(sum(r.values()) for r in self._running.values())


class Sender:
    """An event loop in its own thread; one queue per endpoint, each drained by its own task.

    `submit` is called from the consumer's thread; each finished delivery is put on
    `results` (a delivered one, or a failed one with its reason).
    """

    def __init__(self, config: ApiSettings, results: queue.SimpleQueue[Result]) -> None:
        self.config = config
        self.results = results
        self._loop = asyncio.new_event_loop()
        self._loop.set_default_executor(
            ThreadPoolExecutor(RESOLVER_THREADS, thread_name_prefix="webhook-dns")
        )
        self._thread = threading.Thread(target=self._loop.run_forever, name="api-webhooks-send")
        self._thread.daemon = True
        self._queues: dict[Endpoint, deque[WebhookDelivery]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._open(), self._loop).result(30)

    async def _open(self) -> None:
        connector = aiohttp.TCPConnector(
            limit=0,  # no shared pool to queue for: each endpoint has one request at a time
            socket_factory=guarded_socket_factory(self.config.webhook_allow_loopback),
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self.config.webhook_timeout_s),
            trust_env=False,  # never through a proxy of the environment
        )

    def close(self) -> None:
        if not self._thread.is_alive():
            return
        try:
            asyncio.run_coroutine_threadsafe(self._aclose(), self._loop).result(15)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(15)
            if not self._thread.is_alive():
                self._loop.close()  # also ends the resolver threads

    async def _aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    def submit(self, delivery: WebhookDelivery) -> None:
        self._loop.call_soon_threadsafe(self._enqueue, delivery)

    def _enqueue(self, delivery: WebhookDelivery) -> None:
        q = self._queues.get(delivery.endpoint)
        if q is None:
            q = self._queues[delivery.endpoint] = deque()
            task = self._loop.create_task(self._drain(delivery.endpoint, q))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif len(q) >= self.config.webhook_queue_max:
            error = f"endpoint backlog full ({len(q)} deliveries waiting; not sent)"
            self.results.put(Result(delivery, False, error))
            return
        q.append(delivery)

    async def _drain(self, endpoint: Endpoint, q: deque[WebhookDelivery]) -> None:
        """Send an endpoint's deliveries in order; the task ends when its queue is empty."""
        try:
            while q:
                delivery = q.popleft()
                self.results.put(await self._deliver(delivery))
        finally:
            self._queues.pop(endpoint, None)

    async def _deliver(self, d: WebhookDelivery, tries: int | None = None) -> Result:
        tries = tries or self.config.webhook_tries
        delay = self.config.webhook_backoff_s
        attempt = Attempt()
        for n in range(1, tries + 1):
            attempt = await self._post(d)
            if attempt.status is not None and attempt.status < 300:
                return Result(d, True, status=attempt.status, attempts=n)
            if attempt.final:
                return Result(d, False, attempt.error, attempt.status, n)
            if n < tries:
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF_S)
        error = f"{attempt.error} after {tries} tries"
        return Result(d, False, error, attempt.status, tries)

    def send_once(self, d: WebhookDelivery) -> Result:
        """One attempt now, outside the endpoint's queue, for the caller's thread to wait
        on (a test event: its sender wants the answer, not a retry a minute later)."""
        future = asyncio.run_coroutine_threadsafe(self._deliver(d, tries=1), self._loop)
        return future.result(self.config.webhook_timeout_s + 30)

    async def _post(self, d: WebhookDelivery) -> Attempt:
        assert self._session is not None
        headers = {
            "Content-Type": "application/json",
            EVENT_ID_HEADER: d.event_id,
            signing.SIGNATURE_HEADER: signing.sign(d.secret, d.data, int(time.time())),
            "User-Agent": "campaignflow-webhooks/1",
        }
        try:
            async with self._session.post(
                d.url, data=d.data, headers=headers, allow_redirects=False
            ) as resp:
                return judge(resp.status)  # the body is never read (see module doc)
        except aiohttp.ClientConnectorError as exc:
            if exc.os_error.errno == errno.EACCES:  # dialer.targets refused the address
                reason = exc.os_error.strerror or str(exc.os_error)
                return Attempt(error=f"refused: {reason}", final=True)
            return Attempt(error=type(exc).__name__)
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            return Attempt(error=type(exc).__name__)


@dataclass(frozen=True)
class Attempt:
    """One POST: the status answered (None: no answer), what went wrong, whether to stop."""

    status: int | None = None
    error: str = ""
    final: bool = False


def judge(status: int) -> Attempt:
    """2xx delivered; 3xx final (redirects are not followed); 5xx, 408, 429 retried; other 4xx final."""
    if status < 300:
        return Attempt(status)
    if status < 400:
        return Attempt(status, f"HTTP {status} (redirects are not followed)", final=True)
    if status < 500 and status not in RETRYABLE:
        return Attempt(status, f"HTTP {status} (not retried)", final=True)
    return Attempt(status, f"HTTP {status}")


class Dispatcher:
    """Reads campaign.events and caller_id.health, hands each delivery to its endpoint's
    queue, settles results. Offsets are kept per topic (`Offsets` per topic)."""

    def __init__(self, config: ApiSettings, cp: ControlPlane, rm: ReadModel) -> None:
        self.config = config
        self.cp = cp
        self.rm = rm
        self.topic = catalogue.topic_name(catalogue.EVENTS, config.prefix)
        self.health_topic = catalogue.topic_name(catalogue.CALLER_ID_HEALTH, config.prefix)
        self.dead_letter_topic = catalogue.topic_name(catalogue.DEADLETTER, config.prefix)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._consumer: TopicConsumer | None = None
        self._producer: TrackedProducer | None = None
        self._results: queue.SimpleQueue[Result] = queue.SimpleQueue()
        self.sender = Sender(config, self._results)
        self._offsets: dict[str, Offsets] = {self.topic: Offsets(), self.health_topic: Offsets()}
        self._pending: deque[Pending] = deque()
        self._commit_at_s = 0.0  # monotonic time of the next commit of positions
        self.delivered = 0
        self.parked = 0
        self.log = DeliveryLog()

    def start(self) -> None:
        group = f"campaignflow-webhooks-{self.config.prefix}"
        self._consumer = TopicConsumer.build(self.config.kafka, group, log_level=QUIET)
        self._consumer.subscribe([self.topic, self.health_topic], on_revoke=self._on_revoke)
        self._producer = TrackedProducer(self.config.kafka)
        self.sender.start()
        self._thread = threading.Thread(target=self._run, name="api-webhooks", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(15)
        self.sender.close()
        if self._consumer is not None:
            self._consumer.close()
        if self._producer is not None:
            self._producer.close()

    def _run(self) -> None:
        assert self._consumer is not None
        while not self._stop.is_set():
            if len(self._pending) >= MAX_PENDING:  # the read model is far behind: let it catch up
                self._stop.wait(0.2)
            else:
                for msg in self._consumer.messages(200):
                    self._take(msg)
            self._resolve_pending()
            self._settle()
            now_s = time.monotonic()
            if not self._stop.is_set() and now_s >= self._commit_at_s:
                # A synchronous commit a second at most, not one per fetch (about 15 a
                # second while a campaign runs): a replay of what it did not commit is
                # delivered once anyway (`rm.delivered`).
                self._commit()
                self._commit_at_s = now_s + COMMIT_SECONDS

    def _take(self, msg: Any) -> None:
        """Hold an event that may need deliveries until its campaign's account is known."""
        partition, offset = int(msg.partition() or 0), int(msg.offset() or 0)
        try:
            pending = self._pending_event(msg)
        except Exception:  # never stop the dispatcher
            log.exception("webhooks: event skipped")
            pending = None
        self._offsets_of(msg).read(partition, offset, 0 if pending is None else 1)
        if pending is not None:
            self._pending.append(pending)

    def _pending_event(self, msg: Any) -> Pending | None:
        if msg.value() is None:
            return None
        try:
            _, rec = decode(msg.value(), msg.topic(), msg.partition(), msg.offset())
        except DecodeError:
            return None
        if msg.topic() == self.health_topic:
            event = caller_id_event(rec)
            if event is None:
                return None
            rec, kind = event, CALLER_ID_DEGRADED
        else:
            body = rec["body"]
            name = body[0].removeprefix(NAMESPACE + ".") if isinstance(body, tuple) else ""
            found = EVENT_KINDS.get(name)
            if found is None:
                return None
            kind = found
        return Pending(msg, rec, kind, time.monotonic() + self.config.webhook_campaign_wait_s)

    def _resolve_pending(self) -> None:
        """Hand the held events whose campaign the read model knows to their endpoints'
        queues, in order; drop those still unknown after `webhook_campaign_wait_s`. An
        unknown campaign holds only its own events, never the next account's."""
        now_s = time.monotonic()
        waiting: deque[Pending] = deque()
        for pending in self._pending:
            account = pending.rec.get("account_id")  # campaign ids are per account
            row = (
                self.rm.campaign(account, pending.rec["campaign_id"])
                if isinstance(account, str) and account
                else None
            )
            if row is None and now_s < pending.until_s:
                waiting.append(pending)
                continue
            try:
                deliveries = [] if row is None else self._deliveries(pending, row.account_id)
            except Exception:  # never stop the dispatcher
                log.exception("webhooks: event skipped")
                deliveries = []
            partition, offset = int(pending.msg.partition()), int(pending.msg.offset())
            offsets = self._offsets_of(pending.msg)
            offsets.add(partition, offset, len(deliveries))
            for delivery in deliveries:
                self.sender.submit(delivery)
            offsets.done(partition, offset)  # the hold of `_take`
        self._pending = waiting

    def _deliveries(self, pending: Pending, account: str) -> list[WebhookDelivery]:
        """The deliveries an event asks for: one per subscribed endpoint not yet served."""
        rec, kind = pending.rec, pending.kind
        event_id = rec["event_id"]
        hooks = [
            hook
            for _, hook in self.cp.items("webhook", account)
            if kind in hook["events"] and not self.rm.delivered(hook["webhook_id"], event_id)
        ]
        if not hooks:
            return []
        data = json.dumps(payload(rec, kind, account), separators=(",", ":")).encode()
        return [
            WebhookDelivery(
                Endpoint(account, hook["webhook_id"]),
                hook["url"],
                hook["secret"],
                event_id,
                data,
                pending.msg,
                kind,
            )
            for hook in hooks
        ]

    def deliveries(self, account: str, webhook_id: str) -> list[DeliveryRecord]:
        return self.log.last(Endpoint(account, webhook_id))

    def forget(self, account: str, webhook_id: str) -> None:
        self.log.forget(Endpoint(account, webhook_id))

    def send_test(self, account: str, hook: dict[str, Any]) -> DeliveryRecord:
        """A signed `webhook.test` event to one endpoint, now, once, through the same
        guards as every delivery (public addresses only, no redirect, the timeout); the
        answer goes to the endpoint's list of deliveries. Nothing is parked: it is a probe."""
        event_id = f"test-{secrets.token_hex(8)}"
        body = {
            "event_id": event_id,
            "type": TEST_EVENT,
            "account_id": account,
            "campaign_id": None,
            "at": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "data": {"webhook_id": hook["webhook_id"]},
        }
        data = json.dumps(body, separators=(",", ":")).encode()
        endpoint = Endpoint(account, hook["webhook_id"])
        d = WebhookDelivery(endpoint, hook["url"], hook["secret"], event_id, data, None, TEST_EVENT)
        return self.log.add(self.sender.send_once(d), TEST_EVENT)

    def _settle(self) -> None:
        """Take the finished deliveries: remember them, park the failed ones, free offsets.

        `parked` counts dead letters the broker acknowledged (a reader finds them)."""
        parked = 0
        while True:
            try:
                result = self._results.get_nowait()
            except queue.Empty:
                break
            d = result.delivery
            self.rm.mark_delivered(d.endpoint.webhook_id, d.event_id)
            self.log.add(result, d.event_type)
            if result.ok:
                self.delivered += 1
            else:
                self._park(d, result.error)
                parked += 1
            self._offsets_of(d.msg).done(d.msg.partition(), d.msg.offset())
        if parked:
            assert self._producer is not None
            try:
                self._producer.wait(30.0)
            except DeliveryError:
                log.exception("webhooks: dead letters not acknowledged")
            self.parked += parked

    def _offsets_of(self, msg: Any) -> Offsets:
        return self._offsets[str(msg.topic())]

    def _commit(self, partitions: list[tuple[str, int]] | None = None) -> None:
        assert self._consumer is not None
        for topic, offsets_ in self._offsets.items():
            positions = offsets_.to_commit()
            if partitions is not None:
                positions = {p: o for p, o in positions.items() if (topic, p) in partitions}
            if not positions:
                continue
            offsets = [TopicPartition(topic, p, o) for p, o in positions.items()]
            try:
                self._consumer.commit(offsets)
            except Exception:  # the next round tries again
                log.exception("webhooks: commit failed")
                continue
            offsets_.committed(positions)

    def _on_revoke(self, partitions: list[TopicPartition]) -> None:
        """Commit what is settled of the partitions given away, then forget them (the
        deliveries still running finish; the next owner re-reads from the commit)."""
        revoked = [(tp.topic, tp.partition) for tp in partitions]
        self._pending = deque(
            p for p in self._pending if (p.msg.topic(), p.msg.partition()) not in revoked
        )
        self._settle()
        self._commit(revoked)
        for topic, offsets in self._offsets.items():
            offsets.forget([p for t, p in revoked if t == topic])

    def _park(self, d: WebhookDelivery, error: str) -> None:
        assert self._producer is not None
        msg = d.msg
        letter = deadletter.build(
            topic=msg.topic(),
            partition=int(msg.partition()),
            offset=int(msg.offset()),
            key=msg.key(),
            value=msg.value(),
            error=f"webhook {d.endpoint.webhook_id}: {error}",
            stage="webhook",
            dead_letter_topic=self.dead_letter_topic,
        )
        self._producer.park(letter)
