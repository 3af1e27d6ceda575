"""Webhook callbacks: no replay, no outcome for a call never placed, no 500, no weak secret.

Signatures are computed here independently of `dialer.signing`, as a provider would.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from typer.testing import CliRunner

from campaignflow.cli import app as cli_app
from campaignflow.config import settings
from dialer import signing
from dialer.calls import Call, Outcome, call_key
from dialer.exceptions import UnknownCall
from dialer.placed import REPORTED
from dialer.service import Dialer, DialerOptions
from dialer.webhook import MAX_ANSWER_BYTES, MAX_CAUSE_CHARS, WebhookAdapter
from tests.integration.dialer_kit import call_record, drop_topics, make_topics, read_all
from topics import catalogue
from topics.clients import KafkaSettings

SECRET = "a-webhook-secret-of-at-least-32-bytes!"
OLD_SECRET = "the-previous-secret-also-32-bytes-long"


def header(body: bytes, secret: str = SECRET, at: float | None = None) -> str:
    t = int(time.time() if at is None else at)
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


async def post(url: str, body: bytes, sig: str | None) -> tuple[int, str]:
    headers = {"Content-Type": "application/json"}
    if sig is not None:
        headers["X-Campaignflow-Signature"] = sig
    async with aiohttp.ClientSession() as s, s.post(url, data=body, headers=headers) as r:
        return r.status, await r.text()


def outcome_body(call_id: str, account_id: str = "acme", **extra: Any) -> bytes:
    body = {"call_id": call_id, "account_id": account_id, "status": "answered", **extra}
    return json.dumps(body).encode()


Sink = Callable[[str, str, Outcome], None]  # (account_id, call_id, outcome)


def with_adapter(
    scenario: Callable[[WebhookAdapter, str], Awaitable[None]],
    orphan: Sink | None = None,
    **kwargs: Any,
) -> list[tuple[str, Outcome]]:
    """Run `scenario(adapter, callback url)` against a started adapter; returns orphans taken."""
    taken: list[tuple[str, Outcome]] = []

    def keep(account_id: str, call_id: str, outcome: Outcome) -> None:
        taken.append((call_id, outcome))

    async def main() -> None:
        adapter = WebhookAdapter("http://127.0.0.1:9/unused", SECRET, callback_port=0, **kwargs)
        await adapter.start(lambda e: None, orphan or keep)
        try:
            await scenario(adapter, adapter.callback_url + "/outcome")
        finally:
            await adapter.close()

    asyncio.run(main())
    return taken


def test_a_replayed_or_future_dated_callback_is_refused() -> None:
    body = outcome_body("camp/c1/1")

    async def scenario(adapter: WebhookAdapter, url: str) -> None:
        now = time.time()
        assert (await post(url, body, header(body, at=now - 310)))[0] == 401  # captured, replayed
        assert (await post(url, body, header(body, at=now + 310)))[0] == 401  # dated ahead
        assert (await post(url, body, header(body, at=now - 200)))[0] == 202  # within 5 minutes
        # The timestamp is signed: re-dating a captured request breaks its MAC.
        old = header(body, at=now - 400)
        redated = f"t={int(now)}," + old.split(",", 1)[1]
        assert (await post(url, body, redated))[0] == 401
        # The old body-only scheme is refused.
        bare = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert (await post(url, body, bare))[0] == 401

    taken = with_adapter(scenario)
    assert [cid for cid, _ in taken] == ["camp/c1/1"]


def test_the_tolerance_is_configurable() -> None:
    body = outcome_body("camp/c1/1")

    async def scenario(adapter: WebhookAdapter, url: str) -> None:
        assert (await post(url, body, header(body, at=time.time() - 60)))[0] == 401
        assert (await post(url, body, header(body, at=time.time() - 5)))[0] == 202

    with_adapter(scenario, tolerance_s=30)


def test_rotation_still_accepts_the_previous_secret_within_the_tolerance() -> None:
    body = outcome_body("camp/c1/1")

    async def scenario(adapter: WebhookAdapter, url: str) -> None:
        assert (await post(url, body, header(body, OLD_SECRET)))[0] == 202
        assert (await post(url, body, header(body, OLD_SECRET, time.time() - 600)))[0] == 401
        assert (await post(url, body, header(body, "x" * 40)))[0] == 401

    with_adapter(scenario, previous_secret=OLD_SECRET)


MALFORMED = [
    b'{"call_id": "camp/c1/1", "account_id": "acme", "status": "answered", "callback_at": "at 3pm"}',
    b'{"call_id": "camp/c1/1", "account_id": "acme", "status": "answered", "callback_at": "2026-12-07T15:00"}',
    b'{"call_id": "camp/c1/1", "account_id": "acme", "status": "answered", "ended_at": 1e400}',
    b'{"call_id": "camp/c1/1", "account_id": "acme", "status": "answered", "ended_at": -1}',
    b'{"call_id": "camp/c1/1", "account_id": "acme", "status": "answered", "ended_at": "yesterday"}',
    b'{"call_id": "camp/c1/1", "account_id": "acme", "status": "answered", "started_at": true}',
    b'{"call_id": "camp/c1/1", "account_id": "acme", "status": "answered", "answered_at": [1]}',
    b'{"call_id": "camp/c1/1", "account_id": "acme", "status": "answered", "duration_seconds": NaN}',
    b'{"call_id": "camp/c1/1", "account_id": "acme", "status": "answered", "duration_seconds": {"s": 1}}',
    b'{"call_id": "camp/c1/1", "account_id": "acme", "status": "answered", "hangup_cause": 17}',
    b'{"call_id": "camp/c1/1", "account_id": "acme", "status": ["answered"]}',
    b'{"call_id": {"a": 1}, "account_id": "acme", "status": "answered"}',
    b'{"call_id": "' + b"x" * 600 + b'", "account_id": "acme", "status": "answered"}',
    b'{"call_id": "camp/c1/1", "status": "answered"}',
    b'{"call_id": "camp/c1/1", "account_id": 7, "status": "answered"}',
    b'{"call_id": "camp/c1/1", "account_id": "acme", "status": "answered", "x": '
    + b"[" * 100_000
    + b"]" * 100_000
    + b"}",
    b"[" * 200_000,
    b"\xff\xfe not utf-8",
    b"[1, 2]",
]


def test_malformed_values_are_a_400_never_a_500() -> None:
    async def scenario(adapter: WebhookAdapter, url: str) -> None:
        for body in MALFORMED:
            status, text = await post(url, body, header(body))
            assert status == 400, (body[:80], status, text)
            if b"callback_at" in body:
                assert "callback_at" in text  # the field is named
        inbound = adapter.callback_url + "/inbound"
        for body in (
            b'{"call_id": "i1", "agent_id": "a", "kind": "started", "account_id": "x", "at": 1e400}',
            b'{"call_id": ["i1"], "agent_id": "a", "kind": "started", "account_id": "x"}',
            b'{"call_id": "i1", "agent_id": "a", "kind": "started", "account_id": 5}',
            b'{"call_id": "i1", "agent_id": "a", "kind": "started"}',
        ):
            status, text = await post(inbound, body, header(body))
            assert status == 400, (body, status, text)

    assert with_adapter(scenario) == []


def test_secrets_shorter_than_32_bytes_are_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 32"):
        WebhookAdapter("http://127.0.0.1:9/", "short-secret")
    with pytest.raises(ValueError, match="previous webhook secret.*at least 32"):
        WebhookAdapter("http://127.0.0.1:9/", SECRET, previous_secret="old")
    env = {
        "CAMPAIGNFLOW_HOME": str(tmp_path),
        "CAMPAIGNFLOW_DIALER_ADAPTER": "webhook",
        "CAMPAIGNFLOW_DIALER_WEBHOOK_URL": "http://127.0.0.1:9/calls",
        "CAMPAIGNFLOW_DIALER_WEBHOOK_SECRET": "s" * 31,
        "CAMPAIGNFLOW_DIALER_METRICS_PORT": "0",
    }
    settings.cache_clear()
    try:
        result = CliRunner().invoke(cli_app, ["dialer"], env=env)
    finally:
        settings.cache_clear()
    assert result.exit_code == 2
    assert "(CAMPAIGNFLOW_DIALER_WEBHOOK_SECRET) has 31 bytes" in result.output
    assert "Traceback" not in result.output


def test_the_far_sides_4xx_body_is_not_stored_as_hangup_cause() -> None:
    secret_body = "blocked +15551234567 <script>alert(1)</script> " + "z" * 10_000

    async def main() -> Outcome | None:
        async def refuse(request: web.Request) -> web.Response:
            return web.Response(status=403, text=secret_body)

        far = web.Application()
        far.router.add_post("/calls", refuse)
        runner = web.AppRunner(far, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        adapter = WebhookAdapter(
            f"http://127.0.0.1:{port}/calls", SECRET, callback_port=0, retries=0
        )
        await adapter.start(lambda e: None, lambda a, c, o: None)
        try:
            return await adapter.place_call(Call.from_record(call_record("camp", "c1")))
        finally:
            await adapter.close()
            await runner.cleanup()

    outcome = asyncio.run(main())
    assert outcome is not None and outcome.status == "failed"
    assert outcome.hangup_cause == "http_4xx:403"


def test_a_callbacks_hangup_cause_is_bounded_and_sanitised() -> None:
    body = outcome_body("camp/c1/1", hangup_cause="NORMAL\n+15551234567 <b>" + "y" * 500)

    async def scenario(adapter: WebhookAdapter, url: str) -> None:
        assert (await post(url, body, header(body)))[0] == 202

    taken = with_adapter(scenario)
    cause = taken[0][1].hangup_cause or ""
    assert len(cause) <= MAX_CAUSE_CHARS
    assert cause.startswith("NORMAL_") and "<" not in cause and "\n" not in cause


def test_an_outcome_for_a_call_this_dialer_never_placed_is_a_404(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    """Through the real dialer's orphan path: its dedupe record says what it placed."""
    names = make_topics(topic_prefix)
    try:
        dialer = Dialer(
            WebhookAdapter("http://127.0.0.1:9/unused", SECRET, callback_port=0),
            DialerOptions(
                dialer_id="sec-1",
                group_id="sec-g",
                kafka=KafkaSettings(kafka_bootstrap),
                topic_prefix=topic_prefix,
            ),
        )
        # placed and reported before a restart (as the placed-call record restores it):
        # nobody waits for it
        dialer.placed._set(call_key("acme", "camp/placed/1"), REPORTED)

        async def scenario(adapter: WebhookAdapter, url: str) -> None:
            never = outcome_body("victim-campaign/c9/1")
            status, text = await post(url, never, header(never))
            assert status == 404 and "no call" in text
            # call ids are per account: another account's call of the same id was not placed
            other = outcome_body("camp/placed/1", account_id="mallory")
            assert (await post(url, other, header(other)))[0] == 404
            placed = outcome_body("camp/placed/1")
            assert (await post(url, placed, header(placed)))[0] == 202

        def orphan(account_id: str, call_id: str, outcome: Outcome) -> None:
            dialer._publish_orphan(account_id, call_id, outcome)

        with_adapter(scenario, orphan=orphan)
        with pytest.raises(UnknownCall):
            dialer._publish_orphan("acme", "other/c/1", Outcome("answered", ended_at=1))
        dialer.producer.flush(30)
        out = read_all(kafka_bootstrap, catalogue.topic_name(catalogue.OUTCOMES, topic_prefix))
        got = [(m.key(), r["account_id"], r["call_id"]) for m, e, r in out if e == "CallOutcome"]
        assert got == [(b"acme", "acme", "camp/placed/1")]
    finally:
        drop_topics(names)


