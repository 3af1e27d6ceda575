"""The sink's query endpoint (issue 17, item 1): every door that was open, tried and shut.

A QueryServer runs in this process on a migrated embedded engine, as `campaignflow sink`
runs it (with the sink's own writing client on the same engine where a test needs
one). Requests go over real sockets: `requests` for ordinary ones, raw bytes for the
malformed ones a library would not send.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from campaignflow.config import settings
from sinks import access
from sinks.access import ensure_token, read_token, token_path
from sinks.consumer import Sink
from sinks.dsn import open_client
from sinks.guard import QueryLimits
from sinks.migrations import migrate
from sinks.rows import COLUMNS, TZ_COLUMNS
from sinks.server import MAX_QUERY_BYTES, QueryServer
from tests.helpers import STALL_SECONDS, free_port
from tests.integration.sink_kit import CAMPAIGNFLOW, call_create

TOKEN = "t" * 43
# Seconds of CPU on two cores at least (10^10 hashes); never finishes within a test's limits.
SLOW_SQL = (
    "SELECT sum(cityHash64(x, y)) FROM (SELECT arrayJoin(range(100000)) AS x) AS a"
    " CROSS JOIN (SELECT arrayJoin(range(100000)) AS y) AS b"
)


@dataclass
class Endpoint:
    server: QueryServer
    dsn: str
    home: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def post(
        self, sql: str | bytes, token: str | None = TOKEN, **headers: str
    ) -> requests.Response:
        if token is not None:
            headers.setdefault("Authorization", f"Bearer {token}")
        data = sql.encode() if isinstance(sql, str) else sql
        return requests.post(self.url + "/query", data=data, headers=headers, timeout=120)

    def rows(self, sql: str) -> list[list[Any]]:
        resp = self.post(sql)
        assert resp.status_code == 200, resp.text
        rows: list[list[Any]] = resp.json()["rows"]
        return rows

    def error(self, sql: str, status: int = 400) -> str:
        resp = self.post(sql)
        assert resp.status_code == status, resp.text
        message: str = resp.json()["error"]
        return message


def _endpoint(tmp_path: Path, limits: QueryLimits | None = None) -> Iterator[Endpoint]:
    dsn = f"chdb://{tmp_path / 'ch'}"
    writer = open_client(dsn)
    migrate(writer)
    server = QueryServer(dsn, 0, TOKEN, limits=limits)
    server.start()
    try:
        yield Endpoint(server, dsn, tmp_path)
    finally:
        server.stop()
        writer.close()


@pytest.fixture()
def endpoint(tmp_path: Path) -> Iterator[Endpoint]:
    yield from _endpoint(tmp_path)


@pytest.fixture()
def tight(tmp_path: Path) -> Iterator[Endpoint]:
    """An endpoint with small limits, so a query can exceed each of them quickly."""
    limits = QueryLimits(
        max_execution_time_s=2,
        max_memory_usage_bytes=50_000_000,
        max_result_rows=1000,
        max_result_bytes=10_000_000,
        max_rows_to_read=10_000,
    )
    yield from _endpoint(tmp_path, limits)


# -- the SQL itself ------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["APPEND", "TRUNCATE", ""])
def test_into_outfile_is_refused_and_no_file_is_written(endpoint: Endpoint, mode: str) -> None:
    target = endpoint.home / "written-by-a-query.txt"
    message = endpoint.error(f"SELECT 'pwned' INTO OUTFILE '{target}' {mode}")
    assert "INTO OUTFILE" in message
    assert not target.exists()


def test_the_file_function_cannot_read_a_file(endpoint: Endpoint) -> None:
    secret = endpoint.home / "secret.txt"
    secret.write_text("the sink's neighbour's secret")
    for sql in (f"SELECT file('{secret}')", f"SELECT lower(FILE('{secret}')) AS x"):
        assert "file() is not allowed" in endpoint.error(sql)


# Issue 21, item 3: quoted function names escaped the deny list and read the operator's key.
@pytest.mark.parametrize(
    "call",
    [
        "`file`('{secret}')",
        "\"file\"('{secret}')",
        "FiLe('{secret}')",
        "`FILE`('{secret}')",
        "lower(`file`('{secret}'))",
        "`url`('http://127.0.0.1:1/', 'CSV', 'a String')",
        "URL('http://127.0.0.1:1/', 'CSV', 'a String')",
        "`s3`('http://127.0.0.1:1/b/k', 'CSV')",
        "`remote`('127.0.0.1', system.one)",
        "`remoteSecure`('127.0.0.1', system.one)",
        "`input`('a String')",
        "`sleep`(2)",
        '"sleepEachRow"(1)',
        "SLEEP(2)",
        "`dictGet`('d', 'a', 1)",
        "`joinGet`('j', 'a', 1)",
        "hostName()",
        "`hostname`()",
        "fullHostName()",
        "getMacro('x')",
        "`getServerSetting`('user_files_path')",
        "`demangle`('x')",
        "`executable`('id', 'TSV', 'a String')",
        "`fileIf`('{secret}', 1)",
        "`system.file`('{secret}')",
    ],
)
def test_functions_outside_the_allow_list_are_refused_however_spelled(
    endpoint: Endpoint, call: str
) -> None:
    secret = endpoint.home / "operator.key"
    secret.write_text("the operator's key")
    resp = endpoint.post("SELECT " + call.format(secret=secret))
    assert resp.status_code == 400, resp.text
    assert "is not allowed here" in resp.json()["error"]
    assert "operator's key" not in resp.text


def test_the_engine_itself_refuses_introspection_and_sleep(endpoint: Endpoint) -> None:
    """Behind the guard, the session's settings shut what ClickHouse offers a switch for."""
    client = endpoint.server._client()
    try:
        for sql, says in (
            ("SELECT demangle('x')", "allow_introspection_functions"),
            ("SELECT sleep(1)", "maximum sleep time is 1 microseconds"),
            ("SELECT * FROM python(x)", "allow_python_table_function"),
        ):
            with pytest.raises(Exception, match=says):
                client.query(sql)
    finally:
        endpoint.server._release(client, False)


