"""ASGI middleware: the key first, request size limits and Idempotency-Key on every POST.

`KeyGate` answers a /v1 request without a live key with 401 before a byte of its body is
read (and closes the connection, so the rest is never received), and holds each
account to its request rate (429 with Retry-After). The other two wrap `receive`, so a body is never held whole: the limit counts bytes as they
stream in, and the idempotency fingerprint (SHA-256 of method, path, query and body) is
computed on the same pass. A repeat with the same key and the same request gets the
first answer (status and body, secrets replaced by a marker: `kept_answer`) from the
api.idempotency topic, for as long as the topic keeps it; the same key with a
different request is a 422 (multipart bodies are compared by method, path and query:
their boundary changes on every send); a repeat arriving while the first is still running waits
for it. Answers of 5xx are not kept (a retry should retry).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.concurrency import run_in_threadpool

from api import accounts
from api.controlplane import ControlPlane
from api.exceptions import BodyTooLarge, RateLimited
from api.problems import PROBLEM
from api.ratelimit import Limiter, Rate

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_IDEMPOTENCY_KEY = 200
# Where KeyGate leaves the caller it authenticated ("_operator" for the operator key).
ACCOUNT_SCOPE_KEY = "campaignflow.account"


def _problem(status: int, detail: str) -> bytes:
    titles = {
        409: "Conflict",
        401: "Unauthorized",
        413: "Request too large",
        422: "Invalid request",
        400: "Bad request",
        429: "Too many requests",
    }
    return json.dumps(
        {
            "type": f"https://campaignflow.dev/problems/{status}",
            "title": titles.get(status, "Error"),
            "status": status,
            "detail": detail,
            "errors": [],
        }
    ).encode()


async def _send_body(
    send: Send,
    status: int,
    body: bytes,
    ctype: str = PROBLEM,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", ctype.encode()),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    for k, v in scope.get("headers", []):
        if k.lower() == name:
            return str(v.decode("latin-1"))
    return None


# Every answer: the console runs only its own files (no inline script or style, no
# other origin), may not be framed, and no answer is sniffed into another type.
SECURITY_HEADERS = (
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
        b" connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none';"
        b" form-action 'self'; frame-ancestors 'none'",
    ),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)


class SecurityHeaders:
    """Adds SECURITY_HEADERS to every HTTP answer that does not set them itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(msg: Message) -> None:
            if msg["type"] == "http.response.start":
                headers = list(msg.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                msg = {**msg, "headers": headers}
            await send(msg)

        await self.app(scope, receive, with_headers)


def _may_have_body(scope: Scope) -> bool:
    length = _header(scope, b"content-length")
    return _header(scope, b"transfer-encoding") is not None or (length or "0").strip() != "0"


class KeyGate:
    """/v1 requests: 401 without the key their path needs, unread; 429 past the account's rate.

    /v1/operator/* takes the operator key, every other /v1 path an account's key, as the
    routes' own dependencies check again; this only makes sure no body of a stranger is
    read. The rate counts every request of an account, all its keys together.
    """

    def __init__(
        self,
        app: ASGIApp,
        cp: Callable[[], ControlPlane],
        operator_key: Callable[[], str | None],
        limiter: Callable[[], Limiter],
        rate: Rate,
    ) -> None:
        self.app = app
        self._cp = cp  # found per request, as the limiter: the lifespan starts the services
        self.operator_key = operator_key
        self._limiter = limiter
        self.rate = rate

    def _who(self, scope: Scope) -> str | None:
        scheme, _, key = (_header(scope, b"authorization") or "").partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            return None
        if str(scope.get("path", "")).startswith("/v1/operator/"):
            return "_operator" if accounts.is_operator(self.operator_key(), key) else None
        return accounts.authenticate(self._cp(), key)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        who = self._who(scope)
        # Answered before the body: with one on the way, the connection is closed after
        # the answer, so the server never takes in the rest.
        close = [(b"connection", b"close")] if _may_have_body(scope) else []
        if who is None:
            detail = "missing, unknown or revoked API key (Authorization: Bearer <api key>)"
            await _send_body(
                send, 401, _problem(401, detail), headers=[(b"www-authenticate", b"Bearer"), *close]
            )
            return
        scope[ACCOUNT_SCOPE_KEY] = who
        try:
            self._limiter().take(who, "requests", self.rate)
        except RateLimited as err:
            retry = [(b"retry-after", str(err.retry_after_s).encode())]
            await _send_body(send, 429, _problem(429, str(err)), headers=[*retry, *close])
            return
        await self.app(scope, receive, send)


class SizeLimit:
    """413 past the body's cap, counted while streaming (Content-Length or chunked).

    Only the upload routes (`upload_route(path)`) take big bodies: `max_upload` for a
    multipart body (or a text one sent to one of `raw_upload_paths`), `max_json` for
    JSON. Every other route takes at most `max_request` (and never more than `max_json`).
    """

    def __init__(
        self,
        app: ASGIApp,
        max_json: int,
        max_upload: int,
        max_request: int,
        upload_route: Callable[[str], bool],
        raw_upload_paths: frozenset[str] = frozenset(),
    ) -> None:
        self.app = app
        self.max_json = max_json
        self.max_upload = max_upload
        self.max_request = max_request
        self.upload_route = upload_route
        self.raw_upload_paths = raw_upload_paths

    def _limit(self, scope: Scope) -> int:
        path = str(scope.get("path", ""))
        if not (path in self.raw_upload_paths or self.upload_route(path)):
            return min(self.max_request, self.max_json)
        ctype = (_header(scope, b"content-type") or "").lower()
        upload = ctype.startswith("multipart/") or (
            ctype.startswith(("text/", "application/octet-stream"))
            and path in self.raw_upload_paths
        )
        return self.max_upload if upload else self.max_json

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope)
        length = _header(scope, b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            await _send_body(
                send,
                413,
                _problem(413, f"request body over {limit} bytes"),
                headers=[(b"connection", b"close")],
            )
            return
        seen = 0
        over = False  # set once the body passed the limit: the answer becomes a 413
        replaced = False

        async def counted() -> Message:
            nonlocal seen, over
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > limit:
                    over = True
                    raise BodyTooLarge(limit)
            return msg

        async def guarded(msg: Message) -> None:
            # The framework may turn the exception into its own answer (a 400 "error
            # parsing the body"): whatever it answers after the limit is replaced.
            nonlocal replaced
            if over:
                if msg["type"] == "http.response.start" and not replaced:
                    replaced = True
                    await _send_body(send, 413, _problem(413, f"request body over {limit} bytes"))
                return
            await send(msg)

        try:
            await self.app(scope, counted, guarded)
        except BodyTooLarge:
            if not replaced:
                await _send_body(send, 413, _problem(413, f"request body over {limit} bytes"))


# Answers larger than this are kept as a marker only (the topic's messages are at most 1 MiB).
MAX_KEPT_ANSWER_BYTES = 256 * 1024
# Top-level fields of an answer that hold a secret shown once (a new API key, a webhook's
# signing secret): never stored, and a replay says so in their place.
SECRET_FIELDS = ("key", "secret")
SHOWN_ONCE = "(shown once in the first answer; not kept)"


def kept_answer(fingerprint: str, status: int, body: bytes, ctype: str) -> dict[str, Any]:
    """What api.idempotency keeps of an answer: secrets replaced by a marker, at most
    MAX_KEPT_ANSWER_BYTES of body (a larger one keeps only its status)."""
    record: dict[str, Any] = {
        "fingerprint": fingerprint,
        "status": status,
        "content_type": ctype,
        "at_ms": int(time.time() * 1000),
        "body": None,
    }
    if len(body) > MAX_KEPT_ANSWER_BYTES:
        return record
    text = body.decode("utf-8", "replace")
    if "json" in ctype:
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict) and any(
            isinstance(data.get(f), str) and data.get(f) for f in SECRET_FIELDS
        ):
            for field in SECRET_FIELDS:
                if isinstance(data.get(field), str) and data[field]:
                    data[field] = SHOWN_ONCE
            text = json.dumps(data, separators=(",", ":"))
    record["body"] = text
    return record


