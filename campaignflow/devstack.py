"""The local stack: broker, topics, one engine worker, one simulated dialer, the sink, the API.

Each service is a background process with its log and pid under the state
directory, started in its own session so it outlives the command that started it
and can be stopped as a group. Starting is idempotent: a live pid is reused.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from campaignflow import kafka_local
from campaignflow.config import settings

Say = Callable[[str], None]


@dataclass(frozen=True)
class Service:
    name: str
    argv: tuple[str, ...]
    port: int  # where it answers /metrics

    @property
    def log(self) -> Path:
        return settings().home / "logs" / f"{self.name}.log"

    @property
    def pid_file(self) -> Path:
        return settings().home / "run" / f"{self.name}.pid"


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    pid: int | None
    port: int
    answers: bool


def campaignflow_bin() -> str:
    """The console script of this environment (the .venv one under make)."""
    candidate = Path(sys.executable).parent / "campaignflow"
    return str(candidate) if candidate.exists() else "campaignflow"


def services(dialer_args: tuple[str, ...] = ()) -> list[Service]:
    s = settings()
    exe = campaignflow_bin()
    return [
        Service("worker", (exe, "worker"), s.worker_port),
        Service(
            "dialer", (exe, "dialer", "--adapter", "simulator", *dialer_args), s.dialer_metrics_port
        ),
        Service("sink", (exe, "sink"), s.sink_port),
        Service("api", (exe, "api"), s.api_port),
    ]


TITLE_READS = 3  # reads of a process title before it is not ours


def read_pid(service: Service) -> int | None:
    try:
        pid = int(service.pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    # A zombie or a recycled pid is not our service. A starting worker rewrites its title
    # (setproctitle): a read in the middle may see it half written, so a mismatch is read
    # again before it counts.
    for _ in range(TITLE_READS):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return None
        if b"campaignflow" in cmdline:
            return pid
        time.sleep(0.05)
    return None


def answers(port: int, path: str = "/metrics", timeout_seconds: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}{path}", timeout=timeout_seconds
        ) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def start(service: Service, say: Say) -> int:
    pid = read_pid(service)
    if pid is not None:
        say(f"{service.name}: already running (pid {pid})")
        return pid
    service.log.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    service.pid_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with service.log.open("ab") as log:
        proc = subprocess.Popen(
            list(service.argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    service.pid_file.write_text(f"{proc.pid}\n")
    say(f"{service.name}: started (pid {proc.pid}), log {service.log}")
    return proc.pid


# A starting service that neither answers, nor uses CPU, nor writes its log for this long
# is stuck; one still importing or joining its group on a loaded machine is not.
STALL_SECONDS = 90.0
# The one fixed bound: a service that keeps busy for half an hour without answering.
START_BOUND_SECONDS = 1800.0


@dataclass(frozen=True)
class StartActivity:
    """What moves while a service starts: its CPU time and its log."""

    cpu_ticks: int
    log_bytes: int


def cpu_ticks(pid: int) -> int | None:
    """User + system clock ticks the process has used (proc(5): fields 14 and 15 of stat)."""
    try:
        # Fields after the command name, which may hold spaces: state is field 3.
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, ValueError, IndexError):
        return None


def activity(service: Service, pid: int) -> StartActivity:
    ticks = cpu_ticks(pid)
    try:
        size = service.log.stat().st_size
    except OSError:
        size = -1
    return StartActivity(cpu_ticks=-1 if ticks is None else ticks, log_bytes=size)


def wait_answering(
    service: Service,
    pid: int,
    stall_seconds: float = STALL_SECONDS,
    bound_seconds: float = START_BOUND_SECONDS,
) -> float:
    """Wait for the service to answer, as long as it moves; returns the seconds it took."""
    started = moved_at = time.monotonic()
    seen = activity(service, pid)
    while True:
        if read_pid(service) != pid:
            raise RuntimeError(
                f"{service.name} (pid {pid}) exited during start-up{exit_status(pid)}; see"
                f" {service.log}:\n{tail(service.log)}"
            )
        if answers(service.port):
            return time.monotonic() - started
        now = time.monotonic()
        now_seen = activity(service, pid)
        if now_seen != seen:
            seen, moved_at = now_seen, now
        stalled = now - moved_at > stall_seconds
        if stalled or now - started > bound_seconds:
            why = (
                f"has neither used CPU nor written its log for {now - moved_at:.0f}s"
                if stalled
                else f"is still busy past the {bound_seconds:.0f}s bound"
            )
            raise RuntimeError(
                f"{service.name} (pid {pid}) does not answer on port {service.port} after"
                f" {now - started:.0f}s and {why}; see {service.log}:\n{tail(service.log)}"
            )
        time.sleep(0.5)


def exit_status(pid: int) -> str:
    """How a child of this process ended (", exit code 1", ", killed by SIGKILL"), if it did."""
    try:
        done, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:  # not our child (started by an earlier `dev up`)
        return ""
    if done != pid:
        return ""
    if os.WIFSIGNALED(status):
        return f", killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f", exit code {os.WEXITSTATUS(status)}"


def stop(service: Service, say: Say, timeout_seconds: float = 20.0) -> None:
    pid = read_pid(service)
    if pid is None:
        service.pid_file.unlink(missing_ok=True)
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline and read_pid(service) == pid:
        time.sleep(0.2)
    if read_pid(service) == pid:
        say(f"{service.name}: still running after {timeout_seconds:.0f}s, killing")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        time.sleep(0.5)
    service.pid_file.unlink(missing_ok=True)
    say(f"{service.name}: stopped")


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def up(say: Say, dialer_args: tuple[str, ...] = ()) -> list[ServiceStatus]:
    from campaignflow.config import create_catalogue_topics

    broker = kafka_local.up(say=say)
    say(f"kafka: {broker.bootstrap}")
    create_catalogue_topics()
    say("topics: created")
    started = [(svc, start(svc, say)) for svc in services(dialer_args)]
    for svc, pid in started:
        seconds = wait_answering(svc, pid)
        say(f"{svc.name}: answering ({seconds:.1f}s)")
    return status()


def down(say: Say) -> None:
    for svc in reversed(services()):
        stop(svc, say)
    if kafka_local.down(say=say):
        say("kafka: stopped")


def status() -> list[ServiceStatus]:
    rows = []
    broker = kafka_local.status()
    port = int(broker.bootstrap.rsplit(":", 1)[-1])
    rows.append(ServiceStatus("kafka", broker.pid, port, broker.running))
    for svc in services():
        pid = read_pid(svc)
        rows.append(ServiceStatus(svc.name, pid, svc.port, pid is not None and answers(svc.port)))
    return rows
