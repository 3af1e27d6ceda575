"""Composing one call: destination, caller ID, variables, and the contact's local zones."""

from __future__ import annotations

from dataclasses import dataclass

from campaigns.contacts import Alternate, Contact
from campaigns.models import CampaignDefinition
from campaigns.numberzones import zones_of_number
from campaigns.store import Directory
from campaigns.strategies import caller_id, destination_index


@dataclass(slots=True)
class Dial:
    to: str
    alternate: Alternate | None


class CallPlan:
    """What every call of a campaign shares, worked out once, not once per call."""

    __slots__ = ("definition", "account_id", "agent_id", "max_call_us", "_caller_ids")

    def __init__(self, definition: CampaignDefinition) -> None:
        self.definition = definition
        self.account_id = definition.account_id
        self.agent_id = definition.agent.id
        self.max_call_us = definition.rules.max_call_us
        self._caller_ids: dict[int, str] = {}

    def caller_id(self, attempt: int) -> str:
        found = self._caller_ids.get(attempt)
        if found is None:
            found = self._caller_ids[attempt] = choose_caller_id(self.definition, attempt)
        return found


def choose_destination(
    definition: CampaignDefinition, contact: Contact, attempt: int, directory: Directory
) -> Dial:
    """SPEC section 3, after leaving out alternates on the account's or the global do-not-call list."""
    if attempt == 1 or not contact.alternates:
        return Dial(contact.phone_number, None)
    is_blocked = directory.is_blocked
    account_id = definition.account_id
    alternates = [a for a in contact.alternates if not is_blocked(account_id, a.phone_number)]
    idx = destination_index(definition.rules.alternate_strategy, len(alternates), attempt)
    if idx is None:
        return Dial(contact.phone_number, None)
    alt = alternates[idx]
    return Dial(alt.phone_number, alt)


def choose_caller_id(definition: CampaignDefinition, attempt: int) -> str:
    ids = definition.rules.caller_ids
    if ids is None:
        return definition.source_number
    return caller_id(ids.strategy, ids.numbers, attempt, definition.source_number)


def call_variables(
    definition: CampaignDefinition, contact: Contact, alternate: Alternate | None
) -> dict[str, str]:
    """The row's variable columns, overridden for an alternate, renamed by the mapping."""
    mapping = definition.variable_mapping
    values = contact.variables
    if alternate is not None and alternate.variables:
        values = values | alternate.variables
    if not mapping:
        return dict(values)
    get = mapping.get
    return {get(k, k): v for k, v in values.items()}


def contact_zones(definition: CampaignDefinition, contact: Contact, to: str) -> tuple[str, ...]:
    """The contact's zone for the local-time rule: CSV zone, else the number's, else the campaign's."""
    if contact.timezone:
        return (contact.timezone,)
    return zones_of_number(to) or (definition.rules.timezone,)
