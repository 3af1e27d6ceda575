"""The account round's cost per call created: 1,000 running campaigns in one account
against one campaign, same contacts and calls, in one run (issue 22, target <= 2x).

    .venv/bin/python benchmarks/account_round.py [--contacts 50000] [--lines 40]

Both runs go through the engine's account step as `simulate --account` drives it: the
same 40 shared lines (scarce: every campaign could use more), 10 concurrent calls per
campaign, every call answered after 30 s, so each outcome frees a line that the round
gives to the next call. With 1,000 campaigns every outcome leaves all the others
waiting for a line: a round that scanned every campaign per call would cost ~1,000x.
Printed: seconds, calls, microseconds per call for each, and the ratio.
"""

from __future__ import annotations

import argparse
import json
import time

from campaignflow.runtime import tune_gc
from campaigns import testing
from campaigns.contacts import Contact
from campaigns.events import CallCreated
from campaigns.models import AccountSettings
from campaigns.simulate import CampaignRun, Driver, ScriptedCall, SimDialer
from campaigns.windows import US


def contacts(campaign: int, n: int) -> list[Contact]:
    return [
        Contact(f"k{i}", i + 1, f"+1212{campaign:03d}{i:04d}", [], {"name": f"N{i}"})
        for i in range(n)
    ]


def run(campaigns: int, total: int, lines: int) -> dict[str, float]:
    per = total // campaigns
    runs = [
        CampaignRun(
            testing.definition(f"c{c:04d}", concurrent_calls=10, priority=1 + c % 10),
            contacts(c, per),
            [],
            None,
            SimDialer(default=ScriptedCall("answered", 30 * US)),
        )
        for c in range(campaigns)
    ]
    driver = Driver(
        "acme",
        runs,
        0,
        settings=AccountSettings(account_id="acme", lines=lines),
    )
    started = time.perf_counter()
    calls = sum(1 for ev in driver.events() if type(ev) is CallCreated)
    seconds = time.perf_counter() - started
    return {
        "campaigns": campaigns,
        "seconds": seconds,
        "calls": calls,
        "us_per_call": seconds / calls * 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=50_000)
    parser.add_argument("--lines", type=int, default=40)
    args = parser.parse_args()
    tune_gc()
    one = run(1, args.contacts, args.lines)
    many = run(1000, args.contacts, args.lines)
    for result in (one, many):
        print(json.dumps(result))
    ratio = many["us_per_call"] / one["us_per_call"]
    print(json.dumps({"ratio_1000_vs_1": round(ratio, 2), "target": 2.0, "met": ratio <= 2.0}))


if __name__ == "__main__":
    main()
