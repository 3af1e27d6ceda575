"""The engine worker's web server: loopback only, no Faust table pages, status routed by owner.

Real `campaignflow worker` subprocesses on the real broker (tests/integration/worker_rig).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from campaigns.events import Command, CommandKind
from streams.app import advertised_url
from streams.partitioner import partition_of
from tests.helpers import definition, free_port
from tests.integration.worker_rig import PARTITIONS, Rig, wait_until


def non_loopback_addresses() -> list[str]:
    """This machine's own addresses other than loopback (`hostname -I`)."""
    try:
        out = subprocess.run(["hostname", "-I"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [a for a in out.stdout.split() if not a.startswith("127.") and a != "::1"]


def listening_addresses(port: int) -> set[str]:
    """Local addresses with a socket listening on `port` (/proc/net/tcp and tcp6)."""
    found: set[str] = set()
    for name, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        path = Path("/proc/net") / name
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            local, state = fields[1], fields[3]
            if state != "0A":  # LISTEN
                continue
            addr_hex, port_hex = local.split(":")
            if int(port_hex, 16) != port:
                continue
            raw = bytes.fromhex(addr_hex)
            # /proc prints each 32-bit word in host (little-endian) order
            raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            found.add(socket.inet_ntop(family, raw))
    return found


@pytest.fixture()
def rig(kafka_bootstrap: str, tmp_path: Path) -> Iterator[Rig]:
    r = Rig(kafka_bootstrap, tmp_path)
    try:
        yield r
    finally:
        r.close()


def test_advertised_url_names_a_host_others_can_reach() -> None:
    assert advertised_url("127.0.0.1", None, 6066) == "http://127.0.0.1:6066"
    assert advertised_url("10.0.0.5", None, 6066) == "http://10.0.0.5:6066"
    assert advertised_url("0.0.0.0", "worker-2.internal", 6066) == "http://worker-2.internal:6066"
    wildcard = advertised_url("0.0.0.0", None, 7000)
    assert "0.0.0.0" not in wildcard and "127.0.0.1" not in wildcard
    assert wildcard == f"http://{socket.getfqdn()}:7000"
    assert advertised_url("::", "fd00::7", 80) == "http://[fd00::7]:80"


def test_the_worker_listens_on_loopback_only_and_serves_no_table_pages(rig: Rig) -> None:
    port = rig.start_worker()
    rig.wait_ready(port)
    bound = listening_addresses(port)
    assert bound == {"127.0.0.1"}, bound
    for addr in non_loopback_addresses():
        family = socket.AF_INET6 if ":" in addr else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as s, pytest.raises(OSError):
            s.settimeout(3)
            s.connect((addr, port))
    base = f"http://127.0.0.1:{port}"
    for path in ("/table/", "/table/state/", "/table/dnc/", "/table/accounts/", "/router/"):
        assert requests.get(base + path, timeout=5).status_code == 404, path
    assert requests.get(base + "/metrics", timeout=5).status_code == 200
    # Issue 21, item 13: a page naming another host (DNS rebinding) gets no metrics.
    for host in ("attacker.example", f"attacker.example:{port}", f"127.0.0.1:{port + 1}"):
        refused = requests.get(base + "/metrics", headers={"Host": host}, timeout=5)
        assert refused.status_code == 403 and b"worker_" not in refused.content, host
    assert requests.get(base + "/metrics", headers={"Host": f"localhost:{port}"}, timeout=5).ok
    # The status API is still served, at once (issue 21, item 17: it answered 500 with a
    # traceback while Faust's producer had no metadata for the state's changelog).
    assert requests.get(base + "/accounts/acme/campaigns/nope", timeout=10).status_code == 404
    assert (
        requests.get(base + "/accounts/acme/campaigns/Not%7CAn%7CId", timeout=10).status_code == 404
    )
    assert requests.get(base + "/accounts/a%7Cb/campaigns/nope", timeout=10).status_code == 404
    assert "Error handling request" not in rig.log(port)


def test_two_workers_route_a_status_request_to_the_owner(rig: Rig) -> None:
    """Each worker answers for every campaign: the non-owner forwards to its canonical URL."""
    ports = [rig.start_worker(), rig.start_worker()]
    for p in ports:
        rig.wait_ready(p)
    # One campaign per partition, so both workers own some whatever the assignment.
    cids: dict[int, str] = {}
    n = 0
    while len(cids) < PARTITIONS:
        cid = f"route-{n}"
        cids.setdefault(partition_of(cid.encode(), PARTITIONS), cid)
        n += 1
    for cid in cids.values():
        d = definition().model_copy(update={"campaign_id": cid})
        rig.send_command(cid, Command(f"create-{cid}", CommandKind.create, definition=d))

    def all_answer() -> bool:
        return all(rig.status(p, cid) is not None for p in ports for cid in cids.values())

    wait_until(all_answer, 120, "both workers answer for every campaign")
    for cid in cids.values():
        a, b = (rig.status(p, cid) for p in ports)
        assert a is not None and b is not None and a["campaign_id"] == cid
        assert a["partition"] == b["partition"] and a["status"] == b["status"] == "draft"


def test_the_dialers_metrics_listen_on_loopback_only(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "CAMPAIGNFLOW_HOME": str(tmp_path),
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "CAMPAIGNFLOW_TOPIC_PREFIX": topic_prefix,
    }
    exe = str(Path(sys.executable).parent / "campaignflow")
    proc = subprocess.Popen(
        [exe, "dialer", "--metrics-port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_until(lambda: bool(listening_addresses(port)), 60, "the dialer's /metrics")
        assert listening_addresses(port) == {"127.0.0.1"}
        assert requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).ok
    finally:
        proc.terminate()
        proc.wait(30)
