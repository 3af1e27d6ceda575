"""The webhook dispatcher: campaign.events to each subscribed endpoint of the campaign's account.

One consumer group across replicas (`campaignflow-webhooks`), so each event is handled by
one replica; offsets are committed only after every endpoint of the event succeeded or
was given up on. Each delivery is POSTed with the event id (`X-Campaignflow-Event-Id`,
stable across replays: the receiver drops repeats) and signed `t=...,v1=...`. A 5xx, a
timeout or a network error is retried with doubling backoff; after `webhook_tries` the
delivery is parked on the dead-letter topic. A 4xx is final (parked at once). Endpoints
already delivered for an event are remembered per replica (RocksDB of the read model),
so a redelivered batch does not post twice to the endpoints that already had it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests
from confluent_kafka import Consumer

from api.config import ApiConfig
from api.controlplane import ControlPlane
from api.readmodel import ReadModel
from dialer import signing
from topics import catalogue, deadletter
from topics.clients import consumer_config
from topics.codec import DecodeError, decode
from topics.producer import QUIET, TrackedProducer
from topics.translate import NAMESPACE

log = logging.getLogger(__name__)

EVENT_KINDS = {
    "StatusChanged": "campaign.status",
    "ContactFinal": "contact.final",
    "Progress": "campaign.progress",
}
EVENT_ID_HEADER = "X-Campaignflow-Event-Id"
UNKNOWN_CAMPAIGN_WAIT_S = 30.0
MAX_BACKOFF_S = 30.0


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


class Dispatcher:
    def __init__(self, config: ApiConfig, cp: ControlPlane, rm: ReadModel) -> None:
        self.config = config
        self.cp = cp
        self.rm = rm
        self.topic = catalogue.topic_name(catalogue.EVENTS, config.prefix)
        self.dead_letter_topic = catalogue.topic_name(catalogue.DEADLETTER, config.prefix)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._consumer: Consumer | None = None
        self._producer: TrackedProducer | None = None
        self._pool = ThreadPoolExecutor(16, thread_name_prefix="webhook")
        self._session = requests.Session()
        self.delivered = 0
        self.parked = 0

    def start(self) -> None:
        conf = consumer_config(
            self.config.kafka, f"campaignflow-webhooks-{self.config.prefix}", log_level=QUIET
        )
        self._consumer = Consumer(conf)
        self._consumer.subscribe([self.topic])
        self._producer = TrackedProducer(self.config.kafka)
        self._thread = threading.Thread(target=self._run, name="api-webhooks", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(15)
        if self._consumer is not None:
            self._consumer.close()
        if self._producer is not None:
            self._producer.close()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _run(self) -> None:
        assert self._consumer is not None
        while not self._stop.is_set():
            msgs = self._consumer.consume(200, timeout=0.2)
            handled = False
            for msg in msgs:
                if msg.error() is not None or msg.value() is None:
                    continue
                try:
                    self._handle(msg)
                except Exception:  # never stop the dispatcher
                    log.exception("webhooks: event skipped")
                handled = True
            if handled and not self._stop.is_set():
                self._consumer.commit(asynchronous=False)

    def _handle(self, msg: Any) -> None:
        try:
            _, rec = decode(msg.value(), msg.topic(), msg.partition(), msg.offset())
        except DecodeError:
            return
        body = rec["body"]
        name = body[0].removeprefix(NAMESPACE + ".") if isinstance(body, tuple) else ""
        kind = EVENT_KINDS.get(name)
        if kind is None:
            return
        campaign_id, account = rec["campaign_id"], rec.get("account_id")
        if not isinstance(account, str) or not account:
            return  # every event names its account (campaign ids are per account)
        self.rm.wait_for(lambda: self.rm.exists(account, campaign_id), UNKNOWN_CAMPAIGN_WAIT_S)
        if self.rm.campaign(account, campaign_id) is None:
            return
        targets = [
            hook
            for _, hook in self.cp.items("webhook", account)
            if kind in hook["events"] and not self.rm.delivered(hook["webhook_id"], rec["event_id"])
        ]
        if not targets:
            return
        data = json.dumps(payload(rec, kind, account), separators=(",", ":")).encode()
        futures = [
            self._pool.submit(self._deliver, hook, rec["event_id"], data) for hook in targets
        ]
        for hook, fut in zip(targets, futures, strict=True):
            ok, error = fut.result()
            self.rm.mark_delivered(hook["webhook_id"], rec["event_id"])
            if ok:
                self.delivered += 1
            else:
                self._park(msg, hook, error)

    def _deliver(self, hook: dict[str, Any], event_id: str, data: bytes) -> tuple[bool, str]:
        delay = self.config.webhook_backoff_s
        error = ""
        for attempt in range(1, self.config.webhook_tries + 1):
            headers = {
                "Content-Type": "application/json",
                EVENT_ID_HEADER: event_id,
                signing.SIGNATURE_HEADER: signing.sign(hook["secret"], data, int(time.time())),
                "User-Agent": "campaignflow-webhooks/1",
            }
            try:
                resp = self._session.post(
                    hook["url"], data=data, headers=headers, timeout=self.config.webhook_timeout_s
                )
                if resp.status_code < 300:
                    return True, ""
                error = f"HTTP {resp.status_code}"
                if resp.status_code < 500 and resp.status_code not in (408, 429):
                    return False, f"{error} (not retried)"
            except requests.RequestException as exc:
                error = type(exc).__name__
            if attempt < self.config.webhook_tries and not self._stop.is_set():
                time.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF_S)
        return False, f"{error} after {self.config.webhook_tries} tries"

    def _park(self, msg: Any, hook: dict[str, Any], error: str) -> None:
        assert self._producer is not None
        letter = deadletter.build(
            topic=msg.topic(),
            partition=int(msg.partition()),
            offset=int(msg.offset()),
            key=msg.key(),
            value=msg.value(),
            error=f"webhook {hook['webhook_id']}: {error}",
            stage="webhook",
            dead_letter_topic=self.dead_letter_topic,
        )
        self._producer.park(letter)
        self._producer.wait(30.0)
        self.parked += 1
