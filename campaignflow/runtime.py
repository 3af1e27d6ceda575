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

import gc
import logging
from typing import Any

from campaigns.privacy import mask_numbers_in

YOUNG_THRESHOLD = 100_000  # allocations between young collections (default 700)


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
