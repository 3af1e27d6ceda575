"""The chaos rig: a campaign on the local 3-node cluster while a seeded schedule kills things.

Two engine workers, two simulated dialers (scripted outcomes) and the sink run as
`campaignflow` subprocesses (each its own session, as `dev up` starts them) against topics
with 3 replicas and min.insync.replicas=2 under a fresh prefix. A bounded schedule, drawn
from the seed, SIGKILLs a worker, a dialer, the sink or one broker at a time and restarts
it, and once per run SIGSTOPs a worker or dialer past the group session timeout, then
SIGCONTs it (a zombie owner). Afterwards the invariants of issue 13 are checked against
ClickHouse, the topics and `campaignflow simulate`, and a table of faults and checks is
printed. `run()` returns the table's verdict. Liveness is measured from progress, not a
clock: the run fails when no contact is made final for `Size.stall_s` while calls are possible
(no fault under way), never because a loaded machine is slow; the time taken is reported.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource

from campaignflow import kafka_local
from campaignflow.config import settings
from tests.helpers import free_port, wait_until
from topics import catalogue
from topics.admin import create_topics, delete_topics
from topics.codec import Codec, DecodeError

ROOT = Path(__file__).resolve().parents[2]
EXE = str(Path(sys.executable).parent / "campaignflow")
SESSION_TIMEOUT_S = 10.0  # the workers' and dialers' group session timeout
STATUSES = ("answered", "no_answer", "busy", "voicemail", "failed", "invalid_number")
WEIGHTS = (40, 25, 10, 10, 10, 5)
MAX_RETRIES = 1
AREAS = ("212", "646", "718", "312")  # contact numbers: +1 AREA 55k iiii, alternates 23k


@dataclass(frozen=True)
class Size:
    """How big a run is: campaigns x contacts, concurrency, the fault schedule's bounds."""

    campaigns: int = 4
    contacts: int = 600
    concurrent_calls: int = 10  # per campaign: low, so the campaign outlasts the faults
    faults: int = 8
    fault_gap_s: tuple[float, float] = (6.0, 12.0)
    stall_s: float = 180.0  # no contact made final this long, no fault under way: not live


@dataclass
class Fault:
    at_s: float
    kind: str  # SIGKILL | SIGSTOP
    target: str
    note: str = ""


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


def campaign_yaml(cid: str, concurrent: int) -> str:
    return f"""\
campaign_id: {cid}
account_id: acme
name: Chaos {cid}
agent: {{id: bot, prompt: "Hi {{{{name}}}}"}}
source_number: "+15550100000"
rules:
  max_retries: {MAX_RETRIES}
  retry_delay_minutes: 0.01
  calling_days: [mon, tue, wed, thu, fri, sat, sun]
  calling_window: {{start: "00:00", end: "24:00"}}
  timezone: Europe/Paris
  concurrent_calls: {concurrent}
  caller_ids: {{numbers: ["+15550100001", "+15550100002", "+15550100003"], strategy: rolling}}
  alternate_strategy: rolling
  max_call_minutes: 1
"""


@dataclass
class Proc:
    name: str
    argv: list[str]
    metrics_port: int | None
    proc: subprocess.Popen[bytes] | None = None
    busy: bool = False  # the fault thread is killing/pausing it: the supervisor keeps off
    incarnations: list[dict[str, float]] = field(default_factory=list)  # last scrape of each


