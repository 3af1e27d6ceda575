"""ASGI middleware: request size limits and Idempotency-Key on every POST.

Both wrap `receive`, so a body is never held whole: the limit counts bytes as they
stream in, and the idempotency fingerprint (SHA-256 of method, path, query and body) is
computed on the same pass. A repeat with the same key and the same request gets the
first answer (status and body) from the api.idempotency topic; the same key with a
different request is a 422 (multipart bodies are compared by method, path and query:
their boundary changes on every send); a repeat arriving while the first is still running waits
for it. Answers of 5xx are not kept (a retry should retry).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.concurrency import run_in_threadpool

from api import accounts
from api.controlplane import ControlPlane
from api.exceptions import BodyTooLarge
from api.problems import PROBLEM

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_IDEMPOTENCY_KEY = 200


def _problem(status: int, detail: str) -> bytes:
    titles = {413: "Request too large", 422: "Invalid request", 400: "Bad request"}
    return json.dumps(
        {
            "type": f"https://campaignflow.dev/problems/{status}",
            "title": titles.get(status, "Error"),
            "status": status,
            "detail": detail,
            "errors": [],
        }
    ).encode()


async def _send_body(send: Send, status: int, body: bytes, ctype: str = PROBLEM) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", ctype.encode()),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    for k, v in scope.get("headers", []):
        if k.lower() == name:
            return str(v.decode("latin-1"))
    return None


class SizeLimit:
    """413 past `max_json` bytes (or `max_upload` for multipart, and for a text body sent
    to one of `raw_upload_paths`: a file upload), counted while streaming."""

    def __init__(
        self,
        app: ASGIApp,
        max_json: int,
        max_upload: int,
        raw_upload_paths: frozenset[str] = frozenset(),
    ) -> None:
        self.app = app
        self.max_json = max_json
        self.max_upload = max_upload
        self.raw_upload_paths = raw_upload_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        ctype = (_header(scope, b"content-type") or "").lower()
        upload = ctype.startswith("multipart/") or (
            ctype.startswith(("text/", "application/octet-stream"))
            and scope.get("path") in self.raw_upload_paths
        )
        limit = self.max_upload if upload else self.max_json
        length = _header(scope, b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            await _send_body(send, 413, _problem(413, f"request body over {limit} bytes"))
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


class Idempotency:
    """Keeps the first answer of each (account, Idempotency-Key) POST."""

    def __init__(
        self,
        app: ASGIApp,
        cp: Callable[[], ControlPlane],
        operator_key: Callable[[], str | None],
    ) -> None:
        self.app = app
        self._cp = cp  # found per request: the lifespan starts it after the app is built
        self.operator_key = operator_key
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    def _account(self, scope: Scope) -> str | None:
        auth = _header(scope, b"authorization") or ""
        scheme, _, key = auth.partition(" ")
        if scheme.lower() != "bearer" or not key:
            return None
        key = key.strip()
        if accounts.is_operator(self.operator_key(), key):
            return "_operator"
        return accounts.authenticate(self._cp(), key)

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
            if kept["fingerprint"] != h.hexdigest():
                await _send_body(
                    send,
                    422,
                    _problem(422, "Idempotency-Key was already used for a different request"),
                )
                return
            await _send_body(
                send, kept["status"], kept["body"].encode(), kept.get("content_type", PROBLEM)
            )
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
        body = b"".join(chunks)
        if status and status < 500 and len(body) < 4_000_000:
            record = {
                "fingerprint": h.hexdigest(),
                "status": status,
                "body": body.decode("utf-8", "replace"),
                "content_type": ctype,
            }
            await run_in_threadpool(cp.put, "idempotency", account, rid, record)
