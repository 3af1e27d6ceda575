"""What an outcome means for its contact (SPEC sections 5 and 9)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from campaigns.events import ContactStatus

# Bound once: in CPython 3.11 an attribute of an Enum class goes through
# `EnumType.__getattr__`, about 10x a global, and every outcome gets one of these.
SKIPPED, REACHED, EXHAUSTED = ContactStatus.skipped, ContactStatus.reached, ContactStatus.exhausted
FAILED, EXPIRED = ContactStatus.failed, ContactStatus.expired


@dataclass(slots=True)
class Retry:
    due_us: int


@dataclass(slots=True)
class Callback:
    due_us: int


Verdict = ContactStatus | Retry | Callback


class RetryRules(Protocol):
    """What `verdict` reads of a campaign's rules: `campaigns.models.Rules`, or the copy of
    them a `campaigns.dialing.CallPlan` keeps for the per-call paths."""

    @property
    def max_callbacks(self) -> int: ...
    @property
    def retry_statuses(self) -> frozenset[str]: ...
    @property
    def attempts_allowed(self) -> int: ...
    @property
    def retry_delay_us(self) -> int: ...
    @property
    def ends_at_us(self) -> int | None: ...


def verdict(
    rules: RetryRules,
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
        return SKIPPED
    result: Verdict
    if status == "answered":
        if callback_at_us is None or callbacks >= rules.max_callbacks:
            return REACHED
        result = Callback(max(callback_at_us, at_us))
    elif status in rules.retry_statuses:
        if attempt >= rules.attempts_allowed + callbacks:
            return EXHAUSTED
        result = Retry(at_us + rules.retry_delay_us)
    else:
        return FAILED
    ends_us = rules.ends_at_us
    if ends_us is not None and (
        at_us >= ends_us or (isinstance(result, Callback) and result.due_us >= ends_us)
    ):
        return EXPIRED
    return result