class ChaosRun:
    def __init__(
        self,
        seed: int,
        work: Path,
        size: Size,
        spare_dialers: bool = False,
        say: Callable[[str], None] = print,
    ) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.work = work
        self.size = size
        self.spare_dialers = spare_dialers
        self.say = say
        self.t0 = time.monotonic()
        kafka_local.cluster_up(3)  # the cluster of this state directory (reused when it runs)
        self.cluster = kafka_local.Cluster.from_settings(3)
        self.bootstrap = self.cluster.bootstrap
        self.prefix = f"chaos-{seed}-{uuid.uuid4().hex[:6]}."
        self.home = work / "home"
        self.home.mkdir(parents=True, exist_ok=True)
        self.sink_port = free_port()
        self.env = {
            **os.environ,
            "CAMPAIGNFLOW_HOME": str(self.home),
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "CAMPAIGNFLOW_TOPIC_PREFIX": self.prefix,
            "CAMPAIGNFLOW_REPLICATION_FACTOR": "3",
            "CAMPAIGNFLOW_SINK_PORT": str(self.sink_port),
        }
        self.procs: dict[str, Proc] = {}
        self.faults: list[Fault] = []
        self.checks: list[Check] = []
        self.campaigns = [f"chaos{k}" for k in range(size.campaigns)]
        self.account_of: dict[str, str] = {cid: "acme" for cid in self.campaigns}
        # Calls and finals must equal simulate's forecast when no dialer is killed (one
        # campaign per account: nothing but the dialer's answers decides which call is next).
        self.forecast_exact = True
        self.accepted = 0
        self.started_s: float | None = None  # when the campaigns were started
        self.final_s: float | None = None  # when the last contact was final
        self.stalled = ""  # why the liveness check failed, if it did
        self._stop = threading.Event()

    # ---- helpers ---------------------------------------------------------------------------

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [EXE, *args], env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
        )

    def sql(self, query: str) -> list[dict[str, Any]]:
        out = self.cli("sql", query, "--format", "json")
        if out.returncode != 0:
            raise RuntimeError(f"sql failed: {out.stderr[-500:]}")
        return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]

    # ---- inputs ----------------------------------------------------------------------------

    def write_inputs(self) -> None:
        """Campaign definitions, contact lists and the outcome script, all from the seed."""
        rows = ["contact_id,attempt,status,duration_seconds"]
        for k, cid in enumerate(self.campaigns):
            (self.work / f"{cid}.yaml").write_text(campaign_yaml(cid, self.size.concurrent_calls))
            lines = ["contact_id,phone_number,name,phone_number_2"]
            for i in range(self.size.contacts):
                contact = f"k{k}-{i}"
                alt = f"+1{AREAS[k % 4]}23{k // 4}{i:04d}" if i % 3 == 0 else ""
                lines.append(f"{contact},+1{AREAS[k % 4]}55{k // 4}{i:04d},Person {i},{alt}")
                for attempt in range(1, MAX_RETRIES + 2):
                    status = self.rng.choices(STATUSES, WEIGHTS)[0]
                    duration = round(self.rng.uniform(0.3, 2.5), 2)
                    rows.append(f"{contact},{attempt},{status},{duration}")
            (self.work / f"{cid}.csv").write_text("\n".join(lines) + "\n")
        (self.work / "outcomes.csv").write_text("\n".join(rows) + "\n")

    def forecast(self, cid: str) -> tuple[set[tuple[str, str, str]], dict[str, str]]:
        out = self.cli(
            "simulate",
            "--campaign",
            str(self.work / f"{cid}.yaml"),
            "--contacts",
            str(self.work / f"{cid}.csv"),
            "--outcomes",
            str(self.work / "outcomes.csv"),
            "--start",
            "2026-12-01T14:00:00Z",
        )
        if out.returncode != 0:
            raise RuntimeError(f"simulate failed: {out.stderr}")
        lines = [json.loads(x) for x in out.stdout.splitlines()]
        calls = {(x["call_id"], x["to"], x["from"]) for x in lines if x["type"] == "call.create"}
        finals = {x["contact_id"]: x["status"] for x in lines if x["type"] == "contact.final"}
        return calls, finals

    # ---- processes -------------------------------------------------------------------------

    def define_processes(self) -> None:
        group = f"{self.prefix}dialers"
        for name in ("worker-a", "worker-b"):
            port = free_port()
            argv = [EXE, "worker", "--web-port", str(port), "--loglevel", "warning"]
            self.procs[name] = Proc(name, argv, port)
        for name in ("dialer-a", "dialer-b"):
            port = free_port()
            argv = [EXE, "dialer", "--adapter", "simulator", "--time-scale", "1"]
            argv += ["--script", str(self.work / "outcomes.csv"), "--dialer-id", name]
            argv += ["--group-id", group, "--metrics-port", str(port), "--concurrency", "200"]
            self.procs[name] = Proc(name, argv, port)
        sink = [EXE, "sink", "--group", f"{self.prefix}sink", "--batch-seconds", "0.5"]
        self.procs["sink"] = Proc("sink", sink, self.sink_port)

    def start(self, p: Proc) -> None:
        log = (self.work / f"{p.name}.log").open("ab")
        p.proc = subprocess.Popen(
            p.argv,
            env=self.env,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        p.incarnations.append({})
        log.close()

    def answers(self, p: Proc) -> bool:
        try:
            return requests.get(f"http://127.0.0.1:{p.metrics_port}/metrics", timeout=2).ok
        except requests.RequestException:
            return False

    def wait_answers(self, p: Proc) -> None:
        """Until the process answers on its metrics port; it exiting meanwhile is a failure."""

        def up() -> bool:
            if p.proc is not None and p.proc.poll() is not None:
                tail = (self.work / f"{p.name}.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{p.name} exited: {tail}")
            return self.answers(p)

        wait_until(up, f"{p.name} to answer on {p.metrics_port}", poll_seconds=0.3)

    def scrape(self, p: Proc) -> None:
        """Keep the counters of the current incarnation (before a kill, and at the end)."""
        try:
            text = requests.get(f"http://127.0.0.1:{p.metrics_port}/metrics", timeout=2).text
        except requests.RequestException:
            return
        values: dict[str, float] = {}
        for line in text.splitlines():
            m = re.match(
                r"^(campaignflow_calls_created_total|dialer_outcomes_total)\S* (\S+)$", line
            )
            if m:
                values[m.group(1)] = values.get(m.group(1), 0.0) + float(m.group(2))
            elif line.startswith("campaignflow_engine_inputs_total{") and "inbound" in line:
                key = "campaignflow_inbound_inputs"  # inbound calls the engine read
                values[key] = values.get(key, 0.0) + float(line.rsplit(" ", 1)[1])
        if values and p.incarnations:
            p.incarnations[-1] = values

    # ---- faults ----------------------------------------------------------------------------

    def schedule(self) -> list[tuple[float, str, str]]:
        """(delay before, kind, target): the seeded, bounded fault plan."""
        targets = ["worker-a", "worker-b", "sink", "broker"]
        if not self.spare_dialers:
            targets += ["dialer-a", "dialer-b"]
        plan: list[tuple[float, str, str]] = []
        stop_at = self.rng.randrange(1, self.size.faults)
        for i in range(self.size.faults):
            gap = self.rng.uniform(*self.size.fault_gap_s)
            if i == stop_at:
                pausable = [t for t in targets if t.startswith(("worker", "dialer"))]
                plan.append((gap, "SIGSTOP", self.rng.choice(pausable)))
            plan.append((gap, "SIGKILL", self.rng.choice(targets)))
        return plan

    def inject(self, plan: list[tuple[float, str, str]], done: Callable[[], bool]) -> None:
        """The seeded faults, one after another, until the campaigns are all final (the
        schedule is bounded by its count; each fault ends with its target answering again)."""
        for gap, kind, target in plan:
            if self._stop.wait(gap) or done():
                return
            if target == "broker":
                self.kill_broker()
            elif kind == "SIGSTOP":
                self.pause(target)
            else:
                self.kill(target)

    def supervise(self) -> None:
        """The supervisor's part (systemd Restart=always): a process that exited by itself is
        restarted, and the table says so (a dialer whose consumer died, a fenced worker)."""
        while not self._stop.wait(1.0):
            for p in self.procs.values():
                if p.busy or p.proc is None or p.proc.poll() is None:
                    continue
                self.faults.append(
                    Fault(
                        self.elapsed(),
                        "exit",
                        p.name,
                        f"exited {p.proc.returncode} by itself, restarted",
                    )
                )
                self.start(p)

    def kill(self, name: str) -> None:
        p = self.procs[name]
        assert p.proc is not None
        p.busy = True
        try:
            self._kill(p, name)
        finally:
            p.busy = False

    def _kill(self, p: Proc, name: str) -> None:
        self.scrape(p)
        at = self.elapsed()
        p.proc.send_signal(signal.SIGKILL)
        p.proc.wait(30)
        down = self.rng.uniform(0.5, 3.0)
        self.faults.append(Fault(at, "SIGKILL", name, f"restarted after {down:.1f}s"))
        time.sleep(down)
        self.start(p)
        self.wait_answers(p)

    def pause(self, name: str) -> None:
        p = self.procs[name]
        p.busy = True
        try:
            self._pause(p, name)
        finally:
            p.busy = False

    def _pause(self, p: Proc, name: str) -> None:
        assert p.proc is not None
        hold = SESSION_TIMEOUT_S + 5
        self.scrape(p)  # nothing counts while stopped, and a fenced worker exits on waking
        p.proc.send_signal(signal.SIGSTOP)
        self.faults.append(Fault(self.elapsed(), "SIGSTOP", name, f"SIGCONT after {hold:.0f}s"))
        time.sleep(hold)
        p.proc.send_signal(signal.SIGCONT)
        # A worker that finds it stalled past its lease exits (streams/lease.py): the
        # supervisor's part, restarting it, is ours.
        time.sleep(3)
        if p.proc.poll() is not None:
            self.faults[-1].note += f", exited {p.proc.returncode} (fenced), restarted"
            self.start(p)
            self.wait_answers(p)

    def kill_broker(self) -> None:
        node = self.rng.choice(self.cluster.nodes)
        pid = int(node.layout.pid_file.read_text())
        at = self.elapsed()
        os.kill(pid, signal.SIGKILL)
        down = self.rng.uniform(2.0, 5.0)
        time.sleep(down)
        kafka_local.cluster_up(3)
        insync = self.wait_in_sync(90)
        self.faults.append(
            Fault(
                at,
                "SIGKILL",
                f"broker {node.node_id}",
                f"restarted after {down:.1f}s, ISR full again: {insync}",
            )
        )

    def wait_in_sync(self, timeout: float) -> bool:
        """Every partition of the run's topics has 3 in-sync replicas again (one broker at a time)."""
        admin = AdminClient({"bootstrap.servers": self.bootstrap, "log_level": 0})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            topics = admin.list_topics(timeout=10).topics
            ours = [t for n, t in topics.items() if n.startswith(self.prefix)]
            if ours and all(len(p.isrs) == 3 for t in ours for p in t.partitions.values()):
                return True
            time.sleep(1)
        return False

    # ---- the run ---------------------------------------------------------------------------

    def run(self) -> bool:
        """The whole run; this process's settings point at the cluster meanwhile."""
        saved = {
            k: os.environ.get(k)
            for k in (
                "KAFKA_BOOTSTRAP_SERVERS",
                "CAMPAIGNFLOW_KAFKA_BROKERS",
                "CAMPAIGNFLOW_REPLICATION_FACTOR",
            )
        }
        os.environ.update(
            KAFKA_BOOTSTRAP_SERVERS=self.bootstrap,
            CAMPAIGNFLOW_KAFKA_BROKERS="3",
            CAMPAIGNFLOW_REPLICATION_FACTOR="3",
        )
        settings.cache_clear()
        try:
            return self._run()
        finally:
            self._stop.set()
            self.teardown()
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
            settings.cache_clear()

    def _run(self) -> bool:
        self.say(f"chaos run seed={self.seed} prefix={self.prefix} bootstrap={self.bootstrap}")
        specs = settings().topics_at(self.prefix).catalogue()
        create_topics(specs.values(), admin=AdminClient({"bootstrap.servers": self.bootstrap}))
        self.check_durability(list(specs.values()))
        self.write_inputs()
        forecasts = {cid: self.forecast(cid) for cid in self.campaigns}
        self.setup_accounts()
        self.define_processes()
        for p in self.procs.values():
            self.start(p)
        for p in self.procs.values():
            self.wait_answers(p)
        errors: list[str] = []

        def launch(cid: str) -> None:
            out = self.cli(
                "campaign",
                "create",
                str(self.work / f"{cid}.yaml"),
                "--contacts",
                str(self.work / f"{cid}.csv"),
                "--yes",
                "--wait",
                "--workers",
                "1",
            )
            if out.returncode != 0:
                errors.append(f"campaign create {cid}: {out.stdout}{out.stderr}")
                return
            started = self.cli("campaign", "start", cid, "--account", self.account_of[cid])
            if started.returncode != 0:
                errors.append(f"campaign start {cid}: {started.stdout}{started.stderr}")

        launchers = [threading.Thread(target=launch, args=(cid,)) for cid in self.campaigns]
        for t in launchers:
            t.start()
        for t in launchers:
            t.join()
        if errors:
            raise RuntimeError("; ".join(errors))
        self.accepted = sum(len(f[1]) for f in forecasts.values())
        self.started_s = self.elapsed()
        self.say(
            f"{len(self.campaigns)} campaigns started, {self.accepted} contacts accepted,"
            f" at {self.started_s:.0f}s"
        )
        finished = threading.Event()
        chaos = threading.Thread(
            target=self.inject, args=(self.schedule(), finished.is_set), daemon=True
        )
        chaos.start()
        threading.Thread(target=self.supervise, daemon=True).start()
        done = self.wait_final(finished)
        chaos.join()  # a fault under way ends with its target answering (or raising)
        for p in self.procs.values():
            self.scrape(p)
        self.verify(forecasts, done)
        self.print_table()
        return all(c.ok for c in self.checks)

    def setup_accounts(self) -> None:
        """Every account of the run, created and active (none is active without a record)."""
        for account in sorted(set(self.account_of.values())):
            for step in (("create", account), ("activate", account)):
                done = self.cli("accounts", *step)
                if done.returncode != 0:
                    raise RuntimeError(f"accounts {' '.join(step)}: {done.stdout}{done.stderr}")

    def progress_extra(self) -> object:
        """More progress for the liveness window than contacts made final (a subclass's)."""
        return None

    def finals(self) -> list[dict[str, Any]]:
        names = ",".join(f"'{c}'" for c in self.campaigns)
        return self.sql(
            "SELECT campaign_id, contact_id, status FROM v_contact_finals"
            f" WHERE campaign_id IN ({names})"
        )

    def wait_final(self, finished: threading.Event) -> bool:
        """Until every accepted contact is final in ClickHouse. Not live (False): no contact
        made final for `stall_s` while no fault was injected (each fault restarts the window,
        as calls are not possible while a broker or the only owner is down)."""
        seen = {"final": -1}

        def all_final() -> bool:
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                seen["final"] = len(self.finals())  # the sink down: the next turn asks again
            return seen["final"] == self.accepted

        try:
            wait_until(
                all_final,
                "every accepted contact final",
                progress=lambda: (seen["final"], len(self.faults), self.progress_extra()),
                stall_seconds=self.size.stall_s,
                poll_seconds=3,
            )
        except AssertionError as stalled:
            self.stalled = f"{stalled} ({seen['final']} of {self.accepted} final)"
            return False
        finally:
            finished.set()
        self.final_s = self.elapsed()
        self.say(f"all {self.accepted} contacts final after {self.final_s:.0f}s")
        return True

    def calling_s(self) -> float | None:
        """Seconds from the campaigns' start to the last contact final (the run's figure)."""
        if self.started_s is None or self.final_s is None:
            return None
        return self.final_s - self.started_s

    # ---- invariants ------------------------------------------------------------------------

    def check(self, name: str, ok: bool, detail: str) -> None:
        self.checks.append(Check(name, ok, detail))

    def check_durability(self, specs: list[catalogue.TopicSpec]) -> None:
        admin = AdminClient({"bootstrap.servers": self.bootstrap})

        def known() -> dict[str, Any] | None:  # every broker learns of new topics a moment apart
            topics: dict[str, Any] = admin.list_topics(timeout=30).topics
            return topics if all(s.name in topics for s in specs) else None

        meta = wait_until(known, "every broker to know the run's topics", poll_seconds=0.5)
        rf = {len(p.replicas) for s in specs for p in meta[s.name].partitions.values()}
        res = ConfigResource("topic", specs[0].name)
        isr = admin.describe_configs([res])[res].result()["min.insync.replicas"].value
        self.check(
            "topics: 3 replicas, min.insync.replicas=2",
            rf == {3} and isr == "2",
            f"replicas {sorted(rf)}, min.insync.replicas {isr}",
        )

    def read_topic(self, logical: str) -> list[tuple[str, dict[str, Any]]]:
        topic = catalogue.topic_name(logical, self.prefix)
        c = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": f"verify-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
            }
        )
        parts = c.list_topics(topic, timeout=30).topics[topic].partitions
        ends = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1] for p in parts}
        c.assign([TopicPartition(topic, p, 0) for p in parts])
        codec = Codec(None)
        out: list[tuple[str, dict[str, Any]]] = []
        pending = {p for p, end in ends.items() if end > 0}

        def at_end() -> bool:
            for m in c.consume(1000, timeout=1):
                if m.error():
                    continue
                p, off = m.partition(), m.offset()
                assert p is not None and off is not None
                if off + 1 >= ends[p]:
                    pending.discard(p)
                try:
                    out.append(codec.decode(m.value()))
                except DecodeError:
                    continue
            return not pending

        try:
            if pending:
                wait_until(at_end, f"{topic} read to its end", progress=out.__len__, poll_seconds=0)
        finally:
            c.close()
        return out

    def verify(
        self, forecasts: dict[str, tuple[set[tuple[str, str, str]], dict[str, str]]], done: bool
    ) -> None:
        dialers_hit = any(f.target.startswith("dialer") for f in self.faults)
        finals = self.finals()
        by_status = Counter(r["status"] for r in finals)
        counted = sum(
            by_status[s]
            for s in (
                "reached",
                "exhausted",
                "failed",
                "cancelled",
                "suppressed",
                "opted_out",
                "expired",
                "skipped",
            )
        )
        calling = self.calling_s()
        self.check(
            "every accepted contact final, none stalled",
            done
            and len(finals) == self.accepted
            and len({(r["campaign_id"], r["contact_id"]) for r in finals}) == self.accepted,
            f"{len(finals)} final of {self.accepted} accepted"
            + (f" in {calling:.0f}s of calling" if calling is not None else f"; {self.stalled}"),
        )
        self.check(
            "final statuses add up to the accepted contacts",
            counted == self.accepted,
            f"{dict(sorted(by_status.items()))} = {counted}",
        )
        names = ",".join(f"'{c}'" for c in self.campaigns)
        calls = self.sql(
            "SELECT call_id, contact_id, attempt, to_number, caller_id FROM call_attempts FINAL"
            f" WHERE campaign_id IN ({names})"
        )
        got = {(r["call_id"], r["to_number"], r["caller_id"]) for r in calls}
        want = set().union(*(f[0] for f in forecasts.values()))
        want_finals = {k: v for f in forecasts.values() for k, v in f[1].items()}
        got_finals = {r["contact_id"]: r["status"] for r in finals}
        if not dialers_hit and self.forecast_exact:
            self.check(
                "no dialer killed: calls = simulate's forecast (ids, numbers, caller IDs)",
                got == want,
                f"{len(got)} calls, forecast {len(want)}; missing {len(want - got)},"
                f" extra {len(got - want)}",
            )
            diff = sum(1 for k, v in want_finals.items() if got_finals.get(k) != v)
            self.check(
                "no dialer killed: every contact ends as forecast",
                diff == 0,
                f"{diff} of {len(want_finals)} differ",
            )
        attempts = Counter(r["contact_id"] for r in calls)
        worst = max(attempts.values(), default=0)
        self.check(
            "attempts <= 1 + max_retries",
            worst <= 1 + MAX_RETRIES,
            f"most attempts of a contact: {worst}",
        )
        outcome_rows = self.sql(
            "SELECT call_id, count() AS n FROM call_outcomes FINAL"
            f" WHERE campaign_id IN ({names}) GROUP BY call_id"
        )
        per_call = {r["call_id"]: r["n"] for r in outcome_rows}
        doubled = [c for c, n in per_call.items() if n > 1][:3]
        if doubled:
            listed = ",".join(f"'{c}'" for c in doubled)
            for row in self.sql(
                "SELECT call_id, status, ended_at, started_at, dialer_id, hangup_cause"
                f" FROM call_outcomes FINAL WHERE call_id IN ({listed}) ORDER BY call_id"
            ):
                self.say(f"  two outcome rows: {row}")
        ids = {r["call_id"] for r in calls}
        self.check(
            "every call has exactly one outcome row",
            set(per_call) == ids and all(n == 1 for n in per_call.values()),
            f"{len(ids)} calls, {len(per_call)} with outcomes, max rows per call"
            f" {max(per_call.values(), default=0)}",
        )
        # A placement shows as a dialer outcome's started_at (a reconciled call keeps its
        # placement's); two different ones for a call id = the adapter reached twice.
        placements: dict[str, set[int]] = {}
        for name, rec in self.read_topic(catalogue.OUTCOMES):
            if name == "CallOutcome" and rec.get("started_at") and rec["status"] != "timeout":
                placements.setdefault(rec["call_id"], set()).add(rec["started_at"])
        twice = sorted(c for c, s in placements.items() if len(s) > 1)
        self.check(
            "no call id reaches the adapter twice",
            not twice,
            f"{len(placements)} placed, {len(twice)} twice {twice[:3]}",
        )
        created = sum(
            inc.get("campaignflow_calls_created_total", 0.0)
            for name in ("worker-a", "worker-b")
            for inc in self.procs[name].incarnations
        )
        workers_hit = any(f.target.startswith("worker") for f in self.faults)
        self.check(
            "Prometheus calls_created (all incarnations) vs ClickHouse calls",
            created == len(ids) if not workers_hit else created >= len(ids),
            f"{created:.0f} counted, {len(ids)} in ClickHouse"
            + (" (a worker replay re-counts: >= checked)" if workers_hit else ""),
        )
        status = [self.worker_status(cid) for cid in self.campaigns]
        committed_calls = sum(s.get("calls_created", -1) for s in status if s)
        committed_final = Counter()
        for s in status:
            if s:
                committed_final.update(s["contacts"]["by_final_status"])
        self.check(
            "engine's committed counters = ClickHouse (calls, finals by status)",
            committed_calls == len(ids) and committed_final == by_status,
            f"calls {committed_calls} vs {len(ids)}; finals {dict(committed_final)}",
        )

    def worker_status(self, cid: str) -> dict[str, Any] | None:
        for name in ("worker-a", "worker-b"):
            port = self.procs[name].metrics_port
            try:
                url = f"http://127.0.0.1:{port}/accounts/{self.account_of[cid]}/campaigns/{cid}"
                resp = requests.get(url, timeout=10)
            except requests.RequestException:
                continue
            if resp.status_code == 200:
                body: dict[str, Any] = resp.json()
                return body
        return None

    def print_table(self) -> None:
        lines = [f"chaos seed={self.seed}: faults injected ({len(self.faults)})"]
        lines.append(f"  {'at':>6}  {'signal':<8} {'target':<10} note")
        for f in self.faults:
            lines.append(f"  {f.at_s:6.1f}  {f.kind:<8} {f.target:<10} {f.note}")
        lines.append(f"invariants checked ({len(self.checks)})")
        for c in self.checks:
            lines.append(f"  {'PASS' if c.ok else 'FAIL'}  {c.name}: {c.detail}")
        verdict = "PASS" if all(c.ok for c in self.checks) else "FAIL"
        lines.append(f"verdict: {verdict} in {self.elapsed():.0f}s ({self.figure()})")
        self.say("\n".join(lines))

    def figure(self) -> str:
        """The run's time as a figure: set-up, then calling until every contact was final."""
        calling = self.calling_s()
        if self.started_s is None or calling is None:
            return "not every contact final"
        return (
            f"campaigns started at {self.started_s:.0f}s, all contacts final {calling:.0f}s later"
        )

    def teardown(self) -> None:
        self._stop.set()
        time.sleep(1.5)  # the supervisor's last turn
        for p in self.procs.values():
            if p.proc is not None and p.proc.poll() is None:
                p.proc.send_signal(signal.SIGCONT)
                p.proc.send_signal(signal.SIGTERM)
        for p in self.procs.values():
            if p.proc is None:
                continue
            try:
                p.proc.wait(20)
            except subprocess.TimeoutExpired:
                p.proc.kill()
                p.proc.wait(10)
        try:
            admin = AdminClient({"bootstrap.servers": self.bootstrap})
            names = [n for n in admin.list_topics(timeout=30).topics if n.startswith(self.prefix)]
            delete_topics(names, admin=admin)
        except Exception as exc:  # the verdict stands; leftover topics are only untidy
            self.say(f"could not delete the run's topics: {exc}")
