"""The storage port the engine runs over, and the in-memory store for simulate and tests.

The port is shaped for key-value tables (Faust on RocksDB): every method reads or
writes one key. The engine always `put`s what it changed, so a store may copy.
"""

from __future__ import annotations

from typing import Protocol

from campaigns.models import AccountSettings, CampaignDefinition
from campaigns.state import AccountState, CampaignState, ContactState

QueueEntry = tuple[int, ...]  # (time, ...) sorted by time first
KEY_SEP = "/"  # in neither an account id nor a campaign id (campaigns.models patterns)


def campaign_key(account_id: str, campaign_id: str) -> str:
    """The one key of a campaign wherever campaigns are kept side by side (tables, read
    model, due index, sink): campaign ids are unique per account only, so two accounts
    may both have `spring`."""
    return f"{account_id}{KEY_SEP}{campaign_id}"


def split_campaign_key(key: str) -> tuple[str, str]:
    """(account_id, campaign_id) of a `campaign_key`."""
    account_id, sep, campaign_id = key.partition(KEY_SEP)
    if not sep:
        raise ValueError(f"not a campaign key: {key[:80]!r}")
    return account_id, campaign_id


class Store(Protocol):
    def get_campaign(self, campaign_id: str) -> CampaignState | None: ...
    def put_campaign(self, state: CampaignState) -> None: ...
    def get_definition(self, campaign_id: str) -> CampaignDefinition | None: ...
    def put_definition(self, definition: CampaignDefinition) -> None: ...
    # The contact methods take the scope of the campaign's current list (its id, or after a
    # draft's edit `campaigns.step.base.list_scope`): a store treats it as a campaign id.
    def get_contact(self, campaign_id: str, seq: int) -> ContactState | None: ...
    def put_contact(self, campaign_id: str, state: ContactState) -> None: ...
    def find_contact(self, campaign_id: str, contact_id: str) -> int | None: ...
    def index_contact(self, campaign_id: str, contact_id: str, seq: int) -> None: ...
    # An edited-away list is dropped contact by contact: the record and its index entry.
    def drop_contact(self, campaign_id: str, seq: int, contact_id: str) -> None: ...
    def get_queue(self, campaign_id: str, name: str) -> list[QueueEntry]: ...
    def put_queue(self, campaign_id: str, name: str, entries: list[QueueEntry]) -> None: ...
    # Times of a campaign's recent calls to one number or for one contact (SPEC 7 attempt
    # limits), oldest first; the engine keeps only what a limit can still count.
    def get_recent(self, campaign_id: str, key: str) -> tuple[int, ...]: ...
    def put_recent(self, campaign_id: str, key: str, times: tuple[int, ...]) -> None: ...
    # Contact batches already taken, by producer batch key: a replayed batch changes nothing.
    def has_batch(self, campaign_id: str, batch_key: str) -> bool: ...
    def add_batch(self, campaign_id: str, batch_key: str) -> None: ...
    # The account's own record (SPEC 8). Its call log across campaigns uses the recent-call
    # methods above under `account_scope(account_id)`, a name no campaign id can take.
    def get_account(self, account_id: str) -> AccountState | None: ...
    def put_account(self, state: AccountState) -> None: ...


def account_scope(account_id: str) -> str:
    """The store scope of an account's own rows (campaign ids never start with NUL)."""
    return "\x00account:" + account_id


class Directory(Protocol):
    """Lookups shared by all campaigns: the do-not-call lists and account subscriptions.

    Do-not-call lists are kept per account beside one global list (SPEC section 7): a
    number is blocked for an account when it is on that account's list or the global one.
    """

    def is_blocked(self, account_id: str, number: str) -> bool: ...
    def add_blocked(self, account_id: str, number: str) -> None:
        """An opt-out the engine just honoured: the number is on the account's list at once."""
        ...

    def subscription_active(self, account_id: str) -> bool: ...

    def account_settings(self, account_id: str) -> AccountSettings | None:
        """The account's telephony settings (SPEC 8); None when the account has no record."""
        ...