def test_a_callback_replayed_within_the_window_is_refused() -> None:
    """Issue 21 item 16: the same signed callback again is a 409 and publishes nothing."""
    body = outcome_body("camp/c1/1")
    inbound = json.dumps(
        {"call_id": "i1", "agent_id": "a", "kind": "started", "account_id": "acme"}
    ).encode()
    taken_inbound: list[Any] = []

    async def scenario(adapter: WebhookAdapter, url: str) -> None:
        adapter._inbound = taken_inbound.append
        captured = header(body, at=time.time() - 100)
        assert (await post(url, body, captured))[0] == 202
        status, text = await post(url, body, captured)  # replayed as captured
        assert status == 409 and "replay" in text
        # extra signatures or whitespace do not make it a new request
        padded = captured.replace(",", ", ") + ",v1=" + "0" * 64
        assert (await post(url, body, padded))[0] == 409
        # a new request signed by the far side (a retry with a fresh time) is taken
        assert (await post(url, body, header(body)))[0] == 202
        inbound_url = adapter.callback_url + "/inbound"
        signed = header(inbound)
        assert (await post(inbound_url, inbound, signed))[0] == 200
        assert (await post(inbound_url, inbound, signed))[0] == 409

    taken = with_adapter(scenario)
    assert [cid for cid, _ in taken] == ["camp/c1/1", "camp/c1/1"]  # not three
    assert len(taken_inbound) == 1


