"""The dialer's pre-dial check (issue 23 item 2) against a real HTTP server on 127.0.0.1.

Dial only on `{"dial": true}`; `{"dial": false}` is `skipped` with `predial:<reason>`;
a slow, failing, redirecting, huge or garbage answer, a refused connection, an address
that is not public or a missing secret follows `on_error` (skip: `skipped`, never dialled; dial: dialled). The request is
signed with the account's secret; checks of different calls are in flight together.
"""

from __future__ import annotations

import asyncio
import json
import socket
import stat
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from dialer.calls import Call, PredialSpec
from dialer.predial import (
    MAX_ANSWER_BYTES,
    PredialChecker,
    PredialSecrets,
    create_secret,
    reason_text,
)
from dialer.service import ReadCall
from dialer.signing import SIGNATURE_HEADER, verify
from tests.unit.test_dialer_recording import make_dialer

pytestmark = pytest.mark.unit

TO = "+15550100001"


@dataclass
class Server:
    """What the test server saw, and the gate that holds its `/gate` answers."""

    url: str = ""
    bodies: list[bytes] = field(default_factory=list)
    headers: list[str | None] = field(default_factory=list)
    in_flight: int = 0
    most_in_flight: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)


def routes(s: Server) -> web.Application:
    async def record(request: web.Request) -> None:
        s.bodies.append(await request.read())
        s.headers.append(request.headers.get(SIGNATURE_HEADER))

    def answer(payload: Any) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handler(request: web.Request) -> web.StreamResponse:
            await record(request)
            return web.json_response(payload)

        return handler

    async def slow(request: web.Request) -> web.StreamResponse:
        await record(request)
        await s.release.wait()
        return web.json_response({"dial": True})

    async def drip(request: web.Request) -> web.StreamResponse:
        await record(request)
        resp = web.StreamResponse()
        await resp.prepare(request)
        await resp.write(b'{"dial": ')
        await s.release.wait()
        await resp.write(b"true}")
        return resp

    async def gate(request: web.Request) -> web.StreamResponse:
        await record(request)
        s.in_flight += 1
        s.most_in_flight = max(s.most_in_flight, s.in_flight)
        try:
            await s.release.wait()
        finally:
            s.in_flight -= 1
        return web.json_response({"dial": True})

    async def status(request: web.Request) -> web.StreamResponse:
        await record(request)
        return web.Response(status=int(request.match_info["code"]), text="oops")

    async def garbage(request: web.Request) -> web.StreamResponse:
        await record(request)
        return web.Response(text='{"dial": tru')

    async def redirect(request: web.Request) -> web.StreamResponse:
        await record(request)
        raise web.HTTPFound("/yes")

    app = web.Application()
    app.router.add_post("/yes", answer({"dial": True}))
    app.router.add_post("/no", answer({"dial": False, "reason": " In arrears! <b>x</b> "}))
    app.router.add_post("/no-reason", answer({"dial": False}))
    app.router.add_post("/not-bool", answer({"dial": "yes"}))
    app.router.add_post("/list", answer([True]))
    # over 16 KiB of an answer that would say dial: the cap must win
    app.router.add_post("/huge", answer({"dial": True, "pad": "x" * MAX_ANSWER_BYTES}))
    app.router.add_post("/slow", slow)
    app.router.add_post("/drip", drip)
    app.router.add_post("/gate", gate)
    app.router.add_post("/status/{code}", status)
    app.router.add_post("/garbage", garbage)
    app.router.add_post("/redirect", redirect)
    return app


@asynccontextmanager
async def serving() -> AsyncIterator[Server]:
    s = Server()
    runner = web.AppRunner(routes(s))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    s.url = f"http://127.0.0.1:{port}"
    try:
        yield s
    finally:
        s.release.set()
        await runner.cleanup()


# A check of the endpoints that never answer times out after this; every other check gets
# the longest timeout a definition allows, so a slow machine never turns an answer into a
# timeout (the verdict is what is asserted, never how fast it came).
NEVER_ANSWER_TIMEOUT_MS = 300
NEVER_ANSWER = ("/slow", "/drip")


def call(url: str, on_error: str = "skip", timeout_ms: int = 10_000, n: int = 1) -> Call:
    return Call(
        f"camp/c{n}/1",
        "camp",
        "acme",
        f"c{n}",
        1,
        TO,
        "+15550100000",
        "bot",
        "",
        1,
        10**15,
        variables={"name": "Bob"},
        predial=PredialSpec(url, timeout_ms, on_error),
    )


