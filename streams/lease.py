"""A worker that may have lost its partitions stops instead of writing as a zombie.

Why: a paused worker (SIGSTOP, a VM freeze, a very long pause) loses its partitions to
another worker after the session timeout, but when it resumes it does not know yet: it
would go on handling the batch it holds and write its state to the changelog after the
new owner's, so a later restore would read the zombie's values. Faust's exactly-once mode
(transactions) would fence it; the worker does not use that mode. Instead every write path
asks the lease first: a lease not renewed for longer than `lease_s` (half the session
timeout) means the worker may have been fenced, and it exits at once (code 75) for its
supervisor to restart it; the restart restores from the changelog and its inputs replay
from the last commit, which the engine makes harmless.

Two things renew it, and either is enough:
- the group coordinator: every Heartbeat, JoinGroup or SyncGroup it answers as a member
  (`confirm`, from the consumer thread; `streams.transport` reports them with the time
  the request was SENT). That is what fences the worker: the broker drops a member only
  when no such request reached it for the session timeout. aiokafka heartbeats from
  Faust's consumer thread, on its own event loop, so a long engine step on the worker's
  loop (a 1M-contact campaign loading contact batches step after step, a cancel that
  finalizes 100,000 contacts at one instant as SPEC 4/9 require) does not stop them,
  and must not end the lease: on 2026-12-07 it did, twice (exit 75 in `make bench`).
  A paused process sends nothing, and a fenced one gets errors, so neither renews.
- a 0.5 s timer on the worker's loop (`renew`): a responsive loop in a process that is
  not paused, for a coordinator that is briefly unreachable (a broker restarting),
  which fences nobody by itself.
Only a process whose loop AND heartbeats stalled for `lease_s` stops: the timer's check
on waking after a pause, or the next write, ends it. The alternatives were worse: a
step run in a thread would share the state with the loop; bounding every step would
cut SPEC 4/9's one-instant finalization in pieces; a longer session timeout slows every
kill -9 failover.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

EXIT_FENCED = 75


class Lease:
    """Renewed by a timer and by the coordinator's answers; `check()` before every write."""

    def __init__(self, lease_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.lease_s = lease_s
        self.clock = clock  # monotonic seconds; the one the consumer thread's send times use
        self._renewed: float | None = None  # held until first renewed (start-up is slow)
        self._confirmed: float | None = None  # written by the consumer thread only

    def renew(self) -> None:
        """The worker's loop turned: checked first (a pause ends here), then renewed."""
        self.check()
        self._renewed = self.clock()

    def confirm(self, sent_at: float) -> None:
        """The coordinator answered a request sent at `sent_at` (monotonic) as a member."""
        confirmed = self._confirmed
        if confirmed is None or sent_at > confirmed:
            self._confirmed = sent_at

    def check(self) -> None:
        marks = [t for t in (self._renewed, self._confirmed) if t is not None]
        if not marks:
            return
        gap = self.clock() - max(marks)
        if gap > self.lease_s:
            log.critical(
                "the worker stalled %.1fs (lease %.1fs) with no heartbeat answered: it may"
                " have been fenced; exiting so that no state is written as a zombie"
                " (restart it)",
                gap,
                self.lease_s,
            )
            logging.shutdown()
            os._exit(EXIT_FENCED)
