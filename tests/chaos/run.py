"""`make chaos`: one full chaos run (tests/chaos/rig.py) for a seed; exit code 1 on a violation.

    .venv/bin/python -m tests.chaos.run --seed 7 [--spare-dialers] [--contacts 600]
    .venv/bin/python -m tests.chaos.run --seed 7 --accounts [--contacts 200]

`--accounts`: the account scenario (tests/chaos/accounts.py): two accounts of two campaigns
with scarce lines, inbound calls and shared Florida numbers.

Needs Java and the cached Kafka jars: the run starts the local 3-node cluster itself
(`campaignflow kafka up --brokers 3`, ports from CAMPAIGNFLOW_KAFKA_PORT) and leaves it
running for the next run.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import traceback

from campaignflow.config import settings
from tests.chaos.accounts import ACCOUNTS_SIZE, AccountsRun
from tests.chaos.rig import ChaosRun, Size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--spare-dialers", action="store_true", help="kill no dialer")
    parser.add_argument(
        "--accounts", action="store_true", help="two accounts of two campaigns (SPEC 8, 9)"
    )
    parser.add_argument("--campaigns", type=int, default=None, help="ignored with --accounts")
    parser.add_argument("--contacts", type=int, default=None, help="per campaign")
    parser.add_argument("--faults", type=int, default=Size.faults)
    parser.add_argument(
        "--stall-seconds",
        type=float,
        default=Size.stall_s,
        help="no contact made final this long (no fault under way) fails the run",
    )
    args = parser.parse_args()
    base = ACCOUNTS_SIZE if args.accounts else Size()
    size = Size(
        campaigns=base.campaigns if args.accounts else args.campaigns or base.campaigns,
        contacts=args.contacts or base.contacts,
        concurrent_calls=base.concurrent_calls,
        faults=args.faults,
        stall_s=args.stall_seconds,
    )
    # Logs and inputs stay for a look after the run (replaced by the next run of the seed).
    kind = "accounts-seed" if args.accounts else "seed"
    work = settings().home / "chaos" / f"{kind}-{args.seed}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    scenario = AccountsRun if args.accounts else ChaosRun
    run = scenario(args.seed, work, size, spare_dialers=args.spare_dialers)
    try:
        ok = run.run()
    except Exception:
        traceback.print_exc()
        print(f"chaos seed={args.seed}: the run broke (above); logs in {work}", file=sys.stderr)
        return 2
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
