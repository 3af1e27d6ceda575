"""Which unfinished campaigns use an agent or a number (issue 24, item 3).

A campaign copies what it needs at its creation (the agent's prompt, the source number's
and the caller IDs' E.164), so the engine never misses a removed record; the operator
would, though: a removed agent or a changed prompt looks applied while a running campaign
goes on with its copy. So while a campaign that may still call (scheduled, running,
paused) uses a record, the record is not removed and those copied parts do not change;
the answer names the campaign. A draft does not hold a record: it copies again if edited.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from campaigns.models import CampaignDefinition

if TYPE_CHECKING:
    from api.readmodel import ReadModel

HOLDING_STATUSES = ("scheduled", "running", "paused")
PAGE = 500
MAX_NAMED = 5  # campaigns a refusal names (the rest counted)


@dataclass(frozen=True)
class Use:
    campaign_id: str
    status: str


@dataclass(frozen=True)
class Held:
    """A campaign that may still call, with the definition it was created with."""

    campaign_id: str
    status: str
    definition: CampaignDefinition


def uses_agent(agent_id: str) -> Callable[[CampaignDefinition], bool]:
    """The campaign's agent, or one its contacts may name (issue 23: `agents`)."""
    return lambda d: agent_id in d.agent_ids


def uses_number(e164: str) -> Callable[[CampaignDefinition], bool]:
    def check(d: CampaignDefinition) -> bool:
        callers = d.rules.caller_ids.numbers if d.rules.caller_ids else []
        return d.source_number == e164 or e164 in callers

    return check


def users(held: Iterable[Held], uses: Callable[[CampaignDefinition], bool]) -> list[Use]:
    return [Use(h.campaign_id, h.status) for h in held if uses(h.definition)]


def holding(rm: ReadModel, account: str) -> Iterator[Held]:
    """The account's campaigns in a holding status, from the read model, a page at a time."""
    after: str | None = None
    while True:
        rows, after = rm.page(account, None, after, PAGE)
        for row in rows:
            if row.status not in HOLDING_STATUSES:
                continue
            d = rm.definition(account, row.campaign_id)
            if d is not None:
                yield Held(row.campaign_id, row.status, d)
        if after is None:
            return


def refusal(what: str, found: list[Use], change: str) -> str:
    """'agent 'x' is used by campaign 'spring' (running): <change>'."""
    named = ", ".join(f"{u.campaign_id!r} ({u.status})" for u in found[:MAX_NAMED])
    more = f" and {len(found) - MAX_NAMED} more" if len(found) > MAX_NAMED else ""
    noun = "campaign" if len(found) == 1 else "campaigns"
    return f"{what} is used by {noun} {named}{more}: {change}"
