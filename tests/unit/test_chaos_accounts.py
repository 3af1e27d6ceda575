"""The account chaos scenario's own arithmetic (tests/chaos/accounts.py): a wrong count there
would pass a run that broke the lines, so it is checked without a cluster."""

from __future__ import annotations

import yaml
from prometheus_client import CollectorRegistry, Gauge, generate_latest

from campaigns.models import LimitAcross, parse_definition
from tests.chaos.accounts import (
    account_campaign_yaml,
    florida_number,
    in_flight_per_account,
    max_overlap,
)


def test_max_overlap_counts_the_spans_holding_at_each_creation() -> None:
    assert max_overlap([]) == 0
    # (0,10) and (0,5) together at 0; at 5 the second has ended: (0,10), (5,8); at 9: 2.
    assert max_overlap([(0, 10), (0, 5), (5, 8), (9, 20)]) == 2
    assert max_overlap([(0, 10), (1, 10), (2, 10)]) == 3


def test_in_flight_is_summed_per_account_from_the_workers_gauge() -> None:
    registry = CollectorRegistry()
    gauge = Gauge("campaignflow_calls_in_flight", "x", ["campaign_id"], registry=registry)
    gauge.labels("acme/chaos-acme0").set(3)
    gauge.labels("acme/chaos-acme1").set(4)
    gauge.labels("beta/chaos-beta0").set(2)
    gauge.labels("other/chaos-acme0").set(9)  # another account's campaign of that id
    text = generate_latest(registry).decode()
    account_of = {"chaos-acme0": "acme", "chaos-acme1": "acme", "chaos-beta0": "beta"}
    assert in_flight_per_account(text, account_of) == {"acme": 7, "beta": 2}


def test_the_campaigns_share_florida_numbers_under_an_account_limit() -> None:
    d = parse_definition(
        yaml.safe_load(account_campaign_yaml("chaos-acme0", "acme", 8, "2026-12-07T15:00:00Z"))
    )
    assert d.rules.priority == 8 and d.rules.inbound_free_slots == 1
    (limit,) = d.rules.attempt_limits
    assert (limit.max_calls, limit.period_hours, limit.across) == (3, 24, LimitAcross.account)
    assert florida_number(0) == florida_number(3) != florida_number(4)
    assert florida_number(4).startswith("+1305")
