"""The sink's loopback HTTP endpoint: checked read-only SQL (`POST /query`), /health, /metrics.

The embedded engine lets one process open its directory, and the sink holds it; so
`campaignflow sql` and `campaignflow report` send their queries here while it runs.
Bound to 127.0.0.1 only; a request must name it by a loopback Host (and Origin, if
any), and a query needs the bearer token of the state directory's `sink.token`
(sinks.access). The SQL is checked and regenerated before it runs (sinks.guard) and
runs under hard limits, on clients of its own: chdb lets one process hold many
handles on its engine, and they run at once, so a slow query never holds up the
sink's inserts (nor, up to `MAX_CONCURRENT_QUERIES`, other queries). Values travel as
JSON: times as ISO 8601 strings, with the ClickHouse type of every column so the
client can turn them back into datetimes.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import re
import threading
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from uuid import UUID

from clickhouse_connect.driver.exceptions import OperationalError
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from sinks import metrics
from sinks.access import bearer_ok, loopback_host, loopback_origin
from sinks.dsn import ClickHouseUnavailable, is_embedded, open_client, redact
from sinks.guard import QueryLimits, RefusedQuery, check, fetch
from sinks.migrations import relations

log = logging.getLogger(__name__)

# A query's text at most; parsing and checking 256 kB of SQL takes up to ~2 s of CPU here.
MAX_QUERY_BYTES = 256_000
MAX_CONCURRENT_QUERIES = 4
REQUEST_TIMEOUT_S = 30.0  # a client that stops sending its request is dropped after this
SLOT_WAIT_S = 5.0  # how long a query waits for a free slot before a 503
_DIGITS = re.compile(r"[0-9]{1,19}")


def to_json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, dict):
        return {str(k): to_json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json_value(v) for v in value]
    return value


@dataclass(frozen=True)
class Reply:
    """An HTTP answer: status and JSON body."""

    status: int
    body: dict[str, Any]


def _error(status: int, message: str) -> Reply:
    return Reply(status, {"error": message})


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else repr(exc)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A connection that broke mid-answer: one log line, not a traceback on stderr."""
        log.debug("query endpoint: connection from %s failed", client_address, exc_info=False)


class QueryServer:
    """Serves checked read-only queries through its own readonly clients on the sink's engine."""

    def __init__(
        self,
        dsn: str,
        port: int,
        token: str,
        *,
        host: str = "127.0.0.1",
        limits: QueryLimits | None = None,
        concurrency: int = MAX_CONCURRENT_QUERIES,
        tables: frozenset[str] | None = None,
    ) -> None:
        self.dsn = dsn
        self.token = token
        self.limits = limits or QueryLimits()
        self.tables = relations() if tables is None else tables  # read once, not per query
        self._slots = threading.BoundedSemaphore(concurrency)
        self._idle: queue.LifoQueue[Any] = queue.LifoQueue()
        self._opened: list[Any] = []
        self._opened_lock = threading.Lock()
        self.httpd = _Server((host, port), _handler(self))
        self.port = int(self.httpd.server_address[1])
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    # -- queries ----------------------------------------------------------------------------------

    def _client(self) -> Any:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        settings = self.limits.settings(embedded=is_embedded(self.dsn))
        client = open_client(self.dsn, readonly=True, settings=settings)
        with self._opened_lock:
            self._opened.append(client)
        return client

    def _release(self, client: Any, broken: bool) -> None:
        if broken and not is_embedded(self.dsn):  # an embedded handle stays (reopening fails)
            with self._opened_lock:
                self._opened.remove(client)
            client.close()
            return
        self._idle.put(client)

    def answer(self, sql: str) -> Reply:
        """Check and run one read-only query."""
        if not self._slots.acquire(timeout=SLOT_WAIT_S):  # parsing is work too: in the slot
            metrics.QUERIES.labels("busy").inc()
            return _error(503, "every query slot is busy; try again")
        try:
            try:
                checked = check(sql, self.tables)
            except RefusedQuery as exc:
                metrics.QUERIES.labels("refused").inc()
                return _error(400, str(exc))
            try:
                client = self._client()
            except ClickHouseUnavailable as exc:
                metrics.QUERIES.labels("error").inc()
                return _error(503, str(exc))
            broken = False
            try:
                result = fetch(client, checked, self.limits)
                rows = [[to_json_value(v) for v in row] for row in result.rows]
            except RefusedQuery as exc:
                metrics.QUERIES.labels("refused").inc()
                return _error(400, str(exc))
            except Exception as exc:
                # No ClickHouse error code: the connection failed, not the query.
                broken = isinstance(exc, OperationalError) and getattr(exc, "code", None) is None
                metrics.QUERIES.labels("error").inc()
                return _error(503 if broken else 400, _first_line(exc))
            finally:
                self._release(client, broken)
        finally:
            self._slots.release()
        metrics.QUERIES.labels("ok").inc()
        return Reply(200, {"columns": result.columns, "types": result.types, "rows": rows})

    # -- serving ----------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        with self._opened_lock:
            for client in self._opened:
                client.close()
            self._opened.clear()


