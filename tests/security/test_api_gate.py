"""The API's gate (issue 21, items 7 and 14): the key before the body, small bodies outside the
upload routes, and per-account rates answered with 429 and Retry-After.

The body test runs the app under uvicorn on a real socket and measures what the app read
and what the client could send before the answer came: a stranger's 128 MiB body is
answered with 401 while almost none of it has left the client.
"""

from __future__ import annotations

import dataclasses
import select
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient

from api import accounts
from api.app import create_app, stop_services
from api.exceptions import RateLimited
from api.ratelimit import ApiLimits, Limiter, Rate
from tests.helpers import free_port
from tests.integration.api_kit import local_services
from tests.integration.dialer_kit import drop_topics
from topics import catalogue

MiB = 1 << 20


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture()
def services(kafka_bootstrap: str, tmp_path: Path) -> Iterator[Any]:
    prefix = f"tgate-{uuid.uuid4().hex[:8]}."
    svc = local_services(kafka_bootstrap, prefix, tmp_path / "api")
    try:
        yield svc
    finally:
        stop_services(svc)
        drop_topics([catalogue.topic_name(t, prefix) for t in catalogue.LOGICAL_NAMES])


class Served:
    """The app under uvicorn in a thread, counting the body bytes the app received."""

    def __init__(self, svc: Any) -> None:
        app = create_app(svc.config, services=svc)
        self.read = 0

        async def counting(scope: Any, receive: Any, send: Any) -> None:
            async def counted() -> Any:
                msg = await receive()
                self.read += len(msg.get("body", b""))
                return msg

            await app(scope, counted, send)

        self.port = free_port()
        config = uvicorn.Config(counting, host="127.0.0.1", port=self.port, log_level="error")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "uvicorn never started"
            time.sleep(0.02)

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(60)


def _send_until_answered(port: int, head: bytes, total: int) -> tuple[int, bytes]:
    """Send `head` then up to `total` body bytes, stopping at the first byte of an answer."""
    chunk = b"a" * (64 * 1024)
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(head)
        while sent < total:
            readable, writable, _ = select.select([sock], [sock], [], 60)
            if readable:
                break
            if writable:
                try:
                    sent += sock.send(chunk[: total - sent])
                except (BrokenPipeError, ConnectionResetError):
                    break
        answer = b""
        while True:  # the server closes the connection after its answer
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            answer += data
    return sent, answer


def test_a_large_body_without_a_key_is_refused_before_it_is_read(services: Any) -> None:
    served = Served(services)
    try:
        total = 128 * MiB
        for path in ("/v1/agents", "/v1/campaigns", "/v1/operator/accounts"):
            head = (
                f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{served.port}\r\n"
                "Content-Type: multipart/form-data; boundary=xyz\r\n"
                f"Content-Length: {total}\r\n\r\n"
            ).encode()
            sent, answer = _send_until_answered(served.port, head, total)
            assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
            assert b"connection: close" in answer.lower()
            # What left the client before the answer: socket buffers at most, not the body.
            assert sent < 32 * MiB, (path, sent)
        assert served.read == 0
    finally:
        served.close()


