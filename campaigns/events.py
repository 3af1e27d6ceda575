"""What goes into the engine and what comes out of it.

Plain dataclasses with times as epoch microseconds (see windows.py): the shells
translate them to and from Avro (live) or JSON Lines (simulate).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from campaigns.contacts import Contact
from campaigns.models import CampaignDefinition, Predial


class CampaignStatus(StrEnum):
    draft = "draft"
    scheduled = "scheduled"
    running = "running"
    paused = "paused"
    completed = "completed"
    cancelled = "cancelled"


FINAL_CAMPAIGN = (CampaignStatus.completed, CampaignStatus.cancelled)


class ContactStatus(StrEnum):
    reached = "reached"
    exhausted = "exhausted"
    failed = "failed"
    cancelled = "cancelled"
    suppressed = "suppressed"
    opted_out = "opted_out"  # the person asked not to be called again (SPEC section 7)
    expired = "expired"  # the campaign's end date came first (SPEC 9)
    skipped = "skipped"  # the dialer's pre-dial check refused the call (SPEC 9)


class CommandKind(StrEnum):
    create = "create"
    schedule = "schedule"
    start = "start"
    pause = "pause"
    resume = "resume"
    cancel = "cancel"
    add_contacts = "add_contacts"
    edit = "edit"  # replace a draft's definition and contact list (its new list follows)


# ---- inputs ------------------------------------------------------------------


@dataclass(slots=True)
class Command:
    command_id: str
    kind: CommandKind
    definition: CampaignDefinition | None = None  # create, edit
    expected_contacts: int = 0  # create, edit
    start_at_us: int | None = None  # schedule
    count: int = 0  # add_contacts
    # The account acting. The live worker parks every record without one before the
    # engine; None (simulate, tests) acts as the campaign's own account, "" is refused.
    account_id: str | None = None


@dataclass(slots=True)
class ContactBatch:
    """A batch of contact rows from a producer, for one campaign, on behalf of one account."""

    batch_id: str
    contacts: Sequence[Contact]
    account_id: str | None = None  # as Command.account_id


@dataclass(slots=True)
class CallOutcome:
    call_id: str
    status: str
    opt_out: bool = False  # the person asked not to be called again (SPEC section 7)
    callback_at_us: int | None = None  # the person asked to be called back then (SPEC 9)


@dataclass(frozen=True, slots=True)
class InboundCall:
    """An inbound call of the account starting or ending (SPEC 8).

    `at_us` is when that happened, which may be before the step that hears of it: a call's
    cut-off counts from its own start, not from when the engine learnt of it.
    """

    call_id: str
    at_us: int
    ended: bool = False


# ---- outputs -----------------------------------------------------------------


@dataclass(slots=True)
class StatusChanged:
    at_us: int
    campaign_id: str
    status: CampaignStatus


@dataclass(slots=True)
class CallCreated:
    at_us: int
    call_id: str
    campaign_id: str
    account_id: str
    contact_id: str
    attempt: int
    to: str
    from_: str
    alternate_position: int  # 0 = primary, else the N of phone_number_N
    agent_id: str
    variables: dict[str, str]
    deadline_us: int
    voicemail_message: str | None = None  # the message to leave on a machine; None: hang up
    predial: Predial | None = None  # the campaign's pre-dial check (issue 23); None: none


@dataclass(slots=True)
class OutcomeRecorded:
    """An outcome the engine saw; `applied` is False for one that changed nothing."""

    at_us: int
    campaign_id: str
    call_id: str
    contact_id: str
    attempt: int
    status: str
    applied: bool
    timeout: bool = False
    opt_out: bool = False
    callback_at_us: int | None = None  # as the outcome carried it, applied or not


@dataclass(slots=True)
class NumberOptedOut:
    """A number joins the account's do-not-call list: for the list's topic (SPEC section 7).

    The engine has already applied it to its own directory; the shell publishes it so
    every other campaign of the account (on any worker) leaves the number out too.
    """

    at_us: int
    campaign_id: str
    account_id: str
    number: str
    call_id: str


@dataclass(slots=True)
class ContactFinal:
    at_us: int
    campaign_id: str
    contact_id: str
    status: ContactStatus
    attempts: int


@dataclass(slots=True)
class CommandRejected:
    """A refused command (or contact batch: command `contact_batch`, its batch id as id).

    `dead_letter`: the input itself is bad or unauthorised (another account's, an absurd
    count), not merely untimely, so the shell also parks it on the dead-letter topic.
    """

    at_us: int
    campaign_id: str
    command_id: str
    command: str
    reason: str
    dead_letter: bool = False


@dataclass(slots=True)
class ContactRejected:
    at_us: int
    campaign_id: str
    contact_id: str
    row: int
    reason: str


@dataclass(slots=True)
class ContactsAccepted:
    """The contacts of a batch the engine took, by position in the batch: readers (the API's
    read model) list exactly these, never a batch the engine refused nor a row it rejected."""

    at_us: int
    campaign_id: str
    batch_id: str
    positions: list[int]


@dataclass(slots=True)
class InputRejected:
    """An input the engine cannot use (unknown call, unknown campaign): for the dead-letter topic.

    `what` is for people; `call_id` names the rejected outcome's call, so the shell finds the
    message to park without parsing `what`."""

    at_us: int
    campaign_id: str
    what: str
    reason: str
    call_id: str | None = None


Event = (
    StatusChanged
    | CallCreated
    | OutcomeRecorded
    | ContactFinal
    | CommandRejected
    | ContactRejected
    | ContactsAccepted
    | InputRejected
    | NumberOptedOut
)