@pytest.mark.parametrize(
    "source",
    [
        "generateRandom('a UInt64')",
        "numbers(1000000000000)",
        "numbers_mt(10)",
        "file('/etc/passwd', 'LineAsString')",
        "url('http://127.0.0.1:1/', 'CSV', 'a String')",
        "s3('http://127.0.0.1:1/b/k', 'CSV')",
        "remote('127.0.0.1', system.one)",
        "executable('id', 'TSV', 'a String')",
        "merge(currentDatabase(), '.*')",
        "view(SELECT 1)",
    ],
)
def test_table_functions_are_refused(endpoint: Endpoint, source: str) -> None:
    assert "table functions are not allowed" in endpoint.error(f"SELECT count() FROM {source}")


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM system.processes",
        "SELECT query FROM system.query_log",
        "SELECT system.processes.query",
        "SELECT 1 IN system.processes",
        "SELECT 1 IN (system.users)",
        "SELECT * FROM information_schema.tables",
        "SELECT * FROM default.call_attempts",
        "WITH x AS (SELECT * FROM system.settings) SELECT * FROM x",
        "SELECT * FROM v_attempts WHERE call_id IN (SELECT query_id FROM system.processes)",
        "SELECT 1 IN (system.processes) FROM system.one AS x",
        "SELECT 1 IN (sys.processes) FROM v_attempts AS sys",
        "SELECT SYSTEM.processes.query",
    ],
)
def test_only_allowed_tables_are_read(endpoint: Endpoint, sql: str) -> None:
    message = endpoint.error(sql)
    assert "allowed" in message or "may be read" in message


@pytest.mark.parametrize(
    ("sql", "says"),
    [
        ("SELECT 1 SETTINGS max_result_rows = 0", "SETTINGS"),
        ("SELECT * FROM (SELECT 1 SETTINGS readonly = 0)", "SETTINGS"),
        ("SELECT 1 FORMAT JSON", "FORMAT"),
        ("SELECT 1; SELECT 2", "one statement"),
        ("SELECT 1 -- no\n; DROP TABLE campaigns", "one statement"),
        ("INSERT INTO campaigns (campaign_id) VALUES ('x')", "only SELECT"),
        ("DROP TABLE campaigns", "only SELECT"),
        ("SYSTEM SHUTDOWN", "only SELECT"),
        ("KILL QUERY WHERE 1", "not a query"),
        ("SET readonly = 0", "only SELECT"),
        ("SELECT sleep(3)", "sleep()"),
        ("SELECT system.processes FROM system.one AS system", "name of a database"),
        ("", "empty"),
        ("SELECT " + "(" * 5000 + "1" + ")" * 5000, "nested too deeply"),
    ],
)
def test_what_is_not_one_plain_select_is_refused(endpoint: Endpoint, sql: str, says: str) -> None:
    assert says in endpoint.error(sql)