def test_only_the_upload_routes_take_big_bodies(services: Any) -> None:
    key = accounts.create_account(services.cp, "big-bodies").key
    with TestClient(create_app(services.config, services=services)) as client:
        big = {"agent_id": "a", "name": "A", "prompt": "x" * (MiB + 10)}
        r = client.post("/v1/agents", json=big, headers=bearer(key))
        assert r.status_code == 413 and "1048576" in r.json()["detail"]

        def chunks() -> Iterator[bytes]:  # chunked: no Content-Length, counted as it comes
            yield b'{"agent_id": "a", "name": "A", "prompt": "'
            for _ in range(MiB // 65536 + 2):
                yield b"y" * 65536
            yield b'"}'

        r = client.post(
            "/v1/webhooks",
            content=chunks(),
            headers={**bearer(key), "Content-Type": "application/json"},
        )
        assert r.status_code == 413
        # The upload route takes more than 1 MiB: its answer is about the list, not the size.
        csv = b"phone_number\n" + b"+12125550100\n" * (MiB // 13 + 10)
        r = client.post(
            "/v1/campaigns",
            files={"definition": (None, "{}"), "contacts": ("c.csv", csv, "text/csv")},
            headers=bearer(key),
        )
        assert r.status_code not in (401, 413), r.text


# -- rates ---------------------------------------------------------------------------------------


def test_the_token_bucket_refills_with_its_clock() -> None:
    now = [1000.0]
    limiter = Limiter(clock=lambda: now[0])
    rate = Rate(burst=2, per_hour=3600.0)  # one a second
    limiter.take("a", "x", rate)
    limiter.take("a", "x", rate)
    with pytest.raises(RateLimited) as err:
        limiter.take("a", "x", rate)
    assert err.value.retry_after_s == 1
    limiter.take("b", "x", rate)  # another account has its own bucket
    now[0] += 1.0
    limiter.take("a", "x", rate)
    with pytest.raises(RateLimited):
        limiter.take("a", "x", rate)
    limiter.take("a", "y", rate)  # and another kind of thing its own
    contacts = Rate(burst=100, per_hour=3600.0)
    limiter.take("a", "contacts", contacts, cost=500)  # a costly request empties the bucket
    with pytest.raises(RateLimited) as err:
        limiter.take("a", "contacts", contacts, cost=50)
    assert err.value.retry_after_s == 50


def _limited(svc: Any, limits: ApiLimits) -> Any:
    svc.config = dataclasses.replace(svc.config, limits=limits)
    svc.limiter = Limiter()
    return svc


def test_requests_past_an_accounts_rate_get_429_with_retry_after(services: Any) -> None:
    svc = _limited(services, ApiLimits(requests=Rate(burst=5, per_hour=1.0)))
    a = bearer(accounts.create_account(svc.cp, "rate-a").key)
    a2 = bearer(accounts.add_key(svc.cp, "rate-a").key)
    b = bearer(accounts.create_account(svc.cp, "rate-b").key)
    with TestClient(create_app(svc.config, services=svc)) as client:
        for _ in range(3):
            assert client.get("/v1/account", headers=a).status_code == 200
        for _ in range(2):  # the account's other key draws from the same allowance
            assert client.get("/v1/account", headers=a2).status_code == 200
        r = client.get("/v1/agents", headers=a)
        assert r.status_code == 429
        assert r.headers["content-type"] == "application/problem+json"
        assert int(r.headers["retry-after"]) > 0
        big = {"agent_id": "a", "name": "A", "prompt": "x"}
        assert client.post("/v1/agents", json=big, headers=a).status_code == 429
        # Another account is not held back by the first one.
        assert client.get("/v1/account", headers=b).status_code == 200


def test_creating_things_has_an_allowance_and_webhooks_a_most(services: Any) -> None:
    limits = ApiLimits(creates=Rate(burst=2, per_hour=1.0), max_webhooks=3)
    svc = _limited(services, limits)
    a = bearer(accounts.create_account(svc.cp, "creates-a").key)
    with TestClient(create_app(svc.config, services=svc)) as client:
        for i in range(2):
            body = {"agent_id": f"a{i}", "name": "A", "prompt": "p"}
            assert client.post("/v1/agents", json=body, headers=a).status_code == 201
        r = client.post("/v1/agents", json={"agent_id": "a9", "name": "A"}, headers=a)
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
        assert "agents created" in r.json()["detail"]
        # Webhooks have their own allowance, and a most per account.
        svc.config = dataclasses.replace(
            svc.config, limits=ApiLimits(creates=Rate(burst=10, per_hour=1.0), max_webhooks=2)
        )
        for i in range(2):
            hook = {"url": f"https://hooks.example.org/h{i}"}
            assert client.post("/v1/webhooks", json=hook, headers=a).status_code == 201
        r = client.post("/v1/webhooks", json={"url": "https://hooks.example.org/h"}, headers=a)
        assert r.status_code == 409 and "the most" in r.json()["detail"]


def test_the_settings_hand_the_api_its_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    from campaignflow.cli_api import api_config
    from campaignflow.config import Settings, settings

    defaults = Settings()
    assert (
        ApiLimits.hourly(
            defaults.api_requests_per_hour,
            defaults.api_creates_per_hour,
            defaults.api_forecast_contacts_per_hour,
            defaults.api_max_webhooks,
        )
        == ApiLimits()
    )
    monkeypatch.setenv("CAMPAIGNFLOW_API_REQUESTS_PER_HOUR", "120")
    monkeypatch.setenv("CAMPAIGNFLOW_API_MAX_WEBHOOKS", "3")
    settings.cache_clear()
    try:
        limits = api_config().limits
    finally:
        settings.cache_clear()
    assert limits.requests == Rate(burst=2, per_hour=120.0) and limits.max_webhooks == 3
