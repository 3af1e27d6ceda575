"""The project's own Apache Kafka broker (single node, KRaft) on 127.0.0.1, or a 3-node cluster.

Jars come from Maven Central through `ops/kafka/pom.xml` into a cache shared by every
state directory; data, logs and the pid live under `settings().home`. `up` is idempotent
and safe to run from several processes at once (a file lock serialises them).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from string import Template

from campaignflow.config import REPO_ROOT, Settings, settings
from campaignflow.exceptions import KafkaLocalError

OPS_DIR = REPO_ROOT / "ops" / "kafka"
MIN_JAVA = 17
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Layout:
    """Where one state directory keeps its broker's files."""

    home: Path
    version: str
    port: int
    controller_port: int
    cache_dir: Path

    @classmethod
    def from_settings(cls, s: Settings | None = None) -> Layout:
        s = s or settings()
        return cls(
            home=s.home.resolve(),
            version=s.kafka_version,
            port=s.kafka_port,
            controller_port=s.kafka_controller_port,
            cache_dir=s.cache_dir,
        )

    @property
    def libs(self) -> Path:
        return self.cache_dir / f"kafka-{self.version}" / "libs"

    @property
    def data(self) -> Path:
        return self.home / "kafka-data"

    @property
    def log_dirs(self) -> Path:
        return self.data / "kraft"

    @property
    def server_properties(self) -> Path:
        return self.data / "server.properties"

    @property
    def log_file(self) -> Path:
        return self.home / "logs" / "kafka.log"

    @property
    def pid_file(self) -> Path:
        return self.home / "run" / "kafka.pid"

    @property
    def lock_file(self) -> Path:
        return self.home / "run" / "kafka.lock"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"


@dataclass(frozen=True)
class Status:
    running: bool
    bootstrap: str
    pid: int | None = None
    external: bool = False
    started: bool = False  # True when this call started the broker

    def describe(self) -> str:
        if self.external:
            return f"external bootstrap={self.bootstrap}"
        if self.running:
            return f"running pid={self.pid} bootstrap={self.bootstrap}"
        return f"stopped bootstrap={self.bootstrap}"


Say = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


# ---------------------------------------------------------------- checks


def java_major(java: str | None = None) -> int:
    """Major version of the `java` on PATH; KafkaLocalError with a hint when there is none."""
    exe = java or shutil.which("java")
    if not exe:
        raise KafkaLocalError(
            f"Java {MIN_JAVA}+ is needed for the local Kafka broker and no `java` is on PATH. "
            "Install a JDK 17 or newer (Debian: apt-get install openjdk-17-jre-headless), "
            "or point KAFKA_BOOTSTRAP_SERVERS at an existing cluster."
        )
    out = subprocess.run([exe, "-version"], capture_output=True, text=True, check=False)
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not match:
        raise KafkaLocalError(f"could not read the version of {exe}: {out.stderr.strip()!r}")
    major = int(match.group(1))
    if major == 1 and match.group(2):  # "1.8.0_392" style
        major = int(match.group(2))
    return major


def require_java() -> str:
    major = java_major()
    if major < MIN_JAVA:
        raise KafkaLocalError(
            f"Kafka 4 needs Java {MIN_JAVA}+, but `java` on PATH is Java {major}. "
            "Install a JDK 17 or newer and put it first on PATH."
        )
    exe = shutil.which("java")
    assert exe is not None
    return exe


def port_open(port: int, host: str = "127.0.0.1", timeout_seconds: float = 0.5) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout_seconds)
        return sock.connect_ex((host, port)) == 0