def test_the_queries_of_sql_and_report_still_run(endpoint: Endpoint) -> None:
    assert endpoint.rows("SELECT 1 AS one") == [[1]]
    assert endpoint.rows("WITH a AS (SELECT 2 AS x) SELECT x FROM a UNION ALL SELECT 3") in (
        [[2], [3]],
        [[3], [2]],
    )
    assert endpoint.rows("SELECT count() FROM v_attempts FINAL WHERE campaign_id = 'c'") == [[0]]
    names = [
        r[0]
        for r in endpoint.rows(
            "SELECT name FROM system.tables WHERE database = currentDatabase() ORDER BY name"
        )
    ]
    assert "call_attempts" in names and "v_campaign_progress" in names
    assert (
        endpoint.rows(
            "SELECT * EXCEPT campaign_id FROM v_outcomes_by_hour WHERE campaign_id = 'c' ORDER BY local_hour"
        )
        == []
    )
    assert endpoint.rows(
        "SELECT system.one.dummy, 0 IN system.one, x.dummy FROM system.one AS x"
    ) == [[0, 1, 0]]


# -- limits ----------------------------------------------------------------------------------------


def test_limits_are_in_force_and_cannot_be_changed(tight: Endpoint) -> None:
    names = ("max_execution_time", "max_memory_usage", "max_result_rows", "result_overflow_mode")
    got = tight.rows(
        "SELECT "
        + ", ".join(
            f"toString(getSetting('{n}'))" for n in names + ("readonly", "max_rows_to_read")
        )
    )
    assert got == [["2", "50000000", "1000", "throw", "1", "10000"]]


def test_a_query_over_the_time_limit_is_stopped(tight: Endpoint) -> None:
    assert "TIMEOUT_EXCEEDED" in tight.error(SLOW_SQL)


def test_a_query_over_the_memory_limit_is_stopped(tight: Endpoint) -> None:
    sql = "SELECT length(groupArray(x)) FROM (SELECT arrayJoin(range(20000000)) AS x)"
    assert "MEMORY_LIMIT_EXCEEDED" in tight.error(sql)


def test_a_result_over_the_row_limit_is_refused_not_cut(tight: Endpoint) -> None:
    assert len(tight.rows("SELECT arrayJoin(range(1000))")) == 1000
    # ClickHouse's own limit (this shape of query passes it; the endpoint counts too).
    assert "TOO_MANY_ROWS_OR_BYTES" in tight.error("SELECT * FROM (SELECT arrayJoin(range(1001)))")
    assert "more than 1000 rows" in tight.error("SELECT arrayJoin(range(1001))")
    assert "more than 1000 rows" in tight.error("SELECT arrayJoin(range(1000000)) AS x")


def test_a_result_over_the_byte_limit_is_refused(tight: Endpoint) -> None:
    assert "over 10000000 bytes" in tight.error(
        "SELECT repeat('x', 20000) FROM system.one ARRAY JOIN range(600) AS i"
    )


def test_a_query_reading_too_many_rows_is_stopped(tight: Endpoint) -> None:
    writer = open_client(tight.dsn)
    try:
        rows = [("UTC", 1000 * i, 0) for i in range(20_000)]
        writer.insert("tz_offsets", rows, column_names=list(TZ_COLUMNS))
    finally:
        writer.close()
    assert "max_rows_to_read" in tight.error("SELECT sum(offset_seconds) FROM tz_offsets")


def test_an_insert_completes_while_a_long_query_runs(tmp_path: Path) -> None:
    """The sink's insert path (its lock, its client) is not held up by a query in flight."""
    dsn = f"chdb://{tmp_path / 'ch'}"
    sink = Sink(settings().sink(dsn))
    sink.connect()  # the sink's own client, migrated, as at the start of `run`
    server = QueryServer(dsn, 0, TOKEN, limits=QueryLimits(max_execution_time_s=600))
    server.start()
    endpoint = Endpoint(server, dsn, tmp_path)
    answer: dict[str, requests.Response] = {}
    slow = threading.Thread(target=lambda: answer.setdefault("slow", endpoint.post(SLOW_SQL)))
    slow.start()
    try:

        def running() -> list[tuple[Any, ...]]:
            with sink.lock:
                result = sink.client.query(
                    "SELECT query_id FROM system.processes WHERE query LIKE '%cityHash64(x, y)%'"
                    " AND query NOT LIKE '%system.processes%'"
                )
            return list(result.result_rows)

        deadline = time.monotonic() + STALL_SECONDS  # a bound for a broken sink only
        while not running():
            assert time.monotonic() < deadline, "the slow query never started"
            time.sleep(0.05)
        row = call_create("lock", "k1", 1)
        values = (
            row["call_id"], row["campaign_id"], row["account_id"], row["contact_id"], 1,
            row["to"], row["from"], 0, row["agent_id"], row["created_at"], row["deadline"],
            row["created_at"],
        )  # fmt: skip
        sink.writer.insert("call_attempts", [values], "test-token")  # what a flush does
        # Another query is answered meanwhile too, and sees the row.
        assert endpoint.rows("SELECT count() FROM call_attempts WHERE campaign_id = 'lock'") == [
            [1]
        ]
        [[query_id]] = running()  # the slow query is still running: the insert did not wait
        assert slow.is_alive()
        with sink.lock:
            sink.client.command(f"KILL QUERY WHERE query_id = '{query_id}' SYNC")
        slow.join(60)
        assert "QUERY_WAS_CANCELLED" in answer["slow"].json()["error"]
    finally:
        slow.join(60)
        server.stop()
        sink.client.close()