def test_a_refused_callback_is_not_remembered() -> None:
    """Only accepted callbacks count as seen: a 404 sent again is a 404, not a 409."""
    body = outcome_body("victim/c9/1")

    def unknown(account_id: str, call_id: str, outcome: Outcome) -> None:
        raise UnknownCall(call_id)

    async def scenario(adapter: WebhookAdapter, url: str) -> None:
        signed = header(body)
        assert (await post(url, body, signed))[0] == 404
        assert (await post(url, body, signed))[0] == 404

    with_adapter(scenario, orphan=unknown)


def test_the_seen_callbacks_are_bounded() -> None:
    """At `max_seen` callbacks within the tolerance a new one waits (503, Retry-After);
    none is forgotten early, so no replay reopens."""
    bodies = [outcome_body(f"camp/c{i}/1") for i in range(3)]

    async def scenario(adapter: WebhookAdapter, url: str) -> None:
        first = header(bodies[0])
        assert (await post(url, bodies[0], first))[0] == 202
        assert (await post(url, bodies[1], header(bodies[1])))[0] == 202
        headers = {"X-Campaignflow-Signature": header(bodies[2])}
        async with aiohttp.ClientSession() as s, s.post(url, data=bodies[2], headers=headers) as r:
            assert r.status == 503 and r.headers["Retry-After"]
        assert (await post(url, bodies[0], first))[0] == 409

    taken = with_adapter(scenario, max_seen=2)
    assert len(taken) == 2


