"""The webhook adapter against a local HTTP server (real sockets, no mocks), alone and on Kafka."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from dialer.calls import Call
from dialer.service import Dialer, DialerOptions
from dialer.webhook import WebhookAdapter
from topics import catalogue
from topics.clients import KafkaSettings

from .dialer_kit import (
    call_record,
    caught_up,
    drop_topics,
    make_topics,
    publish_calls,
    read_all,
    wait_for,
)

SECRET = "test-shared-secret-of-32-bytes-or-more"
NEW_SECRET = "new-secret-also-at-least-32-bytes-long"


def hmac_header(body: bytes, secret: str = SECRET, at: int | None = None) -> str:
    """Computed here independently of dialer.signing, as a provider would (t=...,v1=...)."""
    t = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def valid_header(header: str | None, body: bytes) -> bool:
    """What a provider checks on a call it receives."""
    if not header or not header.startswith("t="):
        return False
    t = int(header.split(",")[0][2:])
    return header == hmac_header(body, SECRET, t) and abs(time.time() - t) <= 300


class Provider:
    """A telephony service: behaviour chosen by the contact id of each call."""

    def __init__(self) -> None:
        self.posts: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.bad_signatures = 0
        self.callback_statuses: list[int] = []
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/calls", self.on_call)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server: Any = site._server
        self.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/calls"

    async def stop(self) -> None:
        for t in list(self._tasks):
            await t
        if self._runner is not None:
            await self._runner.cleanup()

    async def on_call(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not valid_header(request.headers.get("X-Campaignflow-Signature"), body):
            self.bad_signatures += 1
            return web.Response(status=401)
        call = json.loads(body)
        # call ids are unique per account only: the key names both
        assert request.headers["Idempotency-Key"] == f"{call['account_id']}/{call['call_id']}"
        self.posts[call["call_id"]].append(call)
        kind = call["contact_id"].split("-")[0]
        if kind == "bad":
            return web.Response(status=400, text="number blocked")
        if kind == "flaky" and len(self.posts[call["call_id"]]) <= 2:
            return web.Response(status=503, text="try later")
        if kind == "sync":
            return web.json_response({"status": "busy", "hangup_cause": "USER_BUSY"})
        if kind == "silent":
            return web.Response(status=202)  # the test sends the callbacks itself
        task = asyncio.ensure_future(self.call_back(call))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return web.Response(status=202)

    async def call_back(self, call: dict[str, Any]) -> None:
        asks = {"callback_at": CALLBACK_AT} if call["contact_id"] == "ok-2" else {}
        status = await post_outcome(
            call["callback_url"], call["call_id"], "answered", account_id=call["account_id"], **asks
        )
        self.callback_statuses.append(status)


async def post_outcome(
    url: str,
    call_id: str,
    status: str,
    signature: str | None = "good",
    secret: str = SECRET,
    account_id: str = "acme",
    **extra: Any,
) -> int:
    body = json.dumps(
        {
            "call_id": call_id,
            "account_id": account_id,
            "status": status,
            "duration_seconds": 42.5,
            "hangup_cause": "NORMAL",
            **extra,
        }
    ).encode()
    headers = {"Content-Type": "application/json"}
    if signature == "good":
        headers["X-Campaignflow-Signature"] = hmac_header(body, secret)
    elif signature == "wrong":
        headers["X-Campaignflow-Signature"] = hmac_header(body, "not-the-secret-" + "x" * 32)
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body, headers=headers) as r,
    ):
        return r.status


CALLBACK_AT = "2026-12-07T15:00:00Z"


async def post_inbound(url: str, call_id: str, kind: str) -> int:
    """A provider's signed inbound-call event on the adapter's callback server."""
    body = json.dumps(
        {"call_id": call_id, "agent_id": "bot", "kind": kind, "account_id": "acme"}
    ).encode()
    headers = {"Content-Type": "application/json", "X-Campaignflow-Signature": hmac_header(body)}
    async with (
        aiohttp.ClientSession() as session,
        session.post(url + "/inbound", data=body, headers=headers) as r,
    ):
        return r.status


def make_call(contact: str) -> Call:
    return Call.from_record(call_record("camp", contact))


def adapter_for(provider: Provider) -> WebhookAdapter:
    return WebhookAdapter(
        provider.url, SECRET, callback_port=0, retries=3, backoff=0.01, dialer_id="w1"
    )


def test_webhook_adapter_signs_retries_on_503_and_fails_on_400() -> None:
    async def scenario() -> None:
        provider = Provider()
        await provider.start()
        adapter = adapter_for(provider)
        orphans: list[tuple[str, Any]] = []
        await adapter.start(lambda e: None, lambda _a, cid, o: orphans.append((cid, o)))
        try:
            handoffs: list[str] = []
            ok, flaky, bad, sync = await asyncio.gather(
                adapter.place_call(make_call("ok-1"), lambda: handoffs.append("ok")),
                adapter.place_call(make_call("flaky-1"), lambda: handoffs.append("flaky")),
                adapter.place_call(make_call("bad-1"), lambda: handoffs.append("bad")),
                adapter.place_call(make_call("sync-1")),
            )
        finally:
            await provider.stop()
            await adapter.close()
        assert provider.bad_signatures == 0  # every POST carried a valid HMAC of its body
        assert ok is not None and ok.status == "answered" and ok.duration_seconds == 42.5
        assert flaky is not None and flaky.status == "answered"
        assert len(provider.posts["camp/flaky-1/1"]) == 3  # two 503s, then accepted
        assert bad is not None and bad.status == "failed"
        assert bad.hangup_cause == "http_4xx:400"  # the far side's body is not stored
        assert len(provider.posts["camp/bad-1/1"]) == 1  # a 4xx is not retried
        assert sync is not None and sync.status == "busy"
        assert sorted(handoffs) == ["flaky", "ok"]  # a rejected call was never handed off
        assert provider.callback_statuses == [200, 200]
        assert orphans == []

    asyncio.run(scenario())


def test_webhook_adapter_gives_up_after_retries_with_a_failed_outcome() -> None:
    async def scenario() -> None:
        provider = Provider()
        await provider.start()
        adapter = WebhookAdapter(provider.url, SECRET, retries=1, backoff=0.01)

        async def always_503(request: web.Request) -> web.Response:
            return web.Response(status=503)

        app = web.Application()
        app.router.add_post("/calls", always_503)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        server: Any = site._server
        adapter.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/calls"
        await adapter.start(lambda e: None, lambda _a, cid, o: None)
        try:
            outcome = await adapter.place_call(make_call("x-1"))
        finally:
            await adapter.close()
            await runner.cleanup()
            await provider.stop()
        assert outcome is not None and outcome.status == "failed"
        assert outcome.hangup_cause == "webhook_unavailable: HTTP 503 after 2 attempt(s)"

    asyncio.run(scenario())


def test_outcome_callback_is_accepted_only_with_a_valid_signature() -> None:
    async def scenario() -> None:
        provider = Provider()
        await provider.start()
        adapter = adapter_for(provider)
        orphans: list[tuple[str, Any]] = []
        await adapter.start(lambda e: None, lambda _a, cid, o: orphans.append((cid, o)))
        callback = adapter.callback_url + "/outcome"
        try:
            placing = asyncio.ensure_future(adapter.place_call(make_call("silent-1")))
            while "camp/silent-1/1" not in provider.posts:
                await asyncio.sleep(0.01)
            assert await post_outcome(callback, "camp/silent-1/1", "busy", signature=None) == 401
            assert await post_outcome(callback, "camp/silent-1/1", "busy", signature="wrong") == 401
            assert not placing.done()  # unsigned outcomes changed nothing
            assert await post_outcome(callback, "camp/silent-1/1", "no_answer") == 200
            outcome = await placing
            # A signed outcome for a call nobody waits for (placed before a restart) goes on.
            assert await post_outcome(callback, "camp/earlier/2", "answered") == 202
            assert await post_outcome(callback, "camp/earlier/2", "ringing") == 400
        finally:
            await provider.stop()
            await adapter.close()
        assert outcome is not None and outcome.status == "no_answer"
        assert [(cid, o.status) for cid, o in orphans] == [("camp/earlier/2", "answered")]

    asyncio.run(scenario())


def test_rotation_accepts_the_previous_secret_and_signs_with_the_new_one() -> None:
    async def scenario() -> None:
        provider = Provider()
        await provider.start()
        adapter = WebhookAdapter(
            provider.url,
            NEW_SECRET,
            previous_secret=SECRET,
            callback_port=0,
            retries=1,
            backoff=0.01,
        )
        orphans: list[tuple[str, Any]] = []
        await adapter.start(lambda e: None, lambda _a, cid, o: orphans.append((cid, o)))
        callback = adapter.callback_url + "/outcome"
        try:
            assert await post_outcome(callback, "camp/a/1", "answered", secret=SECRET) == 202
            assert await post_outcome(callback, "camp/b/1", "answered", secret=NEW_SECRET) == 202
            assert (
                await post_outcome(callback, "camp/c/1", "answered", secret="unknown-" + "u" * 32)
                == 401
            )
        finally:
            await provider.stop()
            await adapter.close()
        assert [cid for cid, _ in orphans] == ["camp/a/1", "camp/b/1"]

    asyncio.run(scenario())


@pytest.fixture()
def topics(kafka_bootstrap: str, topic_prefix: str) -> Iterator[str]:
    names = make_topics(topic_prefix)
    yield topic_prefix
    drop_topics(names)


def test_webhook_dialer_on_kafka_publishes_outcomes(
    kafka_bootstrap: str, topics: str, tmp_path: Path
) -> None:
    call_topic = catalogue.topic_name(catalogue.CALL_CREATE, topics)
    calls = [call_record("camp", c) for c in ("ok-1", "ok-2", "flaky-1", "bad-1")]
    publish_calls(kafka_bootstrap, call_topic, calls + calls[:1])  # one duplicate
    group = f"g-{uuid.uuid4().hex[:6]}"
    provider = Provider()
    loop = asyncio.new_event_loop()
    holder: dict[str, Dialer] = {}
    started = threading.Event()

    async def main() -> None:
        await provider.start()
        dialer = Dialer(
            adapter_for(provider),
            DialerOptions(
                dialer_id="w1",
                group_id=group,
                kafka=KafkaSettings(kafka_bootstrap),
                topic_prefix=topics,
            ),
        )
        holder["dialer"] = dialer
        started.set()
        await dialer.run()
        await provider.stop()

    thread = threading.Thread(target=lambda: loop.run_until_complete(main()), daemon=True)
    thread.start()
    try:
        started.wait(30)
        wait_for("the dialer to commit", lambda: caught_up(kafka_bootstrap, group, call_topic))
        callback_url = holder["dialer"].adapter.callback_url  # type: ignore[attr-defined]
        for kind in ("started", "ended"):
            assert asyncio.run(post_inbound(callback_url, "in-1", kind)) == 200
    finally:
        loop.call_soon_threadsafe(holder["dialer"].stop)
        thread.join(60)
    out = [
        r
        for _m, e, r in read_all(kafka_bootstrap, catalogue.topic_name(catalogue.OUTCOMES, topics))
        if e == "CallOutcome"
    ]
    assert Counter(r["call_id"] for r in out) == Counter({c["call_id"]: 1 for c in calls})
    status = {r["call_id"]: (r["status"], r["hangup_cause"]) for r in out}
    assert status["camp/ok-1/1"] == ("answered", "NORMAL")
    assert status["camp/flaky-1/1"][0] == "answered"
    assert status["camp/bad-1/1"][0] == "failed" and status["camp/bad-1/1"][1] == "http_4xx:400"
    assert len(provider.posts["camp/ok-1/1"]) == 1  # the duplicate call:create was not POSTed
    assert provider.bad_signatures == 0
    asked = {r["call_id"]: r["callback_at"] for r in out}
    assert asked["camp/ok-2/1"] == int(datetime(2026, 12, 7, 15, tzinfo=UTC).timestamp() * 1000)
    assert asked["camp/ok-1/1"] is None
    inbound = read_all(kafka_bootstrap, catalogue.topic_name(catalogue.INBOUND, topics))
    assert [(m.key(), r["call_id"], r["kind"]) for m, _e, r in inbound] == [
        (catalogue.account_key("acme"), "in-1", "started"),
        (catalogue.account_key("acme"), "in-1", "ended"),
    ]
