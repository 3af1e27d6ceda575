"""The worker's lease: a stall past it ends the process (a zombie writes nothing)."""

from __future__ import annotations

import subprocess
import sys

from streams.lease import EXIT_FENCED

SCRIPT = """
import time
from streams.lease import Lease
lease = Lease(0.2)
lease.check()          # before the first renewal (start-up): held
lease.renew()
lease.check()
print("alive", flush=True)
time.sleep(0.5)        # a stall longer than the lease
lease.check()
print("still writing", flush=True)
"""


def test_a_stall_past_the_lease_exits_before_the_next_write() -> None:
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60)
    assert out.returncode == EXIT_FENCED
    assert out.stdout.split() == ["alive"]
