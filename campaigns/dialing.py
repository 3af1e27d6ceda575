"""Composing one call: destination, caller ID, variables, and the contact's local zones."""

from __future__ import annotations

from dataclasses import dataclass

from campaigns.contacts import Alternate, Contact
from campaigns.models import Agent, CampaignDefinition, Predial, Voicemail, VoicemailAction
from campaigns.numberzones import zones_of_number
from campaigns.store import Directory
from campaigns.strategies import caller_id, destination_index


@dataclass(slots=True)
class Dial:
    to: str
    alternate: Alternate | None


class CallPlan:
    """What every call of a campaign shares, worked out once, not once per call.

    The rules the per-call paths read are copied into slots: an attribute read of a
    pydantic model goes through its `__getattr__` hook (CPython 3.11 cannot specialise
    it), several times slower than a slot, and the round reads them for every call."""

    __slots__ = (
        "definition",
        "account_id",
        "agent",
        "agent_id",
        "many_agents",
        "max_call_us",
        "outbound_limit",
        "inbound_free_slots",
        "priority",
        "attempts_allowed",
        "max_callbacks",
        "retry_statuses",
        "retry_delay_us",
        "ends_at_us",
        "voicemail",
        "predial",
        "variable_mapping",
        "_caller_ids",
    )

    def __init__(self, definition: CampaignDefinition) -> None:
        rules = definition.rules
        self.definition = definition
        self.account_id = definition.account_id
        self.agent: Agent = definition.agent
        self.agent_id = definition.agent.id
        self.many_agents = bool(definition.agents)  # else every contact gets `agent`
        self.max_call_us = rules.max_call_us
        self.outbound_limit = rules.outbound_limit
        self.inbound_free_slots = rules.inbound_free_slots
        self.priority = rules.priority
        self.attempts_allowed = rules.attempts_allowed
        self.max_callbacks = rules.max_callbacks
        self.retry_statuses = rules.retry_statuses
        self.retry_delay_us = rules.retry_delay_us
        self.ends_at_us = rules.ends_at_us
        # None: hang up on a machine (`Voicemail.message_for` would say None every time)
        voicemail = rules.voicemail
        hangs_up = voicemail.action is VoicemailAction.hang_up
        self.voicemail: Voicemail | None = None if hangs_up else voicemail
        self.predial: Predial | None = definition.predial
        self.variable_mapping = definition.variable_mapping
        self._caller_ids: dict[int, str] = {}

    def voicemail_message(self, attempt: int, variables: dict[str, str]) -> str | None:
        """The message to leave on this attempt (`Voicemail.message_for`); None: hang up."""
        if self.voicemail is None:
            return None
        return self.voicemail.message_for(attempt, self.attempts_allowed, variables)

    def agent_for(self, agent_id: str | None) -> Agent:
        """`CampaignDefinition.agent_for`, without reading the model when there is one agent."""
        if agent_id is None or not self.many_agents:
            return self.agent
        return self.definition.agent_for(agent_id)

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
    mapping: dict[str, str], contact: Contact, alternate: Alternate | None
) -> dict[str, str]:
    """The row's variable columns, overridden for an alternate, renamed by the campaign's
    `variable_mapping`."""
    values = contact.variables
    if alternate is not None and alternate.variables:
        values = values | alternate.variables
    if not mapping:
        return dict(values)
    get = mapping.get
    # {get(k, k): v for k, v in values.items()}, in C (`map`, `zip`): once per call
    return dict(zip(map(get, values, values), values.values(), strict=True))


def contact_zones(definition: CampaignDefinition, contact: Contact, to: str) -> tuple[str, ...]:
    """The contact's zone for the local-time rule: CSV zone, else the number's, else the campaign's."""
    if contact.timezone:
        return (contact.timezone,)
    return zones_of_number(to) or (definition.rules.timezone,)
