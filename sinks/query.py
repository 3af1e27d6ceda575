"""Run a read-only query wherever the data is: through a running sink, or directly.

With the embedded engine the running sink holds the data directory, so queries go to
its loopback endpoint (after checking it serves the same DSN); when no sink runs, the
directory is opened here, read-only. With a ClickHouse server, we connect to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests

from campaignflow.config import settings
from sinks.dsn import default_dsn, is_embedded, open_client, redact
from sinks.server import to_json_value


class QueryError(RuntimeError):
    """ClickHouse refused the query (syntax, readonly, unknown table...)."""


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    types: list[str]
    rows: list[list[Any]]
    via: str  # "sink" or "direct"

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, r, strict=True)) for r in self.rows]


def _revive(value: Any, type_name: str) -> Any:
    """JSON value -> Python: DateTime columns back to aware datetimes."""
    if isinstance(value, str) and "DateTime" in type_name:
        return datetime.fromisoformat(value)
    return value


def sink_url(port: int | None = None) -> str:
    return f"http://127.0.0.1:{port or settings().sink_port}"


def running_sink(dsn: str, port: int | None = None) -> str | None:
    """URL of a sink on the loopback port serving `dsn`, or None."""
    try:
        resp = requests.get(sink_url(port) + "/health", timeout=1.0)
        info = resp.json()
    except (requests.RequestException, ValueError):
        return None
    if resp.status_code == 200 and info.get("dsn") == redact(dsn):
        return sink_url(port)
    return None


def run_query(sql: str, dsn: str | None = None, port: int | None = None) -> QueryResult:
    """Run `sql` read-only; raises QueryError for a refused query, ClickHouseUnavailable if closed."""
    dsn = dsn or default_dsn()
    if is_embedded(dsn):
        url = running_sink(dsn, port)
        if url is not None:
            resp = requests.post(url + "/query", data=sql.encode("utf-8"), timeout=300)
            body = resp.json()
            if resp.status_code != 200:
                raise QueryError(body.get("error", resp.text))
            types = body["types"]
            rows = [[_revive(v, t) for v, t in zip(r, types, strict=True)] for r in body["rows"]]
            return QueryResult(body["columns"], types, rows, "sink")
    client = open_client(dsn, readonly=True)
    try:
        result = client.query(sql)
    except Exception as exc:
        raise QueryError(str(exc).strip().splitlines()[0]) from exc
    finally:
        client.close()
    types = [t.name for t in result.column_types]
    rows = [
        [to_json_value(v) if isinstance(v, bytes) else v for v in r] for r in result.result_rows
    ]
    return QueryResult(list(result.column_names), types, rows, "direct")
