"""Shared pieces of the API tests: a definition, a contact list, a signed-webhook receiver."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from campaignflow.config import settings
from dialer import signing
from topics.clients import KafkaSettings

PROMPT = "Hi {{customer_name}}, about your {{plan}} plan."


def definition(campaign_id: str, **rules: Any) -> dict[str, Any]:
    return {
        "campaign_id": campaign_id,
        "name": f"Campaign {campaign_id}",
        "agent_id": "renewals-bot",
        "source_number_id": "main-line",
        "variable_mapping": {"name": "customer_name"},
        "rules": {
            "max_retries": 1,
            "retry_delay_minutes": 0.01,
            "calling_days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            "calling_window": {"start": "00:00", "end": "24:00"},
            "timezone": "Europe/Paris",
            "concurrent_calls": 3,
            "max_call_minutes": 1,
            "caller_ids": {"numbers": ["+15550100001"], "strategy": "rolling"},
            **rules,
        },
    }


def contacts_csv(n: int, bad: int = 1, start: int = 0) -> str:
    lines = ["contact_id,phone_number,name,plan"]
    for i in range(start, start + n):
        lines.append(f"c{i:04d},+1212555{i:04d},Name {i},gold")
    for j in range(bad):
        lines.append(f"bad{j},not-a-number,Bad {j},gold")
    return "\n".join(lines) + "\n"


def setup_account(client: Any, headers: dict[str, str]) -> None:
    """The agent and the numbers every campaign of these tests names."""
    r = client.post(
        "/v1/agents",
        json={"agent_id": "renewals-bot", "name": "Renewals", "prompt": PROMPT},
        headers=headers,
    )
    assert r.status_code == 201, r.text
    for nid, e164, cid in (("main-line", "+15550100000", False), ("rot-1", "+15550100001", True)):
        r = client.post(
            "/v1/numbers",
            json={"number_id": nid, "e164": e164, "label": nid, "caller_id": cid},
            headers=headers,
        )
        assert r.status_code == 201, r.text


class Receiver:
    """A webhook endpoint on 127.0.0.1 that checks signatures and keeps what it got.

    `fail_first` event ids get a 503 on their first delivery (the dispatcher must retry).
    """

    def __init__(self, secret: str = "", fail_first: int = 0) -> None:
        self.secret = secret
        self.fail_first = fail_first
        self.received: list[dict[str, Any]] = []  # accepted deliveries
        self.bad_signatures = 0
        self.failed_once: set[str] = set()
        self.attempts: dict[str, int] = {}
        self._lock = threading.Lock()
        me = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                header = self.headers.get(signing.SIGNATURE_HEADER)
                event_id = self.headers.get("X-Campaignflow-Event-Id") or ""
                with me._lock:
                    me.attempts[event_id] = me.attempts.get(event_id, 0) + 1
                    if not signing.verify([me.secret], body, header, now_s=time.time()):
                        me.bad_signatures += 1
                        self.send_response(401)
                        self.end_headers()
                        return
                    if len(me.failed_once) < me.fail_first and event_id not in me.failed_once:
                        me.failed_once.add(event_id)
                        self.send_response(503)
                        self.end_headers()
                        return
                    data = json.loads(body)
                    assert data["event_id"] == event_id
                    me.received.append(data)
                self.send_response(204)
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.received)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def local_services(bootstrap: str, prefix: str, state_dir: Any, **limits: Any) -> Any:
    """The API's services in this process on the real broker (topics made under `prefix`)."""
    from confluent_kafka.admin import AdminClient

    from api.app import start_services
    from api.config import ApiSettings
    from topics.admin import create_topics
    from topics.clients import admin_config

    admin = AdminClient(admin_config(KafkaSettings(bootstrap)))
    create_topics(list(settings().topics_at(prefix).catalogue().values()), admin=admin)
    config = ApiSettings(
        kafka=KafkaSettings(bootstrap),
        topics=settings().topics_at(prefix),
        state_dir=state_dir,
        webhooks=False,
        **limits,
    )
    return start_services(config)