def _handler(server: QueryServer) -> type[BaseHTTPRequestHandler]:
    """The request handler class of one QueryServer (http.server makes one per request)."""
    return type("Handler", (_Handler,), {"query_server": server})


def read_body(headers: Any, rfile: Any) -> str | Reply:
    """The request's SQL, or the refusal of a body that is not a bounded UTF-8 text."""
    if headers.get("Transfer-Encoding"):
        return _error(411, "send the query with a Content-Length (no Transfer-Encoding)")
    lengths = headers.get_all("Content-Length") or []
    if not lengths:
        return _error(411, "Content-Length is required")
    if len(set(lengths)) > 1 or not _DIGITS.fullmatch(lengths[0].strip()):
        return _error(400, f"Content-Length must be one number of bytes, not {lengths!r}")
    length = int(lengths[0])
    if length > MAX_QUERY_BYTES:
        return _error(413, f"query too long: {length} bytes (at most {MAX_QUERY_BYTES})")
    data = b""
    try:
        while len(data) < length:
            chunk = rfile.read(length - len(data))
            if not chunk:
                return _error(400, f"the body ended after {len(data)} of {length} bytes")
            data += chunk
    except TimeoutError:
        return _error(408, f"the body did not arrive within {REQUEST_TIMEOUT_S:g} s")
    try:
        return str(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return _error(400, f"the query is not UTF-8 (byte {exc.start})")


def refusal(headers: Any, port: int) -> Reply | None:
    """403 unless Host and Origin name this endpoint on loopback (DNS rebinding)."""
    host = headers.get("Host")
    if not loopback_host(host, port):
        return _error(403, f"Host {host!r} is not this endpoint's loopback address")
    origin = headers.get("Origin")
    if not loopback_origin(origin, port):
        return _error(403, f"Origin {origin!r} is not this endpoint's loopback address")
    return None


_UNAUTHORIZED = _error(401, "a query needs `Authorization: Bearer <token>` (sink.token)")
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="campaignflow-sink"'}


class _Handler(BaseHTTPRequestHandler):
    """GET /health and /metrics, POST /query; every answer JSON (http.server's own too)."""

    server_version = "campaignflow-sink"
    sys_version = ""
    timeout = REQUEST_TIMEOUT_S
    query_server: QueryServer  # set on the class `_handler` makes

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def _send(
        self,
        reply: Reply,
        body: bytes | None = None,
        ctype: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        data = body if body is not None else json.dumps(reply.body).encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _close_with(self, reply: Reply, headers: dict[str, str] | None = None) -> None:
        self.close_connection = True
        self._send(reply, headers=headers)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (bad request line, unknown method...) in JSON."""
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = "error"
        if not hasattr(self, "command") or self.command is None:
            self.command = "GET"
        if self.request_version == "HTTP/0.9":  # not served: answer with a status line
            self.request_version = "HTTP/1.0"
        self._close_with(_error(code, message or phrase))

    def _guarded(self, handle: Any) -> None:
        try:
            refused = refusal(self.headers, self.query_server.port)
            if refused is not None:
                self._close_with(refused)
                return
            handle()
        except (ConnectionError, TimeoutError, OSError) as exc:
            log.debug("query endpoint: connection failed (%s)", exc)
            self.close_connection = True
        except Exception as exc:  # a bug: answer, log one line, keep serving
            log.warning("query endpoint: %s %s failed: %r", self.command, self.path, exc)
            self._close_with(_error(500, "internal error"))

    def do_GET(self) -> None:
        self._guarded(self._get)

    def do_HEAD(self) -> None:
        self._guarded(self._get)

    def do_POST(self) -> None:
        self._guarded(self._post)

    def _get(self) -> None:
        if self.path == "/metrics":
            data = generate_latest(metrics.REGISTRY)
            self._send(Reply(200, {}), data, CONTENT_TYPE_LATEST)
        elif self.path == "/health":
            dsn = redact(self.query_server.dsn)
            self._send(Reply(200, {"ok": True, "dsn": dsn, "pid": os.getpid()}))
        else:
            self._send(_error(404, "not found"))

    def _post(self) -> None:
        if self.path != "/query":
            self._close_with(_error(404, "not found"))
            return
        if not bearer_ok(self.headers.get("Authorization"), self.query_server.token):
            self._close_with(_UNAUTHORIZED, headers=_CHALLENGE)
            return
        body = read_body(self.headers, self.rfile)
        if isinstance(body, Reply):
            self._close_with(body)
            return
        self._send(self.query_server.answer(body))
