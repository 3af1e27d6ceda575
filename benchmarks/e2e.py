"""End to end as a newcomer runs it: 100k contacts through every service of `dev up`.

The whole stack (worker, simulated dialer with instant calls and model outcomes, sink,
API with its read model) runs as `campaignflow dev up` starts it, on the broker of
KAFKA_BOOTSTRAP_SERVERS (else the local one `make bench` started), under a fresh state
directory, fresh ports and a fresh topic prefix. Figures per phase:

- `campaign create --yes --wait`: file to a draft the engine confirmed (target <= 5 s);
- `campaign start` to `completed` in the worker's state (target <= 35 s), and calls/s;
- per phase, the CPU seconds each process used (worker, dialer, sink, API, the CLI) and
  the load average: on a shared machine the wall clock follows the load, CPU per call less.

The per-part benchmarks each measure one service against a bare loop; this one is the
figure users feel, where one service waiting on another shows (issue 26).

    .venv/bin/python benchmarks/e2e.py [--contacts 100000] [--concurrency 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from campaignflow.devstack import cpu_ticks

ROOT = Path(__file__).resolve().parents[1]
EXE = str(Path(sys.executable).parent / "campaignflow")
ACCOUNT = "acme"
CAMPAIGN_ID = "e2e-bench"
AREAS = ("212", "646", "718", "917", "312", "415", "617", "202")
TARGET_CREATE_SECONDS = 5.0
TARGET_RUN_SECONDS = 35.0

CAMPAIGN = """\
campaign_id: {cid}
account_id: {account}
name: End-to-end benchmark
agent: {{id: bench-bot, prompt: "Hi {{{{customer_name}}}}, about your {{{{plan}}}} plan"}}
source_number: "+15550100000"
default_region: US
variable_mapping: {{name: customer_name, plan_name: plan}}
rules:
  max_retries: 2
  retry_delay_minutes: 0.01
  calling_days: [mon, tue, wed, thu, fri, sat, sun]
  calling_window: {{start: "00:00", end: "24:00"}}
  timezone: America/New_York
  concurrent_calls: {concurrency}
  inbound_free_slots: 0
  caller_ids: {{numbers: ["+15550100001", "+15550100002", "+15550100003"], strategy: rolling}}
  alternate_strategy: clamp
  max_call_minutes: 2
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_contacts(path: Path, contacts: int) -> None:
    """Distinct US numbers, every other contact with an alternate number (as the demo's list)."""
    rng = random.Random(2026)
    lines = ["contact_id,phone_number,name,plan_name,phone_number_2"]
    for i in range(contacts):
        area = AREAS[i % len(AREAS)]
        primary = f"+1{area}{200 + (i // 10000) % 800:03d}{i % 10000:04d}"
        alt = f"+1{AREAS[(i + 3) % len(AREAS)]}{999 - (i // 10000) % 700:03d}{i % 10000:04d}"
        name = rng.choice(("Ann", "Bob", "Carla", "Dev"))
        plan = rng.choice(("basic", "plus", "pro"))
        lines.append(f"c{i:07d},{primary},{name},{plan},{alt if i % 2 else ''}")
    path.write_text("\n".join(lines) + "\n")