def broker_answers(bootstrap: str, timeout_seconds: float = 5.0, **conf: str) -> bool:
    """True when a Kafka cluster at `bootstrap` returns metadata with at least one broker."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0, **conf})
    try:
        meta = admin.list_topics(timeout=timeout_seconds)
    except Exception:
        return False
    return bool(meta.brokers)


def _pid_alive(pid: int) -> bool:
    """Alive and not a zombie (a broker started in-process stays our child until reaped)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _is_our_broker(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return _pid_alive(pid)
    return b"kafka.Kafka" in cmdline


def _read_pid(layout: Layout) -> int | None:
    try:
        pid = int(layout.pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _pid_alive(pid) and _is_our_broker(pid) else None


@contextlib.contextmanager
def _locked(layout: Layout) -> Iterator[None]:
    layout.lock_file.parent.mkdir(parents=True, exist_ok=True)
    with layout.lock_file.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# ---------------------------------------------------------------- jars, config, storage


def fetch_jars(layout: Layout, say: Say = _quiet) -> Path:
    """Copy the broker's jars into the cache once; later calls cost nothing and need no network."""
    marker = layout.libs / ".complete"
    if marker.exists():
        return layout.libs
    mvn = shutil.which("mvn")
    if not mvn:
        raise KafkaLocalError(
            "Maven (`mvn`) is needed once to fetch the Kafka jars "
            f"into {layout.libs} (Debian: apt-get install maven)."
        )
    say(f"fetching Apache Kafka {layout.version} jars into {layout.libs} ...")
    tmp = layout.libs.with_name(f"libs.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    base = [
        mvn,
        "-q",
        "-B",
        "-f",
        str(OPS_DIR / "pom.xml"),
        f"-Dkafka.version={layout.version}",
        "dependency:copy-dependencies",
        f"-DoutputDirectory={tmp}",
    ]
    # Offline first: when Maven's local repository already holds everything, no network is used.
    result = subprocess.run([*base, "-o"], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        result = subprocess.run(base, capture_output=True, text=True, check=False)
    if result.returncode != 0 or not any(tmp.glob("kafka_2.13-*.jar")):
        shutil.rmtree(tmp, ignore_errors=True)
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise KafkaLocalError(f"mvn could not fetch Apache Kafka {layout.version}:\n{tail}")
    shutil.rmtree(layout.libs, ignore_errors=True)
    tmp.rename(layout.libs)
    marker.write_text(layout.version + "\n")
    return layout.libs


def write_server_properties(layout: Layout) -> Path:
    """Render ops/kafka/server.properties for this layout (rewritten on every start)."""
    template = Template((OPS_DIR / "server.properties").read_text())
    text = template.substitute(
        port=layout.port,
        controller_port=layout.controller_port,
        log_dirs=str(layout.log_dirs),
    )
    layout.data.mkdir(parents=True, exist_ok=True, mode=0o700)
    layout.server_properties.write_text(text)
    return layout.server_properties


def _jvm_base(java: str, layout: Layout, heap: str) -> list[str]:
    return [
        java,
        f"-Xmx{heap}",
        "-Xms128m",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-XX:+ExitOnOutOfMemoryError",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={OPS_DIR / 'log4j2.xml'}",
        f"-Dkafka.logs.dir={layout.log_file.parent}",
        "-cp",
        f"{layout.libs}/*",
    ]


def new_cluster_id() -> str:
    """Same shape as `kafka-storage random-uuid`: a UUID, URL-safe base64, no padding."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()


def format_storage(
    java: str, layout: Layout, heap: str, say: Say = _quiet, cluster_id: str | None = None
) -> None:
    """Format the KRaft log directory once; an already formatted directory is kept as is.

    The nodes of one cluster share `cluster_id`; a lone broker gets a new one.
    """
    if (layout.log_dirs / "meta.properties").exists():
        return
    say(f"formatting KRaft storage in {layout.log_dirs}")
    cmd = [
        *_jvm_base(java, layout, "256m"),
        "kafka.tools.StorageTool",
        "format",
        "--ignore-formatted",
        "-t",
        cluster_id or new_cluster_id(),
        "-c",
        str(layout.server_properties),
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise KafkaLocalError(f"formatting Kafka storage failed:\n{tail}")


def _log_tail(layout: Layout, lines: int = 25) -> str:
    try:
        return "\n".join(layout.log_file.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# ---------------------------------------------------------------- up / down / status


def status(layout: Layout | None = None) -> Status:
    s = settings()
    if layout is None and s.kafka_bootstrap_servers:
        return Status(running=True, bootstrap=s.kafka_bootstrap_servers, external=True)
    layout = layout or Layout.from_settings(s)
    pid = _read_pid(layout)
    running = pid is not None and port_open(layout.port)
    return Status(running=running, bootstrap=layout.bootstrap, pid=pid)


def up(layout: Layout | None = None, say: Say = _quiet) -> Status:
    """Start the local broker unless it runs; return once it answers."""
    s = settings()
    if layout is None and s.kafka_bootstrap_servers:
        from topics.clients import admin_config

        conf = admin_config(s.kafka)
        if not broker_answers(conf.pop("bootstrap.servers"), timeout_seconds=15, **conf):
            raise KafkaLocalError(
                f"KAFKA_BOOTSTRAP_SERVERS={s.kafka_bootstrap_servers} does not answer."
            )
        return Status(running=True, bootstrap=s.kafka_bootstrap_servers, external=True)
    layout = layout or Layout.from_settings(s)
    with _locked(layout):
        pid = _read_pid(layout)
        if pid is not None:
            _wait_until_answers(layout, pid)
            return Status(running=True, bootstrap=layout.bootstrap, pid=pid)
        layout.pid_file.unlink(missing_ok=True)
        for port in (layout.port, layout.controller_port):
            if port_open(port):
                raise KafkaLocalError(
                    f"port {port} on 127.0.0.1 is taken by a process this state directory "
                    f"({layout.home}) did not start. Stop it, or choose other ports with "
                    "CAMPAIGNFLOW_KAFKA_PORT / CAMPAIGNFLOW_KAFKA_CONTROLLER_PORT."
                )
        java = require_java()
        fetch_jars(layout, say)
        write_server_properties(layout)
        format_storage(java, layout, s.kafka_heap, say)
        pid = _spawn(java, layout, s.kafka_heap)
        say(f"started Apache Kafka {layout.version} (pid {pid}); log: {layout.log_file}")
        _wait_until_answers(layout, pid)
        return Status(running=True, bootstrap=layout.bootstrap, pid=pid, started=True)


def _spawn(java: str, layout: Layout, heap: str) -> int:
    layout.log_file.parent.mkdir(parents=True, exist_ok=True)
    layout.pid_file.parent.mkdir(parents=True, exist_ok=True)
    if layout.log_file.exists():
        layout.log_file.replace(layout.log_file.with_suffix(".log.1"))
    cmd = [*_jvm_base(java, layout, heap), "kafka.Kafka", str(layout.server_properties)]
    with layout.log_file.open("ab") as log:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=layout.home,
            start_new_session=True,  # survives the shell (and the CLI) that started it
        )
    layout.pid_file.write_text(f"{proc.pid}\n")
    return proc.pid


def _wait_until_answers(layout: Layout, pid: int, timeout_seconds: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if not _pid_alive(pid):
            layout.pid_file.unlink(missing_ok=True)
            raise KafkaLocalError(
                f"the Kafka broker (pid {pid}) exited during start-up. "
                f"Last lines of {layout.log_file}:\n{_log_tail(layout)}"
            )
        if port_open(layout.port) and broker_answers(layout.bootstrap, timeout_seconds=2):
            return
        time.sleep(0.5)
    raise KafkaLocalError(
        f"the Kafka broker (pid {pid}) did not answer on {layout.bootstrap} within "
        f"{timeout_seconds:.0f}s. Last lines of {layout.log_file}:\n{_log_tail(layout)}"
    )


def down(
    layout: Layout | None = None, timeout_seconds: float = STOP_TIMEOUT_S, say: Say = _quiet
) -> bool:
    """Stop the local broker: SIGTERM, wait, SIGKILL after `timeout_seconds`. True if one was running."""
    if layout is None and settings().kafka_bootstrap_servers:
        say("KAFKA_BOOTSTRAP_SERVERS is set: that cluster is not ours to stop")
        return False
    layout = layout or Layout.from_settings()
    with _locked(layout):
        pid = _read_pid(layout)
        if pid is None:
            layout.pid_file.unlink(missing_ok=True)
            return False
        say(f"stopping Kafka broker pid {pid}")
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        if not _wait_gone(pid, timeout_seconds):
            say(f"pid {pid} still running after {timeout_seconds:.0f}s: SIGKILL")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            _wait_gone(pid, 10)
        layout.pid_file.unlink(missing_ok=True)
        return True


def _wait_gone(pid: int, timeout_seconds: float) -> bool:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if not _pid_alive(pid):
            return True
        time.sleep(0.2)
    return not _pid_alive(pid)


# ---------------------------------------------------------------- the 3-node cluster
#
# `kafka up --brokers 3`: each node is a combined broker+controller with a `Layout` of its own
# (home <state>/kafka-cluster/node-<id>: data, log, pid and lock), so everything above
# (jars, spawn, wait, stop) serves a node as it serves the lone broker. The nodes share a
# cluster id (kept in <state>/kafka-cluster/cluster.id) and the three controllers form the
# KRaft quorum, so a node starts only with the others: `up` starts every node not running,
# then waits for all of them.


@dataclass(frozen=True)
class Node:
    """One node of the local cluster: its id and its own Layout."""

    node_id: int
    layout: Layout


@dataclass(frozen=True)
class Cluster:
    """The local cluster of a state directory: where it lives and its nodes."""

    home: Path
    nodes: tuple[Node, ...]

    @classmethod
    def from_settings(cls, brokers: int, s: Settings | None = None) -> Cluster:
        s = s or settings()
        home = s.home.resolve() / "kafka-cluster"
        nodes = []
        for node_id in range(1, brokers + 1):
            port, controller = s.node_ports(node_id)
            layout = Layout(
                home=home / f"node-{node_id}",
                version=s.kafka_version,
                port=port,
                controller_port=controller,
                cache_dir=s.cache_dir,
            )
            nodes.append(Node(node_id, layout))
        return cls(home, tuple(nodes))

    @classmethod
    def existing(cls, s: Settings | None = None) -> Cluster:
        """The nodes this state directory has a directory for (none: an empty cluster)."""
        s = s or settings()
        home = s.home.resolve() / "kafka-cluster"
        count = len(list(home.glob("node-*"))) if home.is_dir() else 0
        return cls.from_settings(count, s)

    @property
    def bootstrap(self) -> str:
        return ",".join(n.layout.bootstrap for n in self.nodes)

    @property
    def voters(self) -> str:
        return ",".join(f"{n.node_id}@127.0.0.1:{n.layout.controller_port}" for n in self.nodes)

    @property
    def id_file(self) -> Path:
        return self.home / "cluster.id"

    def cluster_id(self) -> str:
        """The id every node is formatted with (made once per state directory)."""
        if not self.id_file.exists():
            self.home.mkdir(parents=True, exist_ok=True)
            self.id_file.write_text(new_cluster_id() + "\n")
        return self.id_file.read_text().strip()


@dataclass(frozen=True)
class NodeStatus:
    node_id: int
    status: Status

    def describe(self) -> str:
        return f"node {self.node_id}: {self.status.describe()}"


def write_node_properties(cluster: Cluster, node: Node) -> Path:
    """Render ops/kafka/cluster.properties for one node (rewritten on every start)."""
    template = Template((OPS_DIR / "cluster.properties").read_text())
    text = template.substitute(
        node_id=node.node_id,
        voters=cluster.voters,
        port=node.layout.port,
        controller_port=node.layout.controller_port,
        log_dirs=str(node.layout.log_dirs),
    )
    node.layout.data.mkdir(parents=True, exist_ok=True, mode=0o700)
    node.layout.server_properties.write_text(text)
    return node.layout.server_properties


def cluster_status(cluster: Cluster | None = None) -> list[NodeStatus]:
    """Each node of the local cluster (of the nodes this state directory has)."""
    cluster = cluster or Cluster.existing()
    return [NodeStatus(n.node_id, status(n.layout)) for n in cluster.nodes]


def start_node(cluster: Cluster, node: Node, java: str, heap: str, say: Say = _quiet) -> int | None:
    """Start one node unless it runs (its pid when started, None when it was running)."""
    layout = node.layout
    with _locked(layout):
        if _read_pid(layout) is not None:
            return None
        layout.pid_file.unlink(missing_ok=True)
        for port in (layout.port, layout.controller_port):
            if port_open(port):
                raise KafkaLocalError(
                    f"port {port} on 127.0.0.1 (node {node.node_id}) is taken by a process this "
                    f"state directory ({cluster.home}) did not start. Stop it, or choose other "
                    "ports with CAMPAIGNFLOW_KAFKA_PORT (node i uses KAFKA_PORT+8i and +8i+1)."
                )
        write_node_properties(cluster, node)
        format_storage(java, layout, heap, say, cluster_id=cluster.cluster_id())
        pid = _spawn(java, layout, heap)
        say(
            f"node {node.node_id}: started (pid {pid}) on {layout.bootstrap}; log {layout.log_file}"
        )
        return pid


def cluster_up(brokers: int, say: Say = _quiet) -> list[NodeStatus]:
    """Start every node of a `brokers`-node cluster that does not run; return once all answer."""
    if brokers < 3:
        raise KafkaLocalError("a local cluster has 3 or more nodes (one node: plain `kafka up`)")
    s = settings()
    cluster = Cluster.from_settings(brokers, s)
    java = require_java()
    fetch_jars(cluster.nodes[0].layout, say)
    heap = s.kafka_heap
    started = {n.node_id: start_node(cluster, n, java, heap, say) for n in cluster.nodes}
    out = []
    for node in cluster.nodes:
        pid = _read_pid(node.layout) or started.get(node.node_id)
        if pid is None:
            raise KafkaLocalError(f"node {node.node_id} is not running after start")
        _wait_until_answers(node.layout, pid)
        st = Status(True, node.layout.bootstrap, pid, started=started[node.node_id] is not None)
        out.append(NodeStatus(node.node_id, st))
    _wait_all_registered(cluster)
    return out


def _wait_all_registered(cluster: Cluster, timeout_seconds: float = START_TIMEOUT_S) -> None:
    """Return once the metadata lists every node (a topic with 3 replicas needs 3 brokers)."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": cluster.bootstrap, "log_level": 0})
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if len(admin.list_topics(timeout=2).brokers) >= len(cluster.nodes):
                return
        time.sleep(0.5)
    raise KafkaLocalError(
        f"not every node of {cluster.bootstrap} joined within {timeout_seconds:.0f}s"
    )


def cluster_down(timeout_seconds: float = STOP_TIMEOUT_S, say: Say = _quiet) -> int:
    """Stop every node of the local cluster (all at once); the number that were running."""
    cluster = Cluster.existing()
    pids = {}
    for node in cluster.nodes:
        pid = _read_pid(node.layout)
        if pid is not None:
            say(f"stopping node {node.node_id} (pid {pid})")
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            pids[node.node_id] = pid
    for node in cluster.nodes:
        pid = pids.get(node.node_id)
        if pid is None:
            continue
        if not _wait_gone(pid, timeout_seconds):
            say(
                f"node {node.node_id} (pid {pid}) still running after {timeout_seconds:.0f}s: SIGKILL"
            )
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            _wait_gone(pid, 10)
        node.layout.pid_file.unlink(missing_ok=True)
    return len(pids)
