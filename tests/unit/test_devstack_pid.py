"""`dev up` knows its services by their pid file and their title (campaignflow/devstack)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from campaignflow import devstack
from campaignflow.config import settings

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