class Stack:
    """One `dev up` under its own home, ports and prefix; `down` leaves nothing running."""

    def __init__(self, home: Path, bootstrap: str) -> None:
        self.home = home
        self.prefix = f"be-{uuid.uuid4().hex[:8]}."
        self.worker_port = free_port()
        self.env = {
            **os.environ,
            "CAMPAIGNFLOW_HOME": str(home / "state"),
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "CAMPAIGNFLOW_TOPIC_PREFIX": self.prefix,
            "CAMPAIGNFLOW_WORKER_PORT": str(self.worker_port),
            "CAMPAIGNFLOW_DIALER_METRICS_PORT": str(free_port()),
            "CAMPAIGNFLOW_DIALER_CALLBACK_PORT": str(free_port()),
            "CAMPAIGNFLOW_SINK_PORT": str(free_port()),
            "CAMPAIGNFLOW_API_PORT": str(free_port()),
        }

    def cli(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [EXE, *args],
            env=self.env,
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def must(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """Run a CLI command; a failure ends the benchmark with its output and the logs' tails."""
        out = self.cli(*args, timeout=timeout)
        if out.returncode != 0:
            self.fail(
                f"`campaignflow {' '.join(args)}` exited {out.returncode}:\n{out.stdout}{out.stderr}"
            )
        return out

    def logs(self) -> str:
        parts = []
        for log in sorted((self.home / "state" / "logs").glob("*.log")):
            tail = log.read_bytes()[-3000:].decode(errors="replace")
            parts.append(f"---- end of {log.name} ----\n{tail}")
        return "\n".join(parts)

    def fail(self, why: str) -> None:
        raise SystemExit(f"e2e benchmark failed: {why}\n{self.logs()}")

    def state(self) -> dict[str, Any] | None:
        url = f"http://127.0.0.1:{self.worker_port}/accounts/{ACCOUNT}/campaigns/{CAMPAIGN_ID}"
        try:
            with urllib.request.urlopen(url, timeout=10) as resp:
                return dict(json.loads(resp.read()))
        except (OSError, urllib.error.URLError, ValueError):
            return None

    def worker_metrics(self) -> dict[str, float]:
        """The worker's histograms' sums and counts (label-free series only)."""
        url = f"http://127.0.0.1:{self.worker_port}/metrics"
        try:
            with urllib.request.urlopen(url, timeout=10) as resp:
                text = resp.read().decode()
        except OSError:
            return {}
        out: dict[str, float] = {}
        for line in text.splitlines():
            name, _, value = line.partition(" ")
            if name.startswith("campaignflow_engine_") and name.endswith(("_sum", "_count")):
                out[name.removeprefix("campaignflow_engine_")] = float(value)
        return out

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds (user + system) each service of `dev up` has used so far, and the CLI's."""
        tick = os.sysconf("SC_CLK_TCK")
        out: dict[str, float] = {}
        for pid_file in sorted((self.home / "state" / "run").glob("*.pid")):
            try:
                ticks = cpu_ticks(int(pid_file.read_text().strip()))
            except (OSError, ValueError):
                continue
            if ticks is not None:
                out[pid_file.stem] = ticks / tick
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # the CLI commands run so far
        out["cli"] = usage.ru_utime + usage.ru_stime
        return out

    def down(self) -> None:
        self.cli("dev", "down", timeout=180)
        from campaignflow.config import settings
        from topics.admin import admin_client, delete_topics

        names = [s.name for s in settings().topics_at(self.prefix).catalogue().values()]
        delete_topics(names, admin_client(settings().kafka))


def wait_completed(stack: Stack, timeout_seconds: float) -> dict[str, Any]:
    """Poll the worker until the campaign is completed; fail with the logs if it stalls."""
    deadline = time.monotonic() + timeout_seconds
    last: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        last = stack.state() or last
        if last and last.get("status") == "completed":
            return last
        time.sleep(0.2)
    stack.fail(f"not completed after {timeout_seconds:.0f} s; last state {json.dumps(last)[:800]}")
    raise AssertionError("unreachable")


def phase_report(
    name: str, seconds: float, before: dict[str, float], after: dict[str, float]
) -> None:
    """Where the worker's time went in a phase: agent batches, commits (behind it), steps."""

    def delta(key: str) -> float:
        return after.get(key, 0.0) - before.get(key, 0.0)

    batches, commits = delta("batch_seconds_count"), delta("commit_seconds_count")
    print(
        f"  {name}: worker {batches:,.0f} batches ({delta('batch_seconds_sum'):.1f} s in the agent,"
        f" {delta('step_seconds_sum'):.1f} s in engine steps), {commits:,.0f} commits of"
        f" {delta('commit_batches_sum') / max(commits, 1):.1f} batches"
        f" ({delta('commit_seconds_sum'):.1f} s committing) in {seconds:.1f} s",
        flush=True,
    )


def cpu_report(name: str, before: dict[str, float], after: dict[str, float], calls: int) -> float:
    """CPU seconds per process in a phase (the machine is shared: wall time alone misleads)."""
    spent = {k: after[k] - before.get(k, 0.0) for k in after}
    total = sum(spent.values())
    parts = ", ".join(f"{k} {v:.1f}" for k, v in sorted(spent.items()))
    per_call = f", {total / calls * 1000:.2f} ms a call" if calls else ""
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"  {name}: CPU s {parts}; total {total:.1f}{per_call} (load average {load})", flush=True)
    return total


def calls_of(state: dict[str, Any]) -> int:
    """Calls created, from the worker's campaign state (its counters)."""
    for key in ("calls_created", "calls", "attempts"):
        if isinstance(state.get(key), int):
            return int(state[key])
    counters = state.get("counters")
    if isinstance(counters, dict):
        for key in ("calls_created", "calls", "attempts"):
            if isinstance(counters.get(key), int):
                return int(counters[key])
    return 0


def run(contacts: int, concurrency: int, bootstrap: str) -> list[dict[str, object]]:
    with tempfile.TemporaryDirectory(prefix="cf-e2e-") as tmp:
        home = Path(tmp)
        (home / "campaign.yaml").write_text(
            CAMPAIGN.format(cid=CAMPAIGN_ID, account=ACCOUNT, concurrency=concurrency)
        )
        write_contacts(home / "contacts.csv", contacts)
        stack = Stack(home, bootstrap)
        try:
            t0 = time.monotonic()
            stack.must("dev", "up", "--dialer-time-scale", "0")
            stack.must("accounts", "create", ACCOUNT, "--active")
            print(f"dev up: {time.monotonic() - t0:.1f} s", flush=True)
            m0 = stack.worker_metrics()
            c0 = stack.cpu_seconds()
            t0 = time.monotonic()
            stack.must(
                "campaign",
                "create",
                "campaign.yaml",
                "--contacts",
                "contacts.csv",
                "--yes",
                "--wait",
            )
            create_s = time.monotonic() - t0
            print(f"campaign create --yes --wait: {create_s:.1f} s", flush=True)
            m1 = stack.worker_metrics()
            c1 = stack.cpu_seconds()
            phase_report("create", create_s, m0, m1)
            cpu_report("create", c0, c1, 0)
            t0 = time.monotonic()
            stack.must("campaign", "start", CAMPAIGN_ID, "--account", ACCOUNT)
            state = wait_completed(stack, 1800)
            run_s = time.monotonic() - t0
            calls = calls_of(state)
            phase_report("run", run_s, m1, stack.worker_metrics())
            cpu_run = cpu_report("run", c1, stack.cpu_seconds(), calls)
            print(
                f"start to completed: {run_s:.1f} s, {calls:,} calls = {calls / run_s:,.0f} calls/s",
                flush=True,
            )
            print(f"final state: {json.dumps(state)[:600]}", flush=True)
        except BaseException:
            print(stack.logs(), file=sys.stderr)
            raise
        finally:
            stack.down()
    return [
        {
            "figure": f"`campaign create --yes --wait`, {contacts:,} contacts, s",
            "value": round(create_s, 1),
            "baseline": None,
            "ratio": None,
            "target": f"<= {TARGET_CREATE_SECONDS:.0f} s",
        },
        {
            "figure": f"start to completed, {contacts:,} contacts, s",
            "value": round(run_s, 1),
            "baseline": None,
            "ratio": None,
            "target": f"<= {TARGET_RUN_SECONDS:.0f} s",
        },
        {
            "figure": "end-to-end calls/s (model outcomes, instant calls)",
            "value": round(calls / run_s) if calls else None,
            "baseline": None,
            "ratio": None,
            "target": "(context)",
        },
        {
            "figure": "end-to-end CPU ms a call, every service (run phase)",
            "value": round(cpu_run / calls * 1000, 3) if calls else None,
            "baseline": None,
            "ratio": None,
            "target": "(context)",
        },
    ]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--contacts", type=int, default=100_000)
    p.add_argument("--concurrency", type=int, default=1000)
    args = p.parse_args()
    from campaignflow import kafka_local
    from campaignflow.config import settings

    bootstrap = settings().kafka_bootstrap_servers or kafka_local.up().bootstrap
    rows = run(args.contacts, args.concurrency, bootstrap)
    print("BENCH " + json.dumps(rows))


if __name__ == "__main__":
    main()
