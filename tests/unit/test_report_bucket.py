"""The report's chart bucket comes from the campaign's span (a fixed hour drew one bar)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sinks.query import QueryResult
from sinks.report import Report, bucket_seconds_for_span, plot


def test_bucket_grows_with_the_span() -> None:
    assert bucket_seconds_for_span(0) == 1
    assert bucket_seconds_for_span(4 * 60) == 5  # a four-minute demo: 48 bars of 5 s
    assert bucket_seconds_for_span(2 * 3600) == 120
    assert bucket_seconds_for_span(5 * 86400) == 7200
    assert bucket_seconds_for_span(400 * 86400) == 604800


def test_every_span_gets_at_most_sixty_buckets() -> None:
    for span_s in (1, 59, 61, 299, 301, 3599, 3601, 86399, 86401, 10 * 86400):
        bucket_s = bucket_seconds_for_span(span_s)
        assert span_s / bucket_s <= 60


def test_plot_of_a_four_minute_campaign_draws_many_bars(tmp_path: Path) -> None:
    t0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    rows: list[list[object]] = [[t0 + timedelta(seconds=5 * i), 2, 1, 1] for i in range(48)]
    timeline = QueryResult(
        ["at", "calls", "answered_calls", "reached_contacts"], [], rows, "direct"
    )
    report = Report("demo", {"timezone": "Europe/Paris"}, timeline=timeline, bucket_seconds=5)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    drawn: dict[str, int] = {}
    original = plt.Figure.savefig

    def spy(fig: plt.Figure, *args: object, **kwargs: object) -> None:
        bars, steps = fig.axes[0], fig.axes[1]
        drawn["bars"] = len(bars.patches)
        drawn["step_points"] = len(steps.lines[0].get_xdata())
        original(fig, *args, **kwargs)

    plt.Figure.savefig = spy  # type: ignore[method-assign]
    try:
        out = plot(report, tmp_path / "plot.png")
    finally:
        plt.Figure.savefig = original  # type: ignore[method-assign]
    assert out.stat().st_size > 0
    assert drawn["bars"] == 48
    assert drawn["step_points"] == 49  # starts at 0, one step per bucket


def test_a_campaign_in_one_bucket_still_draws_a_rising_line(tmp_path: Path) -> None:
    t0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    timeline = QueryResult(
        ["at", "calls", "answered_calls", "reached_contacts"], [], [[t0, 3, 2, 2]], "direct"
    )
    report = Report("one", {"timezone": "UTC"}, timeline=timeline, bucket_seconds=1)
    assert plot(report, tmp_path / "one.png").stat().st_size > 0