async def _replay(send: Send, kept: dict[str, Any], fingerprint: str) -> None:
    """The kept answer of a repeated request (422 if the request differs)."""
    if kept["fingerprint"] != fingerprint:
        detail = "Idempotency-Key was already used for a different request"
        await _send_body(send, 422, _problem(422, detail))
    elif kept.get("body") is None:  # too large to keep: the request is not run again
        detail = (
            f"this Idempotency-Key's request was done (status {kept['status']}); its"
            " answer was too large to keep: read the result with a GET"
        )
        await _send_body(send, 409, _problem(409, detail))
    else:
        ctype = kept.get("content_type", PROBLEM)
        await _send_body(send, kept["status"], kept["body"].encode(), ctype)


class Idempotency:
    """Keeps the first answer of each (account, Idempotency-Key) POST."""

    def __init__(self, app: ASGIApp, cp: Callable[[], ControlPlane]) -> None:
        self.app = app
        self._cp = cp  # found per request: the lifespan starts it after the app is built
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    def _account(self, scope: Scope) -> str | None:
        """The caller KeyGate found (None outside /v1: nothing there is kept)."""
        found = scope.get(ACCOUNT_SCOPE_KEY)
        return str(found) if found is not None else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = _header(scope, b"idempotency-key") if scope["type"] == "http" else None
        if key is None or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        if not key or len(key) > MAX_IDEMPOTENCY_KEY or not key.isprintable():
            await _send_body(
                send,
                400,
                _problem(
                    400, f"Idempotency-Key must be 1-{MAX_IDEMPOTENCY_KEY} printable characters"
                ),
            )
            return
        account = self._account(scope)
        if account is None:  # the route answers 401
            await self.app(scope, receive, send)
            return
        rid = hashlib.sha256(key.encode()).hexdigest()[:40]
        lock = self._locks.setdefault((account, rid), asyncio.Lock())
        async with lock:
            try:
                await self._once(scope, receive, send, account, rid)
            finally:
                if not lock.locked() or len(self._locks) > 10_000:
                    self._locks.pop((account, rid), None)

    async def _once(
        self, scope: Scope, receive: Receive, send: Send, account: str, rid: str
    ) -> None:
        h = hashlib.sha256(f"{scope['method']} {scope['path']}?".encode())
        h.update(scope.get("query_string", b""))
        h.update(b"\n")
        # A multipart body differs on every send (its boundary is random): a repeat is
        # recognised by key, method, path and query; a JSON body must match byte for byte.
        hash_body = not (_header(scope, b"content-type") or "").startswith("multipart/")
        cp = self._cp()
        kept = cp.get("idempotency", account, rid)
        if kept is not None:
            while True:  # the body is hashed, not kept
                msg = await receive()
                if hash_body:
                    h.update(msg.get("body", b""))
                if not msg.get("more_body"):
                    break
            await _replay(send, kept, h.hexdigest())
            return

        async def hashing() -> Message:
            msg = await receive()
            if msg["type"] == "http.request" and hash_body:
                h.update(msg.get("body", b""))
            return msg

        status = 0
        ctype = "application/json"
        chunks: list[bytes] = []

        async def capture(msg: Message) -> None:
            nonlocal status, ctype
            if msg["type"] == "http.response.start":
                status = int(msg["status"])
                for k, v in msg.get("headers", []):
                    if k.lower() == b"content-type":
                        ctype = v.decode("latin-1")
            elif msg["type"] == "http.response.body":
                chunks.append(msg.get("body", b""))
            await send(msg)

        await self.app(scope, hashing, capture)
        if status and status < 500:
            record = kept_answer(h.hexdigest(), status, b"".join(chunks), ctype)
            await run_in_threadpool(cp.put, "idempotency", account, rid, record)
