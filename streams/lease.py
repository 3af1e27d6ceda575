"""A worker that stalled past half its group session timeout stops instead of writing as a zombie.

Why: a paused worker (SIGSTOP, a VM freeze, a very long pause) loses its partitions to
another worker after the session timeout, but when it resumes it does not know yet: it
would go on handling the batch it holds and write its state to the changelog after the
new owner's, so a later restore would read the zombie's values. Faust's exactly-once mode
(transactions) would fence it; the worker does not use that mode. Instead every write path
asks the lease first, and a timer renews it: a gap longer than the lease between two
renewals (or before a write) means the worker may have been fenced, and it exits at once
(code 75) for its supervisor to restart it; the restart restores from the changelog and
its inputs replay from the last commit, which the engine makes harmless.
"""

from __future__ import annotations

import logging
import os
import time

log = logging.getLogger(__name__)

EXIT_FENCED = 75


class Lease:
    """Renewed by a timer; `check()` before every write (see module doc)."""

    def __init__(self, lease_s: float) -> None:
        self.lease_s = lease_s
        self._renewed: float | None = None  # held from the first renewal (start-up is slow)

    def renew(self) -> None:
        self.check()
        self._renewed = time.monotonic()

    def check(self) -> None:
        if self._renewed is None:
            return
        gap = time.monotonic() - self._renewed
        if gap > self.lease_s:
            log.critical(
                "the worker stalled %.1fs (lease %.1fs): it may have been fenced; exiting"
                " so that no state is written as a zombie (restart it)",
                gap,
                self.lease_s,
            )
            logging.shutdown()
            os._exit(EXIT_FENCED)
