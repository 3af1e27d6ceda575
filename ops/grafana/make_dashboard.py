"""Writes ops/grafana/dashboards/campaignflow.json: python ops/grafana/make_dashboard.py

The dashboard is generated so its queries stay readable here; tests check that every
metric it queries is one the processes export.
"""

from __future__ import annotations

import json
from pathlib import Path

DS = {"type": "prometheus", "uid": "prometheus"}

PANELS: list[tuple[str, str, list[tuple[str, str]]]] = [
    (
        "Calls created per campaign (/s)",
        "reqps",
        [("sum by (campaign_id) (rate(campaignflow_calls_created_total[1m]))", "{{campaign_id}}")],
    ),
    (
        "Calls in flight per campaign",
        "short",
        [("sum by (campaign_id) (campaignflow_calls_in_flight)", "{{campaign_id}}")],
    ),
    (
        "Outcomes by status (/s)",
        "reqps",
        [("sum by (status) (rate(dialer_outcomes_total[1m]))", "{{status}}")],
    ),
    (
        "Answer rate",
        "percentunit",
        [
            (
                'sum(rate(dialer_outcomes_total{status="answered"}[5m])) / clamp_min(sum(rate(dialer_outcomes_total[5m])), 1e-9)',
                "answered / all",
            )
        ],
    ),
    (
        "Engine decision latency (one step)",
        "s",
        [
            (
                "histogram_quantile(0.5, sum by (le) (rate(campaignflow_engine_step_seconds_bucket[5m])))",
                "p50",
            ),
            (
                "histogram_quantile(0.99, sum by (le) (rate(campaignflow_engine_step_seconds_bucket[5m])))",
                "p99",
            ),
        ],
    ),
    (
        "Consumer lag (messages)",
        "short",
        [
            ("sum by (topic) (campaignflow_engine_input_lag)", "engine {{topic}}"),
            ("sum by (topic) (campaignflow_sink_consumer_lag)", "sink {{topic}}"),
        ],
    ),
    (
        "Sink insert rate (rows/s)",
        "rowsps",
        [("sum by (table) (rate(campaignflow_sink_rows_inserted_total[1m]))", "{{table}}")],
    ),
    (
        "Dead letters (/min)",
        "short",
        [
            ("sum(rate(campaignflow_engine_dead_letters_total[5m])) * 60", "engine"),
            ("sum(rate(dialer_deadletters_total[5m])) * 60", "dialer"),
            ("sum(rate(campaignflow_sink_dead_letters_total[5m])) * 60", "sink"),
        ],
    ),
    ("Dialer calls in progress", "short", [("sum(dialer_calls_in_progress)", "in progress")]),
    (
        "call:create to dial delay",
        "s",
        [
            (
                "histogram_quantile(0.99, sum by (le) (rate(dialer_create_to_dial_seconds_bucket[5m])))",
                "p99",
            )
        ],
    ),
]


def dashboard() -> dict[str, object]:
    panels = []
    for i, (title, unit, targets) in enumerate(PANELS):
        panels.append(
            {
                "id": i + 1,
                "type": "timeseries",
                "title": title,
                "datasource": DS,
                "gridPos": {"h": 8, "w": 12, "x": (i % 2) * 12, "y": (i // 2) * 8},
                "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
                "targets": [
                    {"refId": chr(65 + j), "datasource": DS, "expr": expr, "legendFormat": legend}
                    for j, (expr, legend) in enumerate(targets)
                ],
            }
        )
    return {
        "uid": "campaignflow",
        "title": "campaignflow",
        "tags": ["campaignflow"],
        "timezone": "browser",
        "schemaVersion": 39,
        "refresh": "5s",
        "time": {"from": "now-30m", "to": "now"},
        "panels": panels,
    }


if __name__ == "__main__":
    out = Path(__file__).resolve().parent / "dashboards" / "campaignflow.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(dashboard(), indent=2) + "\n")
    print(out)
