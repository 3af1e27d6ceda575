"""A webhook dispatcher on the real broker with its own topics, and far sides that misbehave.

The far sides are real HTTP servers on 127.0.0.1 started by the test; the dispatcher is the
API's (`api.webhooks.Dispatcher`), fed by campaign.events records produced here.
"""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from api import accounts
from api.app import stop_services
from api.webhooks import Dispatcher
from campaignflow.config import settings
from campaigns.events import Command, CommandKind
from campaigns.models import parse_definition
from tests.helpers import wait_until
from tests.integration.api_kit import local_services
from tests.integration.dialer_kit import drop_topics
from tests.integration.test_api_webhooks import dead_letters
from topics import catalogue
from topics.clients import KafkaSettings
from topics.codec import encode
from topics.producer import TrackedProducer
from topics.translate import NAMESPACE, command_to_record


class Rig:
    """Services, a dispatcher (not started) and a producer under a fresh topic prefix."""

    def __init__(self, bootstrap: str, state_dir: Path, **config: Any) -> None:
        self.bootstrap = bootstrap
        self.prefix = f"twt-{uuid.uuid4().hex[:8]}."
        self.svc = local_services(bootstrap, self.prefix, state_dir)
        defaults = {"webhook_tries": 2, "webhook_backoff_s": 0.05, "webhook_allow_loopback": True}
        self.config = dataclasses.replace(self.svc.config, **{**defaults, **config})
        self.dispatcher = Dispatcher(self.config, self.svc.cp, self.svc.readmodel)
        self.producer = TrackedProducer(KafkaSettings(bootstrap))
        self._events = 0
        self.accounts: dict[str, str] = {}  # campaign id -> its account, as `campaign` made it

    def hook(self, account: str, webhook_id: str, url: str) -> None:
        """A webhook written straight to the control plane (no registration check)."""
        if self.svc.cp.get("account", account, account) is None:
            accounts.create_account(self.svc.cp, account)
        self.svc.cp.put(
            "webhook",
            account,
            webhook_id,
            {
                "webhook_id": webhook_id,
                "url": url,
                "events": ["campaign.status"],
                "secret": "s" * 32,
                "created_at": "2026-12-01T00:00:00.000Z",
            },
        )

    def campaign(self, account: str, campaign_id: str) -> None:
        d = parse_definition(
            {
                "campaign_id": campaign_id,
                "account_id": account,
                "name": campaign_id,
                "agent": {"id": "a", "prompt": ""},
                "source_number": "+15550100000",
                "rules": {"timezone": "UTC", "concurrent_calls": 1},
            }
        )
        create = Command(
            f"c-{campaign_id}",
            CommandKind.create,
            definition=d,
            expected_contacts=0,
            account_id=account,
        )
        self.accounts[campaign_id] = account
        self.producer.produce(
            catalogue.topic_name(catalogue.COMMANDS, self.prefix),
            value=encode(
                "CampaignCommand", command_to_record(campaign_id, create, time.time_ns() // 1000)
            ),
            key=account.encode(),
        )
        self.producer.wait(30)
        wait_until(
            lambda: self.svc.readmodel.exists(account, campaign_id),
            f"{campaign_id} in the read model",
        )

    def event(self, campaign_id: str, account: str | None = None) -> str:
        """A StatusChanged event of the campaign on campaign.events; its event id.

        `account`: the campaign's, as `campaign` was told, unless given (a campaign the
        read model does not know yet)."""
        account = account or self.accounts[campaign_id]
        self._events += 1
        event_id = f"{account}/{campaign_id}:status:{self._events}"
        record = {
            "event_id": event_id,
            "account_id": account,
            "campaign_id": campaign_id,
            "at": time.time_ns() // 1_000_000,
            "body": (f"{NAMESPACE}.StatusChanged", {"status": "running"}),
        }
        self.producer.produce(
            catalogue.topic_name(catalogue.EVENTS, self.prefix),
            value=encode("CampaignEvent", record),
            key=account.encode(),
        )
        self.producer.wait(30)
        return event_id

    def webhook_errors(self) -> dict[str, str]:
        """webhook id -> error of each webhook delivery parked on the dead-letter topic."""
        out = {}
        for letter in dead_letters(self.bootstrap, self.prefix):
            if letter["stage"] == "webhook":
                head, _, error = letter["error"].partition(": ")
                out[head.removeprefix("webhook ")] = error
        return out

    def close(self) -> None:
        self.dispatcher.close()
        self.producer.close()
        stop_services(self.svc)
        # the shared broker keeps every topic it was given: give this rig's back
        drop_topics([t.name for t in settings().topics_at(self.prefix).catalogue().values()])


Handle = Callable[[BaseHTTPRequestHandler, bytes], None]


class FarSide:
    """An HTTP server on 127.0.0.1 answering every POST with `handle(request, body)`."""

    def __init__(self, handle: Handle) -> None:
        self.requests: list[str] = []  # event ids, in the order they arrived
        self.lock = threading.Lock()
        me = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with me.lock:
                    me.requests.append(self.headers.get("X-Campaignflow-Event-Id") or "")
                handle(self, body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def seen(self) -> list[str]:
        with self.lock:
            return list(self.requests)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def answer(status: int, **headers: str) -> Handle:
    def handle(h: BaseHTTPRequestHandler, body: bytes) -> None:
        h.send_response(status)
        for name, value in headers.items():
            h.send_header(name.replace("_", "-"), value)
        h.send_header("Content-Length", "0")
        h.end_headers()

    return handle
