"""What an outcome means for its contact (SPEC section 5)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from campaigns.events import ContactStatus
from campaigns.models import Rules


@dataclass(frozen=True, slots=True)
class Retry:
    due: int


Verdict = ContactStatus | Retry


def delay_us(rules: Rules) -> int:
    """The retry delay in engine microseconds, rounded exactly as timedelta rounds."""
    return timedelta(minutes=rules.retry_delay_minutes or 0) // timedelta(microseconds=1)


def max_call_us(rules: Rules) -> int:
    return timedelta(minutes=rules.max_call_minutes) // timedelta(microseconds=1)


def verdict(rules: Rules, status: str, attempt: int, at: int) -> Verdict:
    if status == "answered":
        return ContactStatus.reached
    if status in rules.retry_on:
        if attempt < rules.attempts_allowed:
            return Retry(at + delay_us(rules))
        return ContactStatus.exhausted
    return ContactStatus.failed