def test_a_seen_callback_is_forgotten_once_past_the_tolerance() -> None:
    """Memory stays bounded by the window: what verification refuses anyway is dropped."""
    seen = signing.Seen(tolerance_s=300, max_entries=10)
    body = b'{"call_id":"camp/c1/1","status":"answered"}'
    now = 1_800_000_000.0
    request = signing.verified([SECRET], body, header(body, at=now), now)
    assert request is not None
    seen.remember(request)
    assert seen.seen(request, now + 300) and len(seen) == 1
    assert not seen.seen(request, now + 301) and len(seen) == 0
    assert signing.verified([SECRET], body, header(body, at=now), now + 301) is None


def test_the_far_sides_answer_is_read_up_to_a_cap() -> None:
    """A far side answering a hand-off or a status with megabytes is not read whole."""
    total = 64 * MAX_ANSWER_BYTES
    sent: list[int] = []

    async def main() -> tuple[Outcome | None, str]:
        async def flood(request: web.Request) -> web.StreamResponse:
            await request.read()
            resp = web.StreamResponse(status=200)
            resp.content_length = total
            await resp.prepare(request)
            count = 0
            try:
                while count < total:
                    await resp.write(b"{" * (1 << 16))
                    count += 1 << 16
            except (ConnectionError, OSError):
                pass
            finally:
                sent.append(count)
            return resp

        far = web.Application()
        far.router.add_post("/calls", flood)
        far.router.add_get("/calls/status", flood)
        runner = web.AppRunner(far, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        adapter = WebhookAdapter(
            f"http://127.0.0.1:{port}/calls", SECRET, callback_port=0, retries=0
        )
        await adapter.start(lambda e: None, lambda c, o: None)
        call = Call.from_record(call_record("camp", "c1"))
        call = dataclasses.replace(call, deadline=int(time.time() * 1000))  # no wait after
        try:
            outcome = await adapter.place_call(call)
            with pytest.raises(LookupError, match="answer over") as err:
                await adapter.lookup(call, 0)
            return outcome, str(err.value)
        finally:
            await adapter.close()
            await runner.cleanup()

    outcome, _ = asyncio.run(main())
    assert outcome is None  # handed off, no outcome read from the flood; the callback decides
    assert len(sent) == 2 and all(n < total // 4 for n in sent), sent
