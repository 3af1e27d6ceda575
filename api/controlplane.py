"""Accounts, agents, numbers, webhooks and idempotent answers: compacted topics held in memory.

Like a schema registry keeps its schemas: every replica reads each compacted topic from
its start once at boot (compaction keeps one record per key, so this is bounded by the
number of live records, not by history), then follows it in a thread. A write is
produced, acknowledged by the broker, then applied locally, so the writer reads its own
write at once and other replicas see it within their poll interval. No database.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from confluent_kafka.admin import AdminClient

from topics import catalogue
from topics.admin import create_topics
from topics.catalogue import Topics
from topics.clients import KafkaSettings, admin_config
from topics.codec import DecodeError, decode, encode
from topics.consumer import TopicConsumer
from topics.producer import QUIET, TrackedProducer

log = logging.getLogger(__name__)

KINDS = {
    catalogue.API_ACCOUNTS: "account",
    catalogue.API_AGENTS: "agent",
    catalogue.API_NUMBERS: "number",
    catalogue.API_WEBHOOKS: "webhook",
    catalogue.API_IDEMPOTENCY: "idempotency",
}


@dataclass(frozen=True)
class Subscription:
    active: bool
    status: str  # active | inactive | none (no record: not active)
    reason: str | None
    plan: str | None = None


def record_key(account_id: str, record_id: str) -> bytes:
    return f"{account_id}/{record_id}".encode()


class ControlPlane:
    """The API's compacted topics (and account.status), one consumer, one producer."""

    def __init__(self, kafka: KafkaSettings, layout: Topics) -> None:
        self.kafka = kafka
        self.layout = layout
        prefix = self.prefix = layout.prefix
        self.topics = {logical: catalogue.topic_name(logical, prefix) for logical in KINDS}
        self.status_topic = catalogue.topic_name(catalogue.ACCOUNT_STATUS, prefix)
        self._kind_of = {name: KINDS[logical] for logical, name in self.topics.items()}
        self._lock = threading.RLock()
        # kind -> account -> id -> body
        self._data: dict[str, dict[str, dict[str, dict[str, Any]]]] = {
            k: {} for k in KINDS.values()
        }
        self._status: dict[str, dict[str, Any]] = {}
        self._key_index: dict[str, tuple[str, str]] = {}  # sha256 hex -> (account, key_id)
        # Idempotent answers in the order they were made, to forget them as the topic does.
        self._answers: deque[tuple[int, str, str]] = deque()  # at_ms, account, id
        self.answer_ttl_ms = catalogue.IDEMPOTENCY_RETENTION_MS
        self._producer: TrackedProducer | None = None
        self._consumer: TopicConsumer | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- lifetime -------------------------------------------------------------------

    def ensure_topics(self) -> None:
        wanted = [
            self.layout.spec(t) for t in (*KINDS, catalogue.ACCOUNT_STATUS, catalogue.DEADLETTER)
        ]
        conf = admin_config(self.kafka, log_level=QUIET)
        create_topics(wanted, admin=AdminClient(conf))

    def start(self, idle_seconds: float = 60.0) -> None:
        """Read every topic to its current end, then follow it in a thread."""
        self.ensure_topics()
        self._producer = TrackedProducer(self.kafka)
        group = f"campaignflow-api-cp-{uuid.uuid4().hex}"
        consumer = self._consumer = TopicConsumer.build(self.kafka, group, log_level=QUIET)
        names = [*self.topics.values(), self.status_topic]
        spans = [s for name in names for s in consumer.spans(name, wait_seconds=idle_seconds)]
        for msg in consumer.read_to_end(spans, idle_seconds=idle_seconds):
            self._apply_message(msg)
        self._thread = threading.Thread(target=self._follow, name="api-controlplane", daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        assert self._consumer is not None
        self._consumer.follow(self._apply_messages, self._stop)

    def _apply_messages(self, msgs: list[Any]) -> None:
        for msg in msgs:
            try:
                self._apply_message(msg)
            except Exception:  # a bad record never stops the follower
                log.exception("control plane: record skipped")

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        if self._consumer is not None:
            self._consumer.close()
        if self._producer is not None:
            self._producer.close()

    # ---- applying records -------------------------------------------------------------

    def _apply_message(self, msg: Any) -> None:
        topic, value, key = msg.topic(), msg.value(), msg.key()
        if topic == self.status_topic:
            account = (key or b"").decode("utf-8", "replace")
            if value is None:
                with self._lock:
                    self._status.pop(account, None)
                return
            try:
                _, rec = decode(value, topic, msg.partition(), msg.offset())
            except DecodeError:
                return
            with self._lock:
                self._status[str(rec["account_id"])] = rec
            return
        kind = self._kind_of.get(topic)
        if kind is None:
            return
        if value is None:  # tombstone: key is account/id
            account, _, rid = (key or b"").decode("utf-8", "replace").partition("/")
            self._apply(kind, account, rid, None)
            return
        try:
            _, rec = decode(value, topic, msg.partition(), msg.offset())
            body = json.loads(rec["body"])
        except (DecodeError, ValueError):
            return
        self._apply(kind, str(rec["account_id"]), str(rec["id"]), body)

    def _expired(self, body: dict[str, Any], now_ms: int) -> bool:
        return int(body.get("at_ms", 0)) <= now_ms - self.answer_ttl_ms

    def _forget_old_answers(self, now_ms: int) -> None:
        """Drop idempotent answers past the topic's retention (its delete policy's memory)."""
        while self._answers and self._answers[0][0] <= now_ms - self.answer_ttl_ms:
            at_ms, account, rid = self._answers.popleft()
            bucket = self._data["idempotency"].get(account, {})
            kept = bucket.get(rid)
            if kept is not None and int(kept.get("at_ms", 0)) == at_ms:
                del bucket[rid]
                if not bucket:
                    del self._data["idempotency"][account]

    def _apply(self, kind: str, account: str, rid: str, body: dict[str, Any] | None) -> None:
        with self._lock:
            if kind == "idempotency":
                now_ms = int(time.time() * 1000)
                self._forget_old_answers(now_ms)
                if body is not None and self._expired(body, now_ms):
                    body = None  # read back from the topic after its retention: forgotten
                elif body is not None:
                    self._answers.append((int(body.get("at_ms", 0)), account, rid))
            bucket = self._data[kind].setdefault(account, {})
            if kind == "account":
                old = bucket.get(rid)
                for k in (old or {}).get("keys", []):
                    self._key_index.pop(k["sha256"], None)
            if body is None:
                bucket.pop(rid, None)
            else:
                bucket[rid] = body
                if kind == "account":
                    for k in body.get("keys", []):
                        if not k.get("revoked_at"):
                            self._key_index[k["sha256"]] = (account, k["key_id"])

    # ---- writing ------------------------------------------------------------------------

    def put(self, kind: str, account: str, rid: str, body: dict[str, Any] | None) -> None:
        """Publish (or delete, body None), wait for the broker, then apply locally."""
        assert self._producer is not None, "start() first"
        logical = next(lg for lg, k in KINDS.items() if k == kind)
        value = None
        if body is not None:
            value = encode(
                "ApiRecord",
                {
                    "kind": kind,
                    "account_id": account,
                    "id": rid,
                    "body": json.dumps(body, separators=(",", ":"), sort_keys=True),
                    "updated_at": int(time.time() * 1000),
                },
            )
        self._producer.produce(self.topics[logical], value=value, key=record_key(account, rid))
        self._producer.wait(30.0)
        self._apply(kind, account, rid, body)

    def set_subscription(self, account: str, active: bool, plan: str | None = None) -> None:
        assert self._producer is not None, "start() first"
        rec = {
            "account_id": account,
            "active": active,
            "plan": plan,
            "updated_at": int(time.time() * 1000),
        }
        self._producer.produce(
            self.status_topic, value=encode("AccountStatus", rec), key=account.encode()
        )
        self._producer.wait(30.0)
        with self._lock:
            self._status[account] = rec

    # ---- reading ---------------------------------------------------------------------------

    def get(self, kind: str, account: str, rid: str) -> dict[str, Any] | None:
        with self._lock:
            body = self._data[kind].get(account, {}).get(rid)
            if body is None or (
                kind == "idempotency" and self._expired(body, int(time.time() * 1000))
            ):
                return None
            return dict(body)

    def ids(self, kind: str, account: str) -> list[str]:
        with self._lock:
            return sorted(self._data[kind].get(account, {}))

    def items(self, kind: str, account: str) -> Iterator[tuple[str, dict[str, Any]]]:
        with self._lock:
            rows = sorted(self._data[kind].get(account, {}).items())
        yield from rows

    def key_owner(self, sha256_hex: str) -> tuple[str, str] | None:
        with self._lock:
            return self._key_index.get(sha256_hex)

    def subscription(self, account: str) -> Subscription:
        """Once accounts exist, no record means not active (SPEC: start needs a subscription)."""
        with self._lock:
            rec = self._status.get(account)
        if rec is None:
            return Subscription(False, "none", "the account has no subscription")
        if rec["active"]:
            return Subscription(True, "active", None, rec.get("plan"))
        return Subscription(
            False, "inactive", "the account's subscription is not active", rec.get("plan")
        )
