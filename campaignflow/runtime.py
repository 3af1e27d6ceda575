"""Process settings for commands that hold a large engine state in memory.

The engine's records (contacts, queue entries, events) hold no reference cycles, so
the cyclic garbage collector never frees any of them; with the default thresholds it
still walks every live object again and again as a million-contact campaign loads
and runs: about a sixth of a simulation's time at 300k contacts, mostly scanning
young objects (events, queue entries) that a few thousand allocations later are gone
anyway. A young generation of 100k lets them die unscanned (collector time 2.2 s ->
0.3 s there). Collections are made rare, not switched off: a cycle is still freed.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
from pathlib import Path
from typing import Any

from campaigns.privacy import mask_numbers_in

YOUNG_THRESHOLD = 100_000  # allocations between young collections (default 700)
# What the command and every service it starts create is its user's only: 0700
# directories, 0600 files (the state holds full numbers, keys, tokens, webhook secrets).
PRIVATE_UMASK = 0o077


def tune_gc() -> None:
    """Rare collections; objects alive now (imports, config) are never scanned again."""
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, 50, 10)


def mask_numbers_in_logs() -> None:
    """Every log record of the process masks phone numbers (all but the last 4 digits).

    A record factory, so it covers every logger and handler (Faust sets up its own);
    it runs only for records a logger emits.
    """
    previous = logging.getLogRecordFactory()
    if getattr(previous, "masks_numbers", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        message = record.getMessage()
        masked = mask_numbers_in(message)
        if masked != message:
            record.msg, record.args = masked, ()
        if record.exc_info:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = mask_numbers_in(text)
        return record

    factory.masks_numbers = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


def private_state(home: Path) -> None:
    """Make every file and directory the process creates from now on private (the umask
    is inherited by the broker, worker, dialer, sink and API that `dev up` starts, and by
    RocksDB, chDB and Kafka's own files), and the state directory itself if it exists
    with a looser mode (made before): nothing under it is reachable by others then."""
    os.umask(PRIVATE_UMASK)
    with contextlib.suppress(FileNotFoundError, PermissionError):
        if home.stat().st_mode & 0o077:
            home.chmod(0o700)