class MemoryStore:
    """Dicts and lists; `put` keeps the object itself, so in-place edits cost nothing.

    Contacts sit in a list per campaign indexed by sequence number (they are numbered
    densely on arrival), so a million-contact campaign costs a pointer per contact
    and a lookup hashes nothing.
    """

    def __init__(self) -> None:
        self.campaigns: dict[str, CampaignState] = {}
        self.definitions: dict[str, CampaignDefinition] = {}
        self.contacts: dict[str, list[ContactState | None]] = {}
        self.index: dict[str, dict[str, int]] = {}
        self.queues: dict[tuple[str, str], list[QueueEntry]] = {}
        # Per scope (a campaign, or an account's `account_scope`), then per key: a million
        # numbers' logs need no (scope, key) tuple each, nor one built per lookup.
        self.recent: dict[str, dict[str, tuple[int, ...]]] = {}
        self.batches: dict[str, set[str]] = {}
        self.accounts: dict[str, AccountState] = {}

    def get_campaign(self, campaign_id: str) -> CampaignState | None:
        return self.campaigns.get(campaign_id)

    def put_campaign(self, state: CampaignState) -> None:
        self.campaigns[state.campaign_id] = state

    def get_definition(self, campaign_id: str) -> CampaignDefinition | None:
        return self.definitions.get(campaign_id)

    def put_definition(self, definition: CampaignDefinition) -> None:
        self.definitions[definition.campaign_id] = definition

    def get_contact(self, campaign_id: str, seq: int) -> ContactState | None:
        contacts = self.contacts.get(campaign_id)
        if contacts is None or not 0 <= seq < len(contacts):
            return None
        return contacts[seq]

    def put_contact(self, campaign_id: str, state: ContactState) -> None:
        contacts = self.contacts.get(campaign_id)
        if contacts is None:  # not setdefault: that makes an empty list on every call
            contacts = self.contacts[campaign_id] = []
        seq = state.seq
        if seq >= len(contacts):
            contacts.extend([None] * (seq + 1 - len(contacts)))
        contacts[seq] = state

    def find_contact(self, campaign_id: str, contact_id: str) -> int | None:
        index = self.index.get(campaign_id)
        return None if index is None else index.get(contact_id)

    def index_contact(self, campaign_id: str, contact_id: str, seq: int) -> None:
        index = self.index.get(campaign_id)
        if index is None:  # not setdefault: that makes an empty dict on every call
            index = self.index[campaign_id] = {}
        index[contact_id] = seq

    def drop_contact(self, campaign_id: str, seq: int, contact_id: str) -> None:
        contacts = self.contacts.get(campaign_id)
        if contacts is not None and 0 <= seq < len(contacts):
            contacts[seq] = None
            while contacts and contacts[-1] is None:
                contacts.pop()
            if not contacts:
                del self.contacts[campaign_id]
        index = self.index.get(campaign_id)
        if index is not None:
            index.pop(contact_id, None)
            if not index:
                del self.index[campaign_id]

    def get_queue(self, campaign_id: str, name: str) -> list[QueueEntry]:
        return self.queues.get((campaign_id, name), [])

    def put_queue(self, campaign_id: str, name: str, entries: list[QueueEntry]) -> None:
        if entries:
            self.queues[(campaign_id, name)] = entries
        else:
            self.queues.pop((campaign_id, name), None)

    def get_recent(self, campaign_id: str, key: str) -> tuple[int, ...]:
        log = self.recent.get(campaign_id)
        return () if log is None else log.get(key, ())

    def put_recent(self, campaign_id: str, key: str, times: tuple[int, ...]) -> None:
        log = self.recent.get(campaign_id)
        if times:
            if log is None:
                log = self.recent[campaign_id] = {}
            log[key] = times
        elif log is not None:
            log.pop(key, None)

    def has_batch(self, campaign_id: str, batch_key: str) -> bool:
        seen = self.batches.get(campaign_id)
        return seen is not None and batch_key in seen

    def add_batch(self, campaign_id: str, batch_key: str) -> None:
        self.batches.setdefault(campaign_id, set()).add(batch_key)

    def get_account(self, account_id: str) -> AccountState | None:
        return self.accounts.get(account_id)

    def put_account(self, state: AccountState) -> None:
        self.accounts[state.account_id] = state


class StaticDirectory:
    """Do-not-call sets in memory (global, and per account); every account active unless inactive.

    `simulate` and the tests use it; opt-outs the engine honours are added to the account's set.
    """

    def __init__(
        self,
        blocked: set[str] | None = None,
        inactive: set[str] | None = None,
        by_account: dict[str, set[str]] | None = None,
        settings: dict[str, AccountSettings] | None = None,
    ) -> None:
        self.blocked = blocked or set()  # the global list
        self.by_account = by_account or {}
        self.inactive = inactive or set()
        self.settings = settings or {}

    def is_blocked(self, account_id: str, number: str) -> bool:
        if number in self.blocked:
            return True
        listed = self.by_account.get(account_id)
        return listed is not None and number in listed

    def add_blocked(self, account_id: str, number: str) -> None:
        self.by_account.setdefault(account_id, set()).add(number)

    def subscription_active(self, account_id: str) -> bool:
        return account_id not in self.inactive

    def account_settings(self, account_id: str) -> AccountSettings | None:
        return self.settings.get(account_id)
