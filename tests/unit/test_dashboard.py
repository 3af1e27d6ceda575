"""Every metric the Grafana dashboard queries is one a campaignflow process exports."""

from __future__ import annotations

import json
import re

from prometheus_client import REGISTRY

import dialer.metrics  # noqa: F401  (registers the dialer's metrics)
import streams.metrics  # noqa: F401
from campaignflow.config import REPO_ROOT
from sinks.metrics import REGISTRY as SINK_REGISTRY


def exported() -> set[str]:
    names: set[str] = set()
    for metric in [*REGISTRY.collect(), *SINK_REGISTRY.collect()]:
        names.add(metric.name)
        if metric.type == "counter":
            names.add(metric.name + "_total")
        if metric.type == "histogram":
            names.add(metric.name + "_bucket")
        names.update(s.name for s in metric.samples)
    return names


def test_dashboard_queries_known_metrics() -> None:
    board = json.loads((REPO_ROOT / "ops/grafana/dashboards/campaignflow.json").read_text())
    known = exported()
    exprs = [t["expr"] for p in board["panels"] for t in p["targets"]]
    assert len(exprs) >= 10
    for expr in exprs:
        for name in re.findall(r"\b((?:campaignflow|dialer)_[a-z_]+)\b", expr):
            assert name in known or name.removesuffix("_bucket") in known, (
                f"{name} in {expr!r} is not exported"
            )


def test_dashboard_is_generated_from_its_script() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "make_dashboard", REPO_ROOT / "ops/grafana/make_dashboard.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    board = json.loads((REPO_ROOT / "ops/grafana/dashboards/campaignflow.json").read_text())
    assert board == module.dashboard()
