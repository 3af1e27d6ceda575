"""What an outcome means for its contact (SPEC section 5)."""

from __future__ import annotations

from dataclasses import dataclass

from campaigns.events import ContactStatus
from campaigns.models import Rules


@dataclass(slots=True)
class Retry:
    due_us: int


Verdict = ContactStatus | Retry


def verdict(rules: Rules, status: str, attempt: int, at_us: int) -> Verdict:
    if status == "answered":
        return ContactStatus.reached
    if status in rules.retry_statuses:
        if attempt < rules.attempts_allowed:
            return Retry(at_us + rules.retry_delay_us)
        return ContactStatus.exhausted
    return ContactStatus.failed
