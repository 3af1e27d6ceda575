"""What an outcome means for its contact (SPEC sections 5 and 9)."""

from __future__ import annotations

from dataclasses import dataclass

from campaigns.events import ContactStatus
from campaigns.models import Rules


@dataclass(slots=True)
class Retry:
    due_us: int


@dataclass(slots=True)
class Callback:
    due_us: int


Verdict = ContactStatus | Retry | Callback


def verdict(
    rules: Rules,
    status: str,
    attempt: int,
    at_us: int,
    callbacks: int = 0,
    callback_at_us: int | None = None,
) -> Verdict:
    """SPEC 9's list, opt-outs aside (the caller's): skipped, callback, reached, retry, final.

    `callbacks`: those granted so far; each one allows one more attempt. A wait that would
    end at or after `ends_at`, or start then, is `expired` instead."""
    if status == "skipped":
        return ContactStatus.skipped
    result: Verdict
    if status == "answered":
        if callback_at_us is None or callbacks >= rules.max_callbacks:
            return ContactStatus.reached
        result = Callback(max(callback_at_us, at_us))
    elif status in rules.retry_statuses:
        if attempt >= rules.attempts_allowed + callbacks:
            return ContactStatus.exhausted
        result = Retry(at_us + rules.retry_delay_us)
    else:
        return ContactStatus.failed
    ends_us = rules.ends_at_us
    if ends_us is not None and (
        at_us >= ends_us or (isinstance(result, Callback) and result.due_us >= ends_us)
    ):
        return ContactStatus.expired
    return result
