"""The HTTP webhook adapter: POST each call to a telephony/voice-agent service, take outcomes back.

Out: `POST <url>` with the call as JSON, `Idempotency-Key: <account_id>/<call_id>` (a
retried or replayed call is the same call to the far side; call ids are unique per account
only, so the key names the account) and `X-Campaignflow-Signature:
t=<unix s>,v1=<HMAC of "<t>.<body>">` (see `dialer.signing`). 2xx = handed off; the far
side may answer with the outcome at once (a JSON body with `status`) or later on the
callback. 5xx, 408, 429 and network errors are retried with doubling backoff; any other
4xx is final: the call ends `failed` with hang-up cause `http_4xx:<status>` (the far
side's body is never stored: it is theirs, unbounded, and may hold anything).

Status: `GET <url>/status` with `Idempotency-Key: <account_id>/<call_id>` and
`X-Campaignflow-Signature: sha256=<HMAC of that key>` asks what became of a call placed earlier (a dialer taking over
a partition asks about the calls its predecessor never reported). The far side answers 200
with `{"state": "ended", "outcome": {<as a callback>}}`, `{"state": "in_progress"}` or
`{"state": "silent"}` (ended, no outcome will come), or 404 when it has no call by that key.

In: a callback server (`POST /outcome`, `POST /inbound`) that accepts only bodies
signed with the same secret (or the one being rotated out) at a time within the
tolerance of now, so a captured callback cannot be replayed later; within the tolerance
an accepted callback is remembered (by the hash of its signed bytes, `signing.Seen`) and
the same one again is a 409, so it cannot re-publish an outcome either (a provider that
retries with a fresh signature sends a new request, which is taken). Past `max_seen`
callbacks within the tolerance a new one gets a 503 with Retry-After. Both carry the
`account_id` of the call sent out (outcomes) or of the agent (inbound). An outcome for a
call this dialer never placed is refused (404); one for a call it placed but is not
waiting for (placed before a restart) still goes to Kafka, through the orphan sink.
An outcome may carry `callback_at` (SPEC 9): an ISO 8601 instant with its zone, or epoch
millis. Malformed values (non-finite or out-of-range times, an instant without a zone,
wrong types, deep nesting) are a 400 naming the field, never a 500.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from campaigns.models import parse_instant_us
from dialer import metrics
from dialer.adapter import (
    ENDED,
    IN_PROGRESS,
    SILENT,
    UNKNOWN,
    HandOff,
    InboundSink,
    Lookup,
    OrphanSink,
    no_handoff,
)
from dialer.calls import STATUSES, Call, Inbound, Outcome, call_key, failed, now_ms
from dialer.exceptions import UnknownCall
from dialer.signing import (
    DEFAULT_TOLERANCE_S,
    IDEMPOTENCY_HEADER,
    MAX_SEEN,
    SIGNATURE_HEADER,
    Seen,
    Signed,
    check_secret,
    sign,
    verified,
)

log = logging.getLogger(__name__)

RETRYABLE = {408, 429}
MAX_BACKOFF = 30.0
MAX_EPOCH_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z: later is not a real time
MAX_DURATION_S = 7 * 24 * 3600.0
MAX_CALL_ID_CHARS = 512
MAX_CAUSE_CHARS = 64
MAX_INSTANT_CHARS = 64  # an ISO 8601 instant is about 30
MAX_ANSWER_BYTES = 1 << 20  # of an answer of the far side (a call's hand-off, a status)
_CAUSE_UNSAFE = re.compile(r"[^A-Za-z0-9_.:-]+")


class WebhookAdapter:
    """See module doc."""

    name = "webhook"

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        callback_host: str = "127.0.0.1",
        callback_port: int = 0,
        callback_url: str | None = None,
        timeout: float = 10.0,
        retries: int = 5,
        backoff: float = 0.5,
        dialer_id: str | None = None,
        previous_secret: str | None = None,
        tolerance_s: float = DEFAULT_TOLERANCE_S,
        max_seen: int = MAX_SEEN,
    ) -> None:
        check_secret(secret, "the webhook secret (CAMPAIGNFLOW_DIALER_WEBHOOK_SECRET)")
        if previous_secret:
            check_secret(
                previous_secret,
                "the previous webhook secret (CAMPAIGNFLOW_DIALER_WEBHOOK_PREVIOUS_SECRET)",
            )
        if not (math.isfinite(tolerance_s) and tolerance_s > 0):
            raise ValueError(f"the signature tolerance must be > 0 seconds, not {tolerance_s}")
        self.url = url
        self.secret = secret
        self.tolerance_s = tolerance_s
        self._seen = Seen(tolerance_s, max_seen)  # accepted callbacks, refused if sent again
        # During a rotation, callbacks signed with the old secret are still accepted.
        self.accepted_secrets = [secret] + ([previous_secret] if previous_secret else [])
        self.callback_host = callback_host
        self.callback_port = callback_port
        self._callback_url = callback_url
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.dialer_id = dialer_id
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self._waiting: dict[str, asyncio.Future[Outcome]] = {}
        self._inbound: InboundSink | None = None
        self._orphan: OrphanSink | None = None

    @property
    def callback_url(self) -> str:
        return self._callback_url or f"http://{self.callback_host}:{self.callback_port}"

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self, inbound: InboundSink, orphan: OrphanSink) -> None:
        self._inbound, self._orphan = inbound, orphan
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        app = web.Application(client_max_size=1 << 20)
        app.router.add_post("/outcome", self._on_outcome)
        app.router.add_post("/inbound", self._on_inbound)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.callback_host, self.callback_port)
        await site.start()
        if self.callback_port == 0:
            server: Any = site._server
            self.callback_port = server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        for fut in self._waiting.values():
            fut.cancel()
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # -- out ------------------------------------------------------------------------------

    async def place_call(self, call: Call, on_handoff: HandOff = no_handoff) -> Outcome | None:
        assert self._session is not None, "start() the adapter first"
        payload = call.to_json()
        payload["callback_url"] = self.callback_url.rstrip("/") + "/outcome"
        payload["dialer_id"] = self.dialer_id
        body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            IDEMPOTENCY_HEADER: call.key,
        }
        started = now_ms()
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Outcome] = loop.create_future()
        self._waiting[call.key] = waiter
        try:
            last = ""
            for attempt in range(self.retries + 1):
                if attempt:
                    await asyncio.sleep(min(self.backoff * 2 ** (attempt - 1), MAX_BACKOFF))
                # Signed per attempt: a retry minutes later carries a fresh timestamp.
                headers[SIGNATURE_HEADER] = sign(self.secret, body, int(time.time()))
                try:
                    async with self._session.post(self.url, data=body, headers=headers) as resp:
                        text = await capped_text(resp)
                        status = resp.status
                except (TimeoutError, aiohttp.ClientError) as exc:
                    metrics.ADAPTER_ERRORS.labels(self.name, "network").inc()
                    last = f"{type(exc).__name__}: {exc}"
                    continue
                if 200 <= status < 300:
                    on_handoff()
                    immediate = None if text is None else _outcome_from_body(text)
                    if immediate is not None:
                        return immediate
                    return await self._wait(call, waiter)
                if status >= 500 or status in RETRYABLE:
                    metrics.ADAPTER_ERRORS.labels(self.name, "http_5xx").inc()
                    last = f"HTTP {status}"
                    continue
                metrics.ADAPTER_ERRORS.labels(self.name, "http_4xx").inc()
                log.warning(
                    "webhook refused call %s: HTTP %d (body of %s not stored)",
                    call.call_id,
                    status,
                    "over the cap" if text is None else f"{len(text)} characters",
                )
                return failed(f"http_4xx:{status}", started)
            return failed(
                f"webhook_unavailable: {last} after {self.retries + 1} attempt(s)", started
            )
        finally:
            self._waiting.pop(call.key, None)

    async def _wait(self, call: Call, waiter: asyncio.Future[Outcome]) -> Outcome | None:
        """Wait for the callback until the call's deadline; after it the engine times it out."""
        left = call.deadline / 1000 - now_ms() / 1000
        try:
            return await asyncio.wait_for(waiter, timeout=max(left, 0.0))
        except TimeoutError:
            metrics.ADAPTER_ERRORS.labels(self.name, "no_callback").inc()
            return None

    async def lookup(self, call: Call, placed_at: int) -> Lookup:
        """Ask the far side about a call by its Idempotency-Key (see module doc); raises
        LookupError when it cannot say (network error, 5xx, an answer out of contract)."""
        assert self._session is not None, "start() the adapter first"
        headers = {
            IDEMPOTENCY_HEADER: call.key,
            SIGNATURE_HEADER: sign(self.secret, call.key.encode("utf-8"), int(time.time())),
        }
        url = self.url.rstrip("/") + "/status"
        try:
            async with self._session.get(url, headers=headers) as resp:
                status, capped = resp.status, await capped_text(resp)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise LookupError(f"status of {call.call_id}: {type(exc).__name__}: {exc}") from exc
        if status == 404:
            return Lookup(UNKNOWN)
        if capped is None:
            raise LookupError(f"status of {call.call_id}: answer over {MAX_ANSWER_BYTES} bytes")
        text = capped
        if status != 200:
            raise LookupError(f"status of {call.call_id}: HTTP {status}: {text[:200]}")
        try:
            data = json.loads(text)
            state = data["state"]
            if state == ENDED:
                return Lookup(ENDED, outcome_from_json(data["outcome"]))
            if state in (IN_PROGRESS, SILENT):
                return Lookup(state)
        except (ValueError, TypeError, KeyError) as exc:
            raise LookupError(f"status of {call.call_id}: bad answer {text[:200]!r}") from exc
        raise LookupError(f"status of {call.call_id}: unknown state {state!r}")

    # -- in -------------------------------------------------------------------------------

    async def _signed_json(self, request: web.Request) -> SignedBody | web.Response:
        """The verified JSON object of a callback, or the answer refusing it."""
        body = await request.read()
        now_s = time.time()
        header = request.headers.get(SIGNATURE_HEADER)
        signed = verified(self.accepted_secrets, body, header, now_s, self.tolerance_s)
        if signed is None:
            metrics.ADAPTER_ERRORS.labels(self.name, "bad_signature").inc()
            return web.Response(
                status=401, text="missing, invalid or expired signature (t=...,v1=...)"
            )
        if self._seen.seen(signed, now_s):
            metrics.ADAPTER_ERRORS.labels(self.name, "replayed").inc()
            return web.Response(
                status=409, text="this signed callback was already accepted (a replay)"
            )
        if self._seen.full(now_s):
            metrics.ADAPTER_ERRORS.labels(self.name, "replay_guard_full").inc()
            return web.Response(
                status=503,
                text="too many callbacks within the signature tolerance; retry later",
                headers={"Retry-After": "5"},
            )
        try:
            data = json.loads(body)
        except RecursionError:
            return web.Response(status=400, text="body is nested too deeply")
        except ValueError:
            return web.Response(status=400, text="body is not JSON")
        if not isinstance(data, dict):
            return web.Response(status=400, text="body is not a JSON object")
        return SignedBody(signed, data)

    def _answer(self, signed: SignedBody, response: web.Response) -> web.Response:
        """`response`, remembering an accepted callback so it is not accepted again.

        Called with no await since `_signed_json` checked it: the check and the
        remembering cannot interleave with the same request arriving twice at once.
        """
        if response.status < 300:
            self._seen.remember(signed.request)
        return response

    async def _on_outcome(self, request: web.Request) -> web.Response:
        signed = await self._signed_json(request)
        if isinstance(signed, web.Response):
            return signed
        return self._answer(signed, self._take_outcome(signed.data))

    def _take_outcome(self, data: dict[str, Any]) -> web.Response:
        call_id = data.get("call_id")
        if not isinstance(call_id, str) or not call_id:
            return web.Response(status=400, text="call_id is required (a string)")
        account_id = data.get("account_id")
        if not isinstance(account_id, str) or not account_id:
            # call ids are unique per account only: the call sent out carries its account
            return web.Response(status=400, text="account_id is required (a string)")
        if len(call_id) > MAX_CALL_ID_CHARS:
            return web.Response(status=400, text=f"call_id is over {MAX_CALL_ID_CHARS} characters")
        try:
            outcome = outcome_from_json(data)
        except (ValueError, TypeError) as exc:
            return web.Response(status=400, text=str(exc))
        waiter = self._waiting.get(call_key(account_id, call_id))
        if waiter is not None and not waiter.done():
            waiter.set_result(outcome)
            return web.Response(status=200, text="ok")
        if self._orphan is not None:
            try:
                self._orphan(account_id, call_id, outcome)
            except UnknownCall:
                return web.Response(status=404, text=f"no call {call_id} was placed here")
            except ValueError as exc:
                return web.Response(status=400, text=str(exc))
        return web.Response(status=202, text="accepted")

    async def _on_inbound(self, request: web.Request) -> web.Response:
        signed = await self._signed_json(request)
        if isinstance(signed, web.Response):
            return signed
        return self._answer(signed, self._take_inbound(signed.data))

    def _take_inbound(self, data: dict[str, Any]) -> web.Response:
        try:
            event = Inbound(
                call_id=_text(data, "call_id"),
                agent_id=_text(data, "agent_id"),
                kind=_text(data, "kind"),
                at=_epoch_ms(data, "at") or now_ms(),
                account_id=_text(data, "account_id"),  # the key of every engine input
            )
        except (KeyError, ValueError, TypeError) as exc:
            return web.Response(status=400, text=f"bad inbound event: {exc}")
        if event.kind not in ("started", "ended"):
            return web.Response(status=400, text="kind must be started or ended")
        if self._inbound is not None:
            self._inbound(event)
        return web.Response(status=200, text="ok")


