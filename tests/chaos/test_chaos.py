"""The short chaos run of `make test` (the full ones: `make chaos`): see tests/chaos/rig.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from campaignflow import kafka_local
from tests.chaos.rig import ChaosRun, Size

pytestmark = pytest.mark.timeout(240)

SHORT = Size(
    campaigns=2,
    contacts=150,
    concurrent_calls=5,
    faults=5,
    fault_gap_s=(4.0, 8.0),
    time_bound_s=175.0,
)


def test_a_campaign_survives_kills_of_every_kind_on_the_3_node_cluster(tmp_path: Path) -> None:
    started = any(n.status.started for n in kafka_local.cluster_up(3))
    try:
        run = ChaosRun(seed=5, work=tmp_path, size=SHORT)
        ok = run.run()
    finally:
        if started:  # started here: stopped here; a cluster that was running stays
            kafka_local.cluster_down()
    failed = [f"{c.name}: {c.detail}" for c in run.checks if not c.ok]
    assert ok, "invariants violated:\n" + "\n".join(failed)
    assert run.faults, "the schedule injected no fault"