@pytest.fixture
def secrets_dir(tmp_path: Path) -> Path:
    create_secret(tmp_path, "acme")
    return tmp_path


def ask(secrets_dir: Path, path: str, on_error: str) -> tuple[bool, str | None, Server]:
    async def main() -> tuple[bool, str | None, Server]:
        async with serving() as s:
            checker = PredialChecker(PredialSecrets(secrets_dir))
            url = path if "://" in path else s.url + path
            try:
                limit = NEVER_ANSWER_TIMEOUT_MS if path in NEVER_ANSWER else 10_000
                v = await checker.verdict(call(url, on_error, timeout_ms=limit))
            finally:
                await checker.close()
            return v.dial, v.cause, s

    return asyncio.run(main())


def test_yes_dials_and_the_request_is_signed_with_the_accounts_secret(secrets_dir: Path) -> None:
    dial, cause, s = ask(secrets_dir, "/yes", "skip")
    assert (dial, cause) == (True, None)
    secret = (secrets_dir / "acme.key").read_text().strip()
    assert verify([secret], s.bodies[0], s.headers[0], time.time())
    assert not verify(["x" * 64], s.bodies[0], s.headers[0], time.time())
    sent = json.loads(s.bodies[0])
    assert sent == {
        "call_id": "camp/c1/1",
        "campaign_id": "camp",
        "account_id": "acme",
        "contact_id": "c1",
        "attempt": 1,
        "to": TO,
        "from": "+15550100000",
        "variables": {"name": "Bob"},
    }


@pytest.mark.parametrize("on_error", ["skip", "dial"])
def test_no_is_skipped_with_the_reason_whatever_on_error(secrets_dir: Path, on_error: str) -> None:
    assert ask(secrets_dir, "/no", on_error)[:2] == (False, "predial:In_arrears_b_x_b")
    assert ask(secrets_dir, "/no-reason", on_error)[:2] == (False, "predial:refused")


FAILURES = [
    ("/slow", "timeout"),
    ("/drip", "timeout"),  # headers at once, the body never finishes
    ("/status/500", "http_500"),
    ("/status/503", "http_503"),
    ("/status/404", "http_404"),
    ("/garbage", "bad_json"),
    ("/not-bool", "bad_answer"),
    ("/list", "bad_answer"),
    ("/redirect", "redirect"),
    ("/huge", "too_large"),
]


@pytest.mark.parametrize(("path", "what"), FAILURES)
def test_a_failed_check_under_skip_is_skipped_never_dialled(
    secrets_dir: Path, path: str, what: str
) -> None:
    dial, cause, s = ask(secrets_dir, path, "skip")
    assert (dial, cause) == (False, f"predial_error:{what}")
    assert len(s.bodies) == 1  # a redirect is not followed


@pytest.mark.parametrize(("path", "what"), FAILURES)
def test_a_failed_check_under_dial_dials(secrets_dir: Path, path: str, what: str) -> None:
    assert ask(secrets_dir, path, "dial")[:2] == (True, None)


def refused_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/check"  # nobody listens there now


def test_a_refused_connection_follows_on_error(secrets_dir: Path) -> None:
    url = refused_url()
    assert ask(secrets_dir, url, "skip")[:2] == (False, "predial_error:unreachable")
    assert ask(secrets_dir, url, "dial")[:2] == (True, None)


@pytest.mark.parametrize(
    "url",
    [
        "https://10.1.2.3/check",
        "https://169.254.169.254/latest/meta-data",  # the cloud metadata service
        "https://192.168.0.1:8443/check",
        "https://[fd00::1]/check",
        "https://0.0.0.0/check",
    ],
)
def test_a_check_never_connects_to_a_non_public_address(secrets_dir: Path, url: str) -> None:
    """An account's URL must not reach the platform's network: refused at connect time, by
    the socket factory the webhooks use (dialer.targets); on_error decides as for any
    failed check."""
    assert ask(secrets_dir, url, "skip")[:2] == (False, "predial_error:refused_address")
    assert ask(secrets_dir, url, "dial")[:2] == (True, None)


@pytest.mark.parametrize(
    "url", ["http://checks.example.com/p", "ftp://127.0.0.1/p", "https://u:p@example.com/"]
)
def test_a_url_the_definition_would_refuse_is_not_asked(secrets_dir: Path, url: str) -> None:
    """A call.create is input too: the dialer checks the URL again (https; http to loopback)."""
    assert ask(secrets_dir, url, "skip")[:2] == (False, "predial_error:bad_url")


