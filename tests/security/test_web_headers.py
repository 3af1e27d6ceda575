"""The console and the API's answers (issue 21, item 13): a Content-Security-Policy the console
keeps to, no framing, no sniffing, no /docs from a CDN, /metrics only under its own name."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import CONSOLE_DIR, create_app, stop_services
from tests.integration.api_kit import local_services
from tests.integration.dialer_kit import drop_topics
from topics import catalogue


@pytest.fixture()
def api(kafka_bootstrap: str, tmp_path: Path) -> Iterator[tuple[TestClient, Any]]:
    prefix = f"thdr-{uuid.uuid4().hex[:8]}."
    svc = local_services(kafka_bootstrap, prefix, tmp_path / "api")
    try:
        with TestClient(create_app(svc.config, services=svc)) as client:
            yield client, svc
    finally:
        stop_services(svc)
        drop_topics([catalogue.topic_name(t, prefix) for t in catalogue.LOGICAL_NAMES])


def test_every_answer_carries_the_browser_protections(api: tuple[TestClient, Any]) -> None:
    client, _ = api
    for path, status in (
        ("/", 200),
        ("/js/app.js", 200),
        ("/css/console.css", 200),
        ("/v1/account", 401),
        ("/openapi.json", 200),
        ("/nope", 404),
    ):
        r = client.get(path)
        assert r.status_code == status, path
        csp = r.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, path
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert r.headers["x-frame-options"] == "DENY", path
        assert r.headers["x-content-type-options"] == "nosniff", path


def test_docs_from_a_cdn_are_not_served(api: tuple[TestClient, Any]) -> None:
    client, _ = api
    r = client.get("/docs")
    assert r.status_code == 404 and b"cdn" not in r.content.lower()


def test_metrics_answer_only_their_own_names(api: tuple[TestClient, Any]) -> None:
    client, svc = api
    port = svc.config.port
    for host in ("attacker.example", f"attacker.example:{port}", f"127.0.0.1:{port + 1}", ""):
        r = client.get("/metrics", headers={"Host": host})
        assert r.status_code == 403 and b"python_info" not in r.content, host
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"):
        r = client.get("/metrics", headers={"Host": host})
        assert r.status_code == 200 and b"python_info" in r.content, host


def test_the_console_has_nothing_inline_the_policy_would_block() -> None:
    html = (CONSOLE_DIR / "index.html").read_text()
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert "src=" in tag, tag  # no inline script
    assert "<style" not in html and " style=" not in html
    assert not re.search(r"\son[a-z]+\s*=", html)  # no inline handlers
    for js in (CONSOLE_DIR / "js").glob("*.js"):
        text = js.read_text()
        # A style given as text would become a style attribute (blocked); objects go through
        # the CSSOM (ui.h), which the policy allows.
        assert not re.search(r"style:\s*[`'\"]", text), js.name
        assert "innerHTML" not in text and "eval(" not in text, js.name