# -- token -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        f"Bearer {TOKEN}x",
        f"Bearer {TOKEN[:-1]}",
        f"Basic {TOKEN}",
        TOKEN,
    ],
)
def test_a_query_without_the_right_token_is_401(
    endpoint: Endpoint, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    resp = endpoint.post("SELECT 1", token=None, **headers)
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert "token" in resp.json()["error"]
    assert endpoint.post("SELECT 1").status_code == 200


def test_the_token_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = access.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(access.hmac, "compare_digest", spy)
    assert access.bearer_ok(f"Bearer {TOKEN}", TOKEN)
    assert not access.bearer_ok("Bearer nope", TOKEN)
    assert calls == [(TOKEN.encode(), TOKEN.encode()), (b"nope", TOKEN.encode())]


def test_first_start_writes_a_0600_token_and_refuses_a_readable_one(tmp_path: Path) -> None:
    path = token_path(tmp_path / "home")
    token = ensure_token(path)
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert len(token) >= 43 and ensure_token(path) == token == read_token(path)
    for mode in (0o640, 0o604, 0o644):
        path.chmod(mode)
        with pytest.raises(access.TokenFileError, match="chmod 600"):
            ensure_token(path)


def test_the_sink_refuses_to_start_with_a_group_readable_token_file(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    path = token_path(home)
    path.write_text("x" * 43)
    path.chmod(0o640)
    env = dict(os.environ, CAMPAIGNFLOW_HOME=str(home), CAMPAIGNFLOW_SINK_PORT=str(free_port()))
    env["KAFKA_BOOTSTRAP_SERVERS"] = "127.0.0.1:1"  # never reached: it stops before
    done = subprocess.run(
        [CAMPAIGNFLOW, "sink"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2
    assert str(path) in done.stderr and "chmod 600" in done.stderr
    assert "Traceback" not in done.stderr


# -- DNS rebinding -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "origin"),
    [
        ("attacker.example:{port}", None),
        ("attacker.example", None),
        ("127.0.0.1:{other}", None),
        ("127.0.0.1.attacker.example:{port}", None),
        ("", None),
        ("127.0.0.1:{port}", "http://attacker.example"),
        ("127.0.0.1:{port}", "http://attacker.example:{port}"),
        ("127.0.0.1:{port}", "null"),
        ("127.0.0.1:{port}", "https://127.0.0.1:{port}"),
    ],
)
def test_a_request_naming_another_host_or_origin_is_refused(
    endpoint: Endpoint, host: str, origin: str | None
) -> None:
    port, other = endpoint.server.port, endpoint.server.port + 1
    headers = {"Host": host.format(port=port, other=other)}
    if origin is not None:
        headers["Origin"] = origin.format(port=port)
    assert endpoint.post("SELECT 1", **headers).status_code == 403
    health = requests.get(endpoint.url + "/health", headers=headers, timeout=10)
    assert health.status_code == 403


@pytest.mark.parametrize("name", ["127.0.0.1", "localhost", "[::1]", "LOCALHOST"])
def test_loopback_names_with_the_port_are_served(endpoint: Endpoint, name: str) -> None:
    port = endpoint.server.port
    resp = endpoint.post("SELECT 1", Host=f"{name}:{port}", Origin=f"http://{name}:{port}")
    assert resp.status_code == 200, resp.text


# -- HTTP robustness -------------------------------------------------------------------------------------


def _raw(
    endpoint: Endpoint, head: str, body: bytes = b"", half_close: bool = False
) -> tuple[int, dict[str, Any], bytes]:
    """Send raw request bytes; (status, JSON body, raw response). The socket stays open unless half_close."""
    import json

    with socket.create_connection(("127.0.0.1", endpoint.server.port), timeout=30) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    status_line, _, rest = data.partition(b"\r\n")
    _, _, payload = rest.partition(b"\r\n\r\n")
    return int(status_line.split()[1]), json.loads(payload), data


def _head(endpoint: Endpoint, *lines: str, method: str = "POST /query") -> str:
    port = endpoint.server.port
    return "\n".join(
        [
            f"{method} HTTP/1.1",
            f"Host: 127.0.0.1:{port}",
            f"Authorization: Bearer {TOKEN}",
            *lines,
            "",
        ]
    )


@pytest.mark.parametrize(
    ("length", "status"),
    [
        ("-1", 400),
        ("abc", 400),
        ("+8", 400),
        ("1_0", 400),
        (" ", 400),
        ("99999999999999999999999", 400),
        (str(MAX_QUERY_BYTES + 1), 413),
    ],
)
def test_a_bad_content_length_is_answered_without_reading_the_body(
    endpoint: Endpoint, length: str, status: int
) -> None:
    # The socket stays open with nothing sent: a server that reads to EOF would hang here.
    got, body, _ = _raw(endpoint, _head(endpoint, f"Content-Length: {length}"))
    assert got == status
    assert "Content-Length" in body["error"] or "too long" in body["error"]
    assert endpoint.post("SELECT 1").status_code == 200  # and it goes on serving


def test_a_missing_or_doubled_content_length_is_refused(endpoint: Endpoint) -> None:
    assert _raw(endpoint, _head(endpoint), half_close=True)[0] == 411
    assert (
        _raw(
            endpoint, _head(endpoint, "Transfer-Encoding: chunked"), b"8\r\nSELECT 1\r\n0\r\n\r\n"
        )[0]
        == 411
    )
    doubled = _head(endpoint, "Content-Length: 8", "Content-Length: 9")
    assert _raw(endpoint, doubled, b"SELECT 1 ")[0] == 400


def test_a_body_shorter_than_its_length_is_refused(endpoint: Endpoint) -> None:
    status, body, _ = _raw(
        endpoint, _head(endpoint, "Content-Length: 100"), b"SELECT 1", half_close=True
    )
    assert status == 400 and "8 of 100" in body["error"]


def test_invalid_utf8_is_a_400_with_a_json_error(endpoint: Endpoint) -> None:
    sql = b"SELECT '\xff\xfe'"
    status, body, raw = _raw(endpoint, _head(endpoint, f"Content-Length: {len(sql)}"), sql)
    assert status == 400 and "UTF-8" in body["error"]
    assert b"application/json" in raw


def test_malformed_requests_get_json_errors_and_no_traceback(
    endpoint: Endpoint, capfd: pytest.CaptureFixture[str]
) -> None:
    port = endpoint.server.port
    assert _raw(endpoint, f"PUT /query HTTP/1.1\nHost: 127.0.0.1:{port}\n")[0] == 501
    assert _raw(endpoint, "GARBAGE\n")[0] == 400
    assert _raw(endpoint, _head(endpoint, method="GET /nope"))[0] == 404
    # A client that goes away mid-request.
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(
            _head(endpoint, "Content-Length: 50").replace("\n", "\r\n").encode() + b"\r\nSEL"
        )
    assert endpoint.post("SELECT 1").status_code == 200
    assert "Traceback" not in capfd.readouterr().err


def test_the_cli_sends_the_token_and_names_a_missing_token_file(tmp_path: Path) -> None:
    """`campaignflow sql` through a running endpoint: with the home's token it works; without, one line."""
    home = tmp_path / "home"
    dsn = f"chdb://{tmp_path / 'ch'}"
    writer = open_client(dsn)
    migrate(writer)
    writer.insert(
        "campaigns",
        [("c-" + uuid.uuid4().hex[:6], "acme", "n", "UTC", 1, 1, 1, 0, "cmd")],
        column_names=list(COLUMNS["campaigns"])[:9],  # later columns take their defaults
    )
    server = QueryServer(dsn, 0, ensure_token(token_path(home)))
    server.start()
    env = dict(
        os.environ,
        CAMPAIGNFLOW_HOME=str(home),
        CAMPAIGNFLOW_SINK_PORT=str(server.port),
        CAMPAIGNFLOW_CLICKHOUSE_DSN=dsn,
    )
    try:
        sql = [CAMPAIGNFLOW, "sql", "SELECT count() FROM campaigns", "--format", "tsv"]
        ok = subprocess.run(sql, env=env, capture_output=True, text=True, timeout=120)
        assert ok.returncode == 0, ok.stderr
        assert ok.stdout.splitlines()[-1] == "1"
        token_path(home).unlink()
        refused = subprocess.run(sql, env=env, capture_output=True, text=True, timeout=120)
        assert refused.returncode == 2
        assert "sink.token" in refused.stderr and "Traceback" not in refused.stderr
    finally:
        server.stop()
        writer.close()