@dataclass(frozen=True)
class SignedBody:
    """A callback whose signature verified, and its JSON object."""

    request: Signed
    data: dict[str, Any]


async def capped_text(resp: aiohttp.ClientResponse) -> str | None:
    """The far side's answer as text, or None past MAX_ANSWER_BYTES (not read further:
    the connection is dropped); an answer is a status and a small JSON, never megabytes."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_any():
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", errors="replace")  # JSON is UTF-8


def sanitise_cause(value: str) -> str:
    """A hang-up cause fit to store: safe characters only, at most MAX_CAUSE_CHARS."""
    return _CAUSE_UNSAFE.sub("_", value)[:MAX_CAUSE_CHARS]


def _text(data: dict[str, Any], name: str) -> str:
    """A required string field of at most MAX_CALL_ID_CHARS characters."""
    v = data[name]
    if not isinstance(v, str) or not v or len(v) > MAX_CALL_ID_CHARS:
        raise ValueError(f"{name} must be a non-empty string of at most {MAX_CALL_ID_CHARS}")
    return v


def _epoch_ms(data: dict[str, Any], name: str) -> int | None:
    """An optional time in epoch millis: a finite number between 0 and year 9999."""
    v = data.get(name)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ValueError(f"{name} must be a number (epoch millis), not {type(v).__name__}")
    if not (math.isfinite(v) and 0 <= v <= MAX_EPOCH_MS):
        raise ValueError(f"{name} must be epoch millis between 0 and {MAX_EPOCH_MS}, not {v!r}")
    return int(v)


def _callback_at_ms(data: dict[str, Any]) -> int | None:
    """`callback_at` (SPEC 9): an ISO 8601 instant with its zone, or epoch millis like the
    other times; ValueError naming the field otherwise."""
    value = data.get("callback_at")
    if not isinstance(value, str):
        return _epoch_ms(data, "callback_at")
    if len(value) > MAX_INSTANT_CHARS:
        raise ValueError(f"callback_at must be an ISO 8601 instant, not {len(value)} characters")
    try:
        at_ms = parse_instant_us(value) // 1000
    except ValueError as exc:
        raise ValueError(f"callback_at {exc}") from None
    if not 0 <= at_ms <= MAX_EPOCH_MS:
        raise ValueError(
            f"callback_at must be an instant between 1970 and year 9999, not {value!r}"
        )
    return at_ms


def outcome_from_json(data: dict[str, Any]) -> Outcome:
    """An Outcome from callback JSON (times in epoch millis); raises ValueError if malformed."""
    status = data.get("status")
    if not isinstance(status, str) or status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
    duration = data.get("duration_seconds")
    if duration is not None and (
        isinstance(duration, bool)
        or not isinstance(duration, int | float)
        or not (math.isfinite(duration) and 0 <= duration <= MAX_DURATION_S)
    ):
        raise ValueError(f"duration_seconds must be a number in [0, {MAX_DURATION_S:.0f}]")
    cause = data.get("hangup_cause")
    if cause is not None and not isinstance(cause, str):
        raise ValueError("hangup_cause must be a string")
    opt_out = data.get("opt_out", False)
    if opt_out is None:
        opt_out = False
    if not isinstance(opt_out, bool):
        raise ValueError(f"opt_out must be a JSON boolean (true/false), not {opt_out!r}")
    return Outcome(
        status=status,
        callback_at=_callback_at_ms(data),
        ended_at=_epoch_ms(data, "ended_at") or now_ms(),
        started_at=_epoch_ms(data, "started_at"),
        answered_at=_epoch_ms(data, "answered_at"),
        duration_seconds=None if duration is None else float(duration),
        hangup_cause=None if cause is None else sanitise_cause(cause),
        opt_out=opt_out,
    )


def _outcome_from_body(text: str) -> Outcome | None:
    """The outcome in a 2xx response body, when the far side answers synchronously."""
    try:
        data = json.loads(text) if text else None
    except ValueError:
        return None
    if isinstance(data, dict) and data.get("status") in STATUSES:
        try:
            return outcome_from_json(data)
        except (ValueError, TypeError):
            return None
    return None