def test_without_a_secret_nothing_is_sent_and_on_error_decides(tmp_path: Path) -> None:
    dial, cause, s = ask(tmp_path, "/yes", "skip")
    assert (dial, cause, s.bodies) == (False, "predial_error:no_secret", [])
    assert ask(tmp_path, "/yes", "dial")[:2] == (True, None)


def test_the_secret_file_is_private_and_not_overwritten(tmp_path: Path) -> None:
    first = create_secret(tmp_path, "acme")
    mode = stat.S_IMODE((tmp_path / "acme.key").stat().st_mode)
    assert mode == 0o600 and len(first) == 64
    with pytest.raises(FileExistsError):
        create_secret(tmp_path, "acme")
    second = create_secret(tmp_path, "acme", replace=True)
    assert second != first and PredialSecrets(tmp_path).get("acme") == second
    with pytest.raises(ValueError, match="account id"):
        create_secret(tmp_path, "../etc")


def test_reasons_are_trimmed_to_safe_characters() -> None:
    assert reason_text("  do not call: DNC list  ") == "do_not_call_DNC_list"
    assert reason_text(None) == "refused" and reason_text(42) == "refused"
    assert len(reason_text("x" * 500)) == 48


def outcomes_of(dialer: Any, held: Any) -> dict[str, dict[str, Any]]:
    found = {}
    for topic, value, _key in held.produced:
        if topic.endswith("call.outcomes"):
            rec = dialer.codec.decode(value)[1]
            found[rec["call_id"]] = rec
    return found


async def wait_for(condition: Callable[[], bool], what: str) -> None:
    for _ in range(2000):  # a generous bound: 20 s
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"gave up waiting: {what}")


def test_the_dialer_overlaps_checks_and_reports_refused_calls_skipped(secrets_dir: Path) -> None:
    """20 calls held at the server at once: the placer never waits on one check to start
    the next; then the refused ones are `skipped` outcomes and never reach the adapter."""
    n = 20

    async def main() -> None:
        async with serving() as s:
            dialer, held, adapter = make_dialer(predial_secrets_dir=secrets_dir)
            dialer.placer.concurrency = 50
            for i in range(n):
                path = "/gate" if i % 2 == 0 else "/no"
                c = replace(call(s.url + path, timeout_ms=10_000, n=i), deadline=10**15)
                dialer.tracker.add("call.create", 0, i)
                dialer.placer.wait(ReadCall(c, "call.create", 0, i))
            dialer.placer.start_calls()
            held.ack()
            dialer.placer.start_calls()
            await wait_for(lambda: s.in_flight == n // 2, "every gated check in flight")
            assert s.most_in_flight == n // 2 and adapter.placed == []
            await wait_for(lambda: len(outcomes_of(dialer, held)) == n // 2, "the refusals")
            s.release.set()
            await wait_for(lambda: not dialer.placer.active, "the calls")
            await dialer.predial.close()
            outcomes = outcomes_of(dialer, held)
            assert sorted(adapter.placed) == sorted(f"camp/c{i}/1" for i in range(0, n, 2))
            skipped = {k: v for k, v in outcomes.items() if v["status"] == "skipped"}
            assert sorted(skipped) == sorted(f"camp/c{i}/1" for i in range(1, n, 2))
            assert {v["hangup_cause"] for v in skipped.values()} == {"predial:In_arrears_b_x_b"}
            assert dialer.tracker.take_ready()  # every call's offset may be committed

    asyncio.run(main())


def test_a_check_that_outlasts_the_calls_deadline_does_not_dial_it(secrets_dir: Path) -> None:
    async def main() -> None:
        async with serving() as s:
            dialer, held, adapter = make_dialer(predial_secrets_dir=secrets_dir)
            soon = int(time.time() * 1000) + 50  # before the check's 300 ms timeout
            c = replace(call(s.url + "/slow", on_error="dial", timeout_ms=300), deadline=soon)
            dialer.tracker.add("call.create", 0, 0)
            dialer.placer.wait(ReadCall(c, "call.create", 0, 0))
            dialer.placer.start_calls()
            held.ack()
            dialer.placer.start_calls()
            await wait_for(lambda: not dialer.placer.active, "the check")
            await dialer.predial.close()
            (outcome,) = outcomes_of(dialer, held).values()
            assert outcome["status"] == "failed"
            assert outcome["hangup_cause"].startswith("deadline_expired")
            assert adapter.placed == []

    asyncio.run(main())
