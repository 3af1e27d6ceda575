"""The browser suite's rig: the live local stack (dev up, simulated dialer), two accounts, and
Debian's Chromium driven by Playwright (no browser is downloaded: executable_path is set)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.helpers import DEV_UP_SECONDS, free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
EXE = str(Path(sys.executable).parent / "campaignflow")
CHROMIUM = os.environ.get("CAMPAIGNFLOW_CHROMIUM", "/usr/bin/chromium")
AXE = ROOT / "api" / "console" / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Outcome shares of the simulated dialer; time scale 0.05 makes a call last about a second.
DIALER_MODEL = "answered=0.5,no_answer=0.3,busy=0.2"
DIALER_TIME_SCALE = "0.05"


@dataclass
class Stack:
    env: dict[str, str]
    base_url: str
    home: Path

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [EXE, *args], env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
        )

    def sql(self, query: str) -> list[dict[str, Any]]:
        """ClickHouse through `campaignflow sql` (the running sink's query endpoint)."""
        out = self.cli("sql", query, "--format", "json")
        assert out.returncode == 0, out.stdout + out.stderr
        return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


@dataclass
class Account:
    account_id: str
    key: str
    base_url: str

    def call(self, method: str, path: str, body: Any = None) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.key}"}
        if method == "POST":
            headers["Idempotency-Key"] = f"{time.time_ns()}"
        return requests.request(
            method, f"{self.base_url}/v1{path}", json=body, headers=headers, timeout=60
        )


def answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).ok
    except requests.RequestException:
        return False


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"The browser tests need Chromium at {CHROMIUM}: run `apt-get install chromium` "
            "as root (make test does it when it runs as root)."
        )
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `make install` (npm ci in api/console).")
    return CHROMIUM


@pytest.fixture(scope="session")
def browser_type_launch_args(chromium_path: str) -> dict[str, Any]:
    """pytest-playwright's launch arguments: Debian's Chromium, headless, nothing fetched."""
    return {"executable_path": chromium_path, "args": CHROMIUM_ARGS, "headless": True}


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """Where the screenshots go: docs/screenshots under `make screenshots`."""
    target = Path(os.environ.get("CAMPAIGNFLOW_SCREENSHOTS") or ROOT / "build" / "screenshots")
    if not target.is_absolute():
        target = ROOT / target
    target.mkdir(parents=True, exist_ok=True)
    return target


@pytest.fixture(scope="session")
def stack(
    tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str, chromium_path: str
) -> Iterator[Stack]:
    """`campaignflow dev up` (worker, simulated dialer, sink, API) on the session's broker."""
    home = tmp_path_factory.mktemp("browser") / "home"
    api_port = free_port()
    env = {
        **os.environ,
        "CAMPAIGNFLOW_HOME": str(home),
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "CAMPAIGNFLOW_TOPIC_PREFIX": f"browser{os.getpid()}",
        # The dialer's consumer group and static member id are not derived from the topic
        # prefix: another stack on the same broker would fence this dialer (its calls then
        # stay in flight for ever).
        "CAMPAIGNFLOW_DIALER_GROUP_ID": f"browser{os.getpid()}-dialer",
        "CAMPAIGNFLOW_DIALER_ID": f"browser{os.getpid()}-dialer",
        "CAMPAIGNFLOW_WORKER_PORT": str(free_port()),
        "CAMPAIGNFLOW_DIALER_METRICS_PORT": str(free_port()),
        "CAMPAIGNFLOW_DIALER_CALLBACK_PORT": str(free_port()),
        "CAMPAIGNFLOW_SINK_PORT": str(free_port()),
        "CAMPAIGNFLOW_API_PORT": str(api_port),
        # The webhooks page's test event goes to a server of the test on 127.0.0.1.
        "CAMPAIGNFLOW_API_WEBHOOK_ALLOW_LOOPBACK": "true",
    }
    st = Stack(env, f"http://127.0.0.1:{api_port}", home)
    up = st.cli(
        "dev",
        "up",
        "--dialer-model",
        DIALER_MODEL,
        "--dialer-time-scale",
        DIALER_TIME_SCALE,
        timeout=DEV_UP_SECONDS,
    )
    assert up.returncode == 0, up.stdout + up.stderr
    try:
        wait_until(
            lambda: answers(f"{st.base_url}/healthz"),
            "the API of dev up to answer",
            poll_seconds=0.5,
        )
        yield st
    finally:
        down = st.cli("dev", "down", timeout=120)
        if down.returncode != 0:
            print(down.stdout + down.stderr)
        # The services' logs outlive pytest's temporary directories, for a failure's autopsy.
        logs = ROOT / "build" / "browser-logs"
        shutil.rmtree(logs, ignore_errors=True)
        shutil.copytree(home / "logs", logs, dirs_exist_ok=True)
        shutil.rmtree(home / "clickhouse", ignore_errors=True)


def _account(stack: Stack, account_id: str, name: str, active: bool, seed: bool = True) -> Account:
    args = ["accounts", "create", account_id, "--name", name]
    if active:
        args.append("--active")
    out = stack.cli(*args)
    assert out.returncode == 0, out.stdout + out.stderr
    acct = Account(account_id, out.stdout.strip().splitlines()[-1], stack.base_url)
    # The API learns the key from the control-plane topic: on a busy machine, a moment later.
    wait_until(
        lambda: acct.call("GET", "/agents").status_code != 401,
        f"the API to accept the key of {account_id}",
        poll_seconds=0.5,
    )
    if not seed:
        return acct
    r = acct.call(
        "POST",
        "/agents",
        {
            "agent_id": "renewals-bot",
            "name": "Renewals",
            "prompt": "Hi {{customer_name}}, a word about your {{plan}} plan.",
        },
    )
    assert r.status_code in (200, 201), r.text
    for number_id, e164, label in (
        ("main-line", "+15550100000", "Main line"),
        ("second-line", "+15550100001", "Second line"),
        ("third-line", "+15550100002", "Third line"),
    ):
        body = {"number_id": number_id, "e164": e164, "label": label, "caller_id": True}
        r = acct.call("POST", "/numbers", body)
        assert r.status_code in (200, 201), r.text
    return acct


@pytest.fixture(scope="session")
def acme(stack: Stack) -> Account:
    return _account(stack, "acme", "Acme", active=True)


@pytest.fixture(scope="session")
def lapsed(stack: Stack) -> Account:
    """An account whose subscription is not active."""
    return _account(stack, "lapsed", "Lapsed Ltd", active=False)


@pytest.fixture(scope="session")
def newcomer(stack: Stack) -> Account:
    """An active account with no agent and no number yet (what `make demo` hands out)."""
    return _account(stack, "newco", "Newco", active=True, seed=False)
