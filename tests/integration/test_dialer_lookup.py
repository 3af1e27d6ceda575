"""The adapters' `lookup` (reconciling a predecessor's calls): the webhook's status query
against a far side that keeps calls by Idempotency-Key, and the simulator from its script."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from aiohttp import web

from dialer.adapter import ENDED, IN_PROGRESS, SILENT, UNKNOWN
from dialer.calls import Call
from dialer.script import Script, Scripted
from dialer.signing import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, verify
from dialer.simulator import SimulatorAdapter, SimulatorConfig
from dialer.webhook import WebhookAdapter

SECRET = "lookup-secret-of-at-least-32-bytes!"


def call(contact: str, *, created_ms: int | None = None) -> Call:
    now = created_ms if created_ms is not None else int(time.time() * 1000)
    return Call(
        f"camp/{contact}/1",
        "camp",
        "acme",
        contact,
        1,
        "+15550100001",
        "+15550100000",
        "bot",
        "",
        now,
        now + 60_000,
    )


class FarSide:
    """A telephony service as the contract says: calls by Idempotency-Key, GET /status."""

    def __init__(self) -> None:
        # keyed <account_id>/<call_id>: call ids are unique per account only
        self.calls: dict[str, dict[str, Any]] = {
            "acme/camp/done/1": {
                "state": "ended",
                "outcome": {"status": "answered", "ended_at": 5},
            },
            "acme/camp/ringing/1": {"state": "in_progress"},
            "acme/camp/quiet/1": {"state": "silent"},
        }
        self.unsigned = 0
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def status(self, request: web.Request) -> web.Response:
        key = request.headers.get(IDEMPOTENCY_HEADER, "")
        if not verify([SECRET], key.encode(), request.headers.get(SIGNATURE_HEADER), time.time()):
            self.unsigned += 1
            return web.Response(status=401)
        found = self.calls.get(key)
        if found is None:
            return web.Response(status=404)
        return web.Response(text=json.dumps(found), content_type="application/json")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/calls/status", self.status)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        assert self.runner is not None
        await self.runner.cleanup()


def test_webhook_lookup_asks_the_far_side_by_idempotency_key() -> None:
    async def scenario() -> None:
        far = FarSide()
        await far.start()
        adapter = WebhookAdapter(f"http://127.0.0.1:{far.port}/calls", SECRET, callback_port=0)
        await adapter.start(lambda e: None, lambda a, c, o: None)
        try:
            done = await adapter.lookup(call("done"), 0)
            assert done.state == ENDED and done.outcome is not None
            assert done.outcome.status == "answered" and done.outcome.ended_at == 5
            assert (await adapter.lookup(call("ringing"), 0)).state == IN_PROGRESS
            assert (await adapter.lookup(call("quiet"), 0)).state == SILENT
            assert (await adapter.lookup(call("never-heard-of"), 0)).state == UNKNOWN
            assert far.unsigned == 0
        finally:
            await adapter.close()
            await far.stop()

    asyncio.run(scenario())


def test_simulator_lookup_answers_from_its_script() -> None:
    now = int(time.time() * 1000)
    script = Script(
        by_contact={
            ("over", 1): Scripted("busy", 1.0),
            ("long", 1): Scripted("answered", 3600.0),
            ("mute", 1): Scripted("none", 0.0),
        }
    )
    sim = SimulatorAdapter(SimulatorConfig(time_scale=1, script=script))

    async def scenario() -> None:
        over = await sim.lookup(call("over", created_ms=now - 10_000), now - 9_000)
        assert over.state == ENDED and over.outcome is not None
        assert over.outcome.status == "busy" and over.outcome.started_at == now - 9_000
        long = await sim.lookup(call("long", created_ms=now), now)
        assert long.state == IN_PROGRESS and long.ends_at_ms == now + 3_600_000
        assert (await sim.lookup(call("mute", created_ms=now - 1000), now)).state == SILENT

    asyncio.run(scenario())
