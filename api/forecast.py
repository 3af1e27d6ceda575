"""A forecast before (or during) launch: the engine's own `simulate` on a definition and contacts.

The campaign is not alone on its account (SPEC 8): with `lines`, its calls share the account's
lines with the other running campaigns (`others`, their remaining contacts), which the account
round serves by priority, so the forecast runs them together, as `simulate --account` does.
The answer says what it assumed, for the console to show.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from campaigns.contacts import Contact
from campaigns.models import AccountSettings, CampaignDefinition
from campaigns.simulate import CampaignRun, Driver, ScriptedCall, SimDialer
from campaigns.windows import US, from_datetime

DEFAULT_MODEL = "answered=0.3,no_answer=0.5,busy=0.2"
CALL_SECONDS = 30  # every simulated call lasts this long
HORIZON_US = 366 * 86_400 * US  # a campaign whose windows never open stops being simulated
BILLED_OUTCOMES = ("answered", "voicemail")  # calls that connect; the others bill no time


@dataclass(frozen=True)
class NumberRate:
    """What a number's calls cost a minute (its `rate_per_minute`, exact), and in what."""

    per_minute: Decimal
    currency: str


@dataclass(frozen=True)
class OtherCampaign:
    """A running campaign of the same account, with the contacts it has left to finish."""

    definition: CampaignDefinition
    contacts: Sequence[Contact]


def model_for_answer_rate(answer_rate: float) -> str:
    """The default model with `answer_rate` answered, the rest split as the default splits it."""
    rest = 1.0 - answer_rate
    return f"answered={answer_rate:g},no_answer={rest * 5 / 7:.6g},busy={rest * 2 / 7:.6g}"


def forecast(
    definition: CampaignDefinition,
    contacts: Iterable[Contact],
    model: list[tuple[str, float]],
    seed: int,
    start: datetime | None = None,
    lines: int | None = None,
    others: Sequence[OtherCampaign] = (),
) -> dict[str, Any]:
    """simulate's summary line for the campaign started at `start` (now by default), with
    the account's `lines` shared with `others` (started at the same instant)."""
    start_us = from_datetime(start or datetime.now(UTC))

    def run(d: CampaignDefinition, listed: Iterable[Contact], n: int) -> CampaignRun:
        dialer = SimDialer(
            default=ScriptedCall("no_answer", CALL_SECONDS * US), model=model, seed=seed + n
        )
        return CampaignRun(d, list(listed), [], None, dialer)

    mine = run(definition, contacts, 0)
    runs = [mine] + [run(o.definition, o.contacts, n) for n, o in enumerate(others, 1)]
    settings = None
    if lines is not None:
        settings = AccountSettings(account_id=definition.account_id, lines=lines)
    driver = Driver(
        account_id=definition.account_id,
        runs=runs,
        start_us=start_us,
        settings=settings,
        until_us=start_us + HORIZON_US,
    )
    for _ in driver.events():
        pass
    summary = driver.summary(mine)
    rules = definition.rules
    return {
        "finished_at": summary["finished_at"],
        "status": summary["status"],
        # Of the accepted contacts (the rejected ones are the summary's, not the forecast's).
        "contacts": {k: v for k, v in summary["contacts"].items() if k != "rejected"},
        "calls": summary["calls"],
        "assumptions": {
            "outcome_shares": dict(model),
            "call_seconds": CALL_SECONDS,
            "max_retries": rules.max_retries,
            "retry_delay_minutes": rules.retry_delay_minutes,
            "retry_on": list(rules.retry_on),
            "lines": lines,
            "other_running_campaigns": len(others),
            "other_remaining_contacts": sum(len(o.contacts) for o in others),
        },
    }


def expected_cost(
    calls: Mapping[str, int], increment_seconds: int, rate: NumberRate | None
) -> dict[str, Any]:
    """What the forecast's calls would bill, priced as the sink prices real ones: each call
    that connects (answered, voicemail) lasts CALL_SECONDS, rounded up to the account's
    billing increment, at the source number's rate. Money and minutes as decimal text."""
    billed_calls = sum(calls.get(status, 0) for status in BILLED_OUTCOMES)
    per_call_s = -(-CALL_SECONDS // increment_seconds) * increment_seconds
    minutes = Decimal(billed_calls * per_call_s) / 60
    return {
        "billed_calls": billed_calls,
        "billing_increment_seconds": increment_seconds,
        "billed_minutes": _decimal_text(minutes),
        "rate_per_minute": _decimal_text(rate.per_minute) if rate else None,
        "currency": rate.currency if rate else None,
        "cost": _decimal_text(minutes * rate.per_minute) if rate else None,
    }


def _decimal_text(value: Decimal) -> str:
    return format(value.normalize(), "f")
