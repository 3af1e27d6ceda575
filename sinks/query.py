"""Run a read-only query wherever the data is: through a running sink, or directly.

With the embedded engine the running sink holds the data directory, so queries go to
its loopback endpoint (after checking it serves the same DSN), with the bearer token of
the state directory's `sink.token`; when no sink runs, the directory is opened here,
read-only. With a ClickHouse server, we connect to it. Either way the query is checked
(sinks.guard) and runs under the same limits as on the sink's endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

from sinks.access import TokenFileError, read_token
from sinks.dsn import is_embedded, open_client, redact
from sinks.exceptions import QueryError
from sinks.guard import QueryLimits, RefusedQuery, check, fetch
from sinks.server import to_json_value


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    types: list[str]
    rows: list[list[Any]]
    via: str  # "sink" or "direct"

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, r, strict=True)) for r in self.rows]


def literal(value: str) -> str:
    """A ClickHouse string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _revive(value: Any, type_name: str) -> Any:
    """JSON value -> Python: DateTime columns back to aware datetimes."""
    if isinstance(value, str) and "DateTime" in type_name:
        return datetime.fromisoformat(value)
    return value


def sink_url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def running_sink(dsn: str, port: int) -> str | None:
    """URL of a sink on the loopback port serving `dsn`, or None."""
    try:
        resp = requests.get(sink_url(port) + "/health", timeout=1.0)
        info = resp.json()
    except (requests.RequestException, ValueError):
        return None
    if resp.status_code == 200 and info.get("dsn") == redact(dsn):
        return sink_url(port)
    return None


def _via_sink(url: str, sql: str, token_file: Path) -> QueryResult:
    try:
        token = read_token(token_file)
    except TokenFileError as exc:
        raise QueryError(str(exc)) from None
    try:
        resp = requests.post(
            url + "/query",
            data=sql.encode("utf-8"),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "text/plain"},
            timeout=QueryLimits().max_execution_time_s + 30,
        )
        body = resp.json()
    except (requests.RequestException, ValueError) as exc:
        raise QueryError(f"the sink at {url} did not answer the query: {exc}") from None
    if resp.status_code != 200:
        raise QueryError(body.get("error", resp.text) if isinstance(body, dict) else resp.text)
    types = body["types"]
    rows = [[_revive(v, t) for v, t in zip(r, types, strict=True)] for r in body["rows"]]
    return QueryResult(body["columns"], types, rows, "sink")


def run_query(
    sql: str, dsn: str, port: int, token_file: Path, *, open_embedded: bool = True
) -> QueryResult:
    """Run `sql` read-only; raises QueryError for a refused query, ClickHouseUnavailable if closed.

    `port`: the loopback port of a sink that may serve `dsn`; `token_file`: its token
    (sink.token in the state directory). `open_embedded=False` (a long-lived server such as
    the API): never open the embedded engine's directory here, which would keep the sink
    from opening it; without a running sink that is a QueryError.
    """
    if is_embedded(dsn):
        url = running_sink(dsn, port)
        if url is not None:
            return _via_sink(url, sql, token_file)
        if not open_embedded:
            raise QueryError(f"no sink is running on port {port} to answer for {redact(dsn)}")
    limits = QueryLimits()
    client = open_client(dsn, readonly=True, settings=limits.settings(embedded=is_embedded(dsn)))
    try:
        result = fetch(client, check(sql), limits)
    except RefusedQuery as exc:
        raise QueryError(str(exc)) from None
    except Exception as exc:
        raise QueryError(str(exc).strip().splitlines()[0]) from exc
    finally:
        client.close()
    rows = [[to_json_value(v) if isinstance(v, bytes) else v for v in r] for r in result.rows]
    return QueryResult(result.columns, result.types, rows, "direct")
