"""`dev up` knows its services by their pid file and their title (campaignflow/devstack)."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from campaignflow import devstack
from campaignflow.config import settings
from tests.helpers import free_port

pytestmark = pytest.mark.unit


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("CAMPAIGNFLOW_HOME", str(tmp_path))
    settings.cache_clear()
    yield tmp_path
    settings.cache_clear()


def _sleeper(*title: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", *title])


def test_a_live_process_is_ours_only_by_its_title(home: Path) -> None:
    svc = devstack.Service("worker", ("campaignflow", "worker"), 0)
    svc.pid_file.parent.mkdir(parents=True, exist_ok=True)
    ours, other = _sleeper("campaignflow", "worker"), _sleeper("something-else")
    try:
        svc.pid_file.write_text(f"{ours.pid}\n")
        assert devstack.read_pid(svc) == ours.pid
        svc.pid_file.write_text(f"{other.pid}\n")  # a recycled pid: not our service
        assert devstack.read_pid(svc) is None
    finally:
        for p in (ours, other):
            p.kill()
            p.wait()
    svc.pid_file.write_text(f"{ours.pid}\n")  # gone
    assert devstack.read_pid(svc) is None


# Writes its log for a while (a service importing and joining its group), then answers.
SLOW_STARTER = """
import http.server, sys, time
log, port, busy = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
end = time.monotonic() + busy
with open(log, "a") as f:
    while time.monotonic() < end:
        f.write("starting\\n"); f.flush(); time.sleep(0.1)
class Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", port), Ok).serve_forever()
"""


@contextlib.contextmanager
def running(svc: devstack.Service, argv: list[str]) -> Iterator[subprocess.Popen[bytes]]:
    """A process started as `dev up` starts a service (pid file, log directory), then killed."""
    svc.pid_file.parent.mkdir(parents=True, exist_ok=True)
    svc.log.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(argv)
    svc.pid_file.write_text(f"{proc.pid}\n")
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def test_a_service_that_keeps_moving_is_waited_for_past_the_stall_window(home: Path) -> None:
    port = free_port()
    svc = devstack.Service("worker", ("campaignflow", "worker"), port)
    # Busy (writing its log) twice as long as the stall window before it answers: it is
    # waited for, not failed; no assertion on how long anything took.
    busy_seconds, stall_seconds = 6.0, 3.0
    argv = [sys.executable, "-c", SLOW_STARTER, str(svc.log), str(port), str(busy_seconds)]
    with running(svc, [*argv, "campaignflow", "worker"]) as proc:
        devstack.wait_answering(svc, proc.pid, stall_seconds=stall_seconds)
        assert devstack.answers(port)
        assert svc.log.read_text().count("starting") > 1  # it moved while it was waited for


def test_a_service_that_neither_runs_nor_logs_is_named_as_stuck(home: Path) -> None:
    svc = devstack.Service("sink", ("campaignflow", "sink"), free_port())
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)", "campaignflow"]
    with running(svc, sleeper) as proc, pytest.raises(RuntimeError) as err:
        devstack.wait_answering(svc, proc.pid, stall_seconds=1.5)
    assert "sink" in str(err.value) and "neither used CPU nor written its log" in str(err.value)


def test_a_service_that_exits_while_starting_is_named_with_its_log(home: Path) -> None:
    svc = devstack.Service("api", ("campaignflow", "api"), free_port())
    exits = [sys.executable, "-c", "import sys; sys.exit(3)", "campaignflow"]
    with running(svc, exits) as proc, pytest.raises(RuntimeError) as err:
        svc.log.write_text("boom: a clear reason\n")
        devstack.wait_answering(svc, proc.pid)
    assert "api" in str(err.value) and "exited during start-up" in str(err.value)
    assert "boom: a clear reason" in str(err.value)
