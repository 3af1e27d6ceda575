"""The pre-dial check (issue 23 item 2) through a dialer on the real broker, against a real
HTTP server started here: refused calls come out `skipped` with their reason, a check
that hangs is `skipped` under on_error skip and dialled under dial, every call has one
outcome and every message is committed."""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from dialer.predial import create_secret
from dialer.signing import SIGNATURE_HEADER
from topics import catalogue

from .dialer_kit import call_record, caught_up, drop_topics, make_topics, publish_calls, wait_for
from .test_dialer_kafka import instant, options, outcomes, running

pytestmark = pytest.mark.integration


class Check(BaseHTTPRequestHandler):
    """yes: dial; no: refuse (reason `dnc`); hang: answer only when the test ends."""

    release = threading.Event()
    signed: list[bool] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        Check.signed.append(bool(self.headers.get(SIGNATURE_HEADER)))
        if self.path == "/hang":
            Check.release.wait(30)
        answer = {"dial": self.path != "/no", "reason": "dnc"}
        body = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        return None


@pytest.fixture()
def server() -> Iterator[str]:
    Check.release, Check.signed = threading.Event(), []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Check)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    Check.release.set()
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture()
def topics(kafka_bootstrap: str, topic_prefix: str) -> Iterator[str]:
    names = make_topics(topic_prefix)
    yield topic_prefix
    drop_topics(names)


def test_checked_calls_are_dialled_or_skipped_and_all_committed(
    kafka_bootstrap: str, topics: str, tmp_path: Path, server: str
) -> None:
    create_secret(tmp_path, "acme")
    checks = {
        "yes": {"url": f"{server}/yes", "timeout_ms": 5000, "on_error": "skip"},
        "no": {"url": f"{server}/no", "timeout_ms": 5000, "on_error": "dial"},
        "hang-skip": {"url": f"{server}/hang", "timeout_ms": 200, "on_error": "skip"},
        "hang-dial": {"url": f"{server}/hang", "timeout_ms": 200, "on_error": "dial"},
    }
    calls = [
        call_record(kind, f"c{i}", predial=check)
        for kind, check in checks.items()
        for i in range(5)
    ] + [call_record("plain", f"c{i}") for i in range(5)]
    call_topic = catalogue.topic_name(catalogue.CALL_CREATE, topics)
    publish_calls(kafka_bootstrap, call_topic, calls)
    group = f"g-{uuid.uuid4().hex[:6]}"
    opts = options(kafka_bootstrap, topics, tmp_path, group, predial_secrets_dir=tmp_path)
    with running(instant(shares={"answered": 1.0}), opts):
        wait_for("every call committed", lambda: caught_up(kafka_bootstrap, group, call_topic))
    got = outcomes(kafka_bootstrap, topics)
    assert Counter(r["call_id"] for r in got) == Counter(c["call_id"] for c in calls)
    by_campaign = {
        kind: Counter((r["status"], r["hangup_cause"]) for r in got if r["campaign_id"] == kind)
        for kind in [*checks, "plain"]
    }
    assert by_campaign["no"] == Counter({("skipped", "predial:dnc"): 5})
    assert by_campaign["hang-skip"] == Counter({("skipped", "predial_error:timeout"): 5})
    for kind in ("yes", "hang-dial", "plain"):
        assert {status for status, _ in by_campaign[kind]} == {"answered"}, kind
    # every check that reached the server was signed (a hanging one may time out before)
    assert len(Check.signed) >= 10 and all(Check.signed)
