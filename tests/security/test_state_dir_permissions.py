"""Issue 21 item 15: nothing the project keeps under its state directory is readable by
another user: every directory 0700, every file 0600 (the read model holds full numbers,
the API its operator key, the sink its token; logs, pids, chDB and RocksDB files too).

Live: the real `campaignflow dev up` (broker topics, worker, dialer, sink, API) on a
state directory that existed before with mode 0755, then a campaign uploaded through the
API, a webhook and a do-not-call import with a rejects file, then every path under it.
"""

from __future__ import annotations

import json
import os
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from campaignflow.runtime import private_state
from tests.helpers import DEV_UP_SECONDS, free_port, wait_until
from tests.integration.api_kit import contacts_csv, definition, setup_account
from tests.integration.dialer_kit import drop_topics
from tests.integration.test_api_flow import cli
from topics import catalogue


def loose(root: Path) -> list[str]:
    """Every path under root (root too) that its group or others may use, with its mode."""
    out = []
    for path in [root, *root.rglob("*")]:
        try:
            st = path.lstat()
        except FileNotFoundError:
            continue  # a file a service removed meanwhile
        if stat.S_ISLNK(st.st_mode) or stat.S_ISSOCK(st.st_mode):
            continue
        if st.st_mode & 0o077:
            out.append(f"{path.relative_to(root.parent)} {stat.filemode(st.st_mode)}")
    return out


def test_private_state_tightens_an_old_directory_and_what_comes_after(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    home.chmod(0o755)
    old = os.umask(0o022)
    try:
        private_state(home)
        (home / "data").mkdir()
        (home / "data" / "numbers.csv").write_text("+12125550100\n")
        fd = os.open(home / "key", os.O_WRONLY | os.O_CREAT, 0o666)
        os.close(fd)
    finally:
        os.umask(old)
    assert loose(home) == []


@pytest.fixture()
def stack_home(kafka_bootstrap: str, tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    home.chmod(0o755)  # as an earlier version left it
    env = {
        **os.environ,
        "CAMPAIGNFLOW_HOME": str(home),
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "CAMPAIGNFLOW_TOPIC_PREFIX": f"tperm-{uuid.uuid4().hex[:8]}.",
        "CAMPAIGNFLOW_WORKER_PORT": str(free_port()),
        "CAMPAIGNFLOW_DIALER_METRICS_PORT": str(free_port()),
        "CAMPAIGNFLOW_DIALER_CALLBACK_PORT": str(free_port()),
        "CAMPAIGNFLOW_SINK_PORT": str(free_port()),
        "CAMPAIGNFLOW_API_PORT": str(free_port()),
    }
    up = cli(
        env,
        "dev",
        "up",
        "--dialer-model",
        "answered=1",
        "--dialer-time-scale",
        "0.02",
        timeout=DEV_UP_SECONDS,
    )
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        yield home, env
    finally:
        down = cli(env, "dev", "down", timeout=120)
        prefix = env["CAMPAIGNFLOW_TOPIC_PREFIX"]
        drop_topics([catalogue.topic_name(t, prefix) for t in catalogue.LOGICAL_NAMES])
        assert down.returncode == 0, down.stdout + down.stderr


def test_nothing_under_the_dev_stack_state_dir_is_readable_by_others(
    stack_home: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    home, env = stack_home
    url = f"http://127.0.0.1:{env['CAMPAIGNFLOW_API_PORT']}"
    operator = {"Authorization": "Bearer " + (home / "api" / "operator.key").read_text().strip()}
    with httpx.Client(base_url=url, timeout=60) as http:
        r = http.post(
            "/v1/operator/accounts",
            json={"account_id": "perm-co", "name": "Perm", "active": True},
            headers=operator,
        )
        assert r.status_code == 201, r.text
        key = {"Authorization": f"Bearer {r.json()['key']}"}
        setup_account(http, key)
        r = http.post("/v1/webhooks", json={"url": "https://example.org/hook"}, headers=key)
        assert r.status_code == 201, r.text
        r = http.post(
            "/v1/campaigns",
            files={
                "definition": (None, json.dumps(definition("perm-1"))),
                "contacts": ("contacts.csv", contacts_csv(20), "text/csv"),
            },
            headers=key,
        )
        assert r.status_code == 201, r.text
        # The read model has folded the create (a slow machine only makes this later).
        wait_until(
            lambda: http.get("/v1/campaigns/perm-1", headers=key).status_code == 200,
            "the API's read model to show the campaign",
            poll_seconds=0.5,
        )
    numbers = tmp_path / "dnc.txt"
    numbers.write_text("+12125550100\nnot a number\n")
    imported = cli(
        env,
        "dnc",
        "import",
        str(numbers),
        "--account",
        "perm-co",
        "--rejects",
        str(home / "dnc-rejects.csv"),
    )
    assert imported.returncode == 0, imported.stdout + imported.stderr
    sql = cli(env, "sql", "SELECT count() FROM campaigns")
    assert sql.returncode == 0, sql.stdout + sql.stderr
    kinds = {p.name for p in home.iterdir()}
    assert {"api", "logs", "run", "clickhouse", "worker", "dnc-rejects.csv"} <= kinds, kinds
    assert (home / "api" / "readmodel" / "CURRENT").exists()
    assert loose(home) == []
