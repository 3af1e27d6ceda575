"""No broker (or worker) answering: one line naming the address and the command that starts it.

Before (issue 17, item 14): `campaignflow topics list` printed hundreds of librdkafka log
lines over 30 s and ended in a traceback. Run against a port nothing listens on.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

CAMPAIGNFLOW = str(Path(sys.executable).parent / "campaignflow")
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "spec"


def dead_port() -> int:
    """A port that was free a moment ago: nothing listens on it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


COMMANDS = [
    ["topics", "list"],
    ["topics", "create"],
    ["campaign", "list"],
    ["campaign", "start", "spring-renewals"],
    ["campaign", "schedule", "spring-renewals", "--at", "2026-12-01T14:00:00Z"],
    [
        "campaign",
        "create",
        str(EXAMPLES / "campaign.yaml"),
        "--contacts",
        str(EXAMPLES / "contacts.csv"),
        "--yes",
    ],
    ["contacts", "add", "spring-renewals", "--phone", "+12025550100"],
    ["deadletter", "list"],
    ["dialer"],
    ["sink"],
    ["worker"],
]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_no_broker_is_one_line_naming_the_address_and_the_fix(
    args: list[str], tmp_path: Path
) -> None:
    port = dead_port()
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "CI")}
    env.update(
        {
            "CAMPAIGNFLOW_HOME": str(tmp_path),
            "CAMPAIGNFLOW_KAFKA_PORT": str(port),
            "CAMPAIGNFLOW_SINK_PORT": str(dead_port()),
            "CAMPAIGNFLOW_DIALER_METRICS_PORT": "0",
        }
    )
    done = subprocess.run(
        [CAMPAIGNFLOW, *args], env=env, capture_output=True, text=True, timeout=60
    )
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1, done.stderr[-2000:]
    assert len(lines) == 1, done.stderr[-2000:]
    assert f"127.0.0.1:{port}" in lines[0] and "campaignflow kafka up" in lines[0]
    assert "Traceback" not in done.stdout + done.stderr


def test_no_worker_is_one_line_naming_the_command_that_starts_it(tmp_path: Path) -> None:
    port = dead_port()
    env = {**os.environ, "CAMPAIGNFLOW_HOME": str(tmp_path), "CAMPAIGNFLOW_WORKER_PORT": str(port)}
    done = subprocess.run(
        [CAMPAIGNFLOW, "campaign", "status", "x", "--account", "acme"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert f"127.0.0.1:{port}" in lines[0] and "campaignflow worker" in lines[0]
