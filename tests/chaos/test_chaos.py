"""The short chaos run of `make test` (the full ones: `make chaos`): see tests/chaos/rig.py.

Liveness is the rig's stall window (no contact made final for 3 minutes while no fault is
under way), not a time bound: a loaded machine is slower, and the time is printed as a figure.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.rig import ChaosRun, Size

# Only against a hung run (a stuck subprocess): far above any slow machine's few minutes.
pytestmark = pytest.mark.timeout(3600)

SHORT = Size(
    campaigns=2,
    contacts=150,
    concurrent_calls=5,
    faults=5,
    fault_gap_s=(4.0, 8.0),
)


def test_a_campaign_survives_kills_of_every_kind_on_the_3_node_cluster(
    kafka_cluster_bootstrap: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = ChaosRun(seed=5, work=tmp_path, size=SHORT)  # on the session's 3-node cluster
    ok = run.run()
    with capsys.disabled():
        print(f"\nshort chaos run: {run.elapsed():.0f}s in all; {run.figure()}")
    failed = [f"{c.name}: {c.detail}" for c in run.checks if not c.ok]
    assert ok, "invariants violated:\n" + "\n".join(failed)
    assert run.faults, "the schedule injected no fault"
