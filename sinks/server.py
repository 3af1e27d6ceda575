"""The sink's loopback HTTP endpoint: read-only SQL (ClickHouse readonly=1), /health, /metrics.

The embedded engine lets one process open its directory, and the sink holds it; so
`campaignflow sql` and `campaignflow report` send their queries here while it runs.
Bound to 127.0.0.1 only. Values travel as JSON: times as ISO 8601 strings, with the
ClickHouse type of every column so the client can turn them back into datetimes.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import date, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from uuid import UUID

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from sinks import metrics
from sinks.dsn import open_client, redact

MAX_QUERY_BYTES = 1_000_000


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


class QueryServer:
    """Serves read-only queries through its own readonly client on the sink's engine."""

    def __init__(self, dsn: str, port: int, lock: threading.RLock, host: str = "127.0.0.1") -> None:
        self.dsn = dsn
        self.lock = lock
        self._client: Any = None
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

            def _send(self, code: int, body: bytes, ctype: str = "application/json") -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path == "/metrics":
                    self._send(200, generate_latest(metrics.REGISTRY), CONTENT_TYPE_LATEST)
                elif self.path == "/health":
                    body = {"ok": True, "dsn": redact(server.dsn), "pid": os.getpid()}
                    self._send(200, json.dumps(body).encode())
                else:
                    self._send(404, b'{"error": "not found"}')

            def do_POST(self) -> None:
                if self.path != "/query":
                    self._send(404, b'{"error": "not found"}')
                    return
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_QUERY_BYTES:
                    self._send(413, b'{"error": "query too long"}')
                    return
                sql = self.rfile.read(length).decode("utf-8")
                code, body = server.answer(sql)
                self._send(code, json.dumps(body).encode())

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def answer(self, sql: str) -> tuple[int, dict[str, Any]]:
        """Run one read-only query -> (HTTP status, JSON body)."""
        try:
            with self.lock:
                if self._client is None:
                    self._client = open_client(self.dsn, readonly=True)
                result = self._client.query(sql)
                columns = list(result.column_names)
                types = [t.name for t in result.column_types]
                rows = [[to_json_value(v) for v in row] for row in result.result_rows]
        except Exception as exc:
            metrics.QUERIES.labels("error").inc()
            return 400, {
                "error": str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            }
        metrics.QUERIES.labels("ok").inc()
        return 200, {"columns": columns, "types": types, "rows": rows}

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
