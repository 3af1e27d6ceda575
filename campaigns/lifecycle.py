"""The campaign state machine (SPEC section 4): which command moves which status where."""

from __future__ import annotations

from campaigns.events import CampaignStatus, CommandKind

S = CampaignStatus
K = CommandKind

TRANSITIONS: dict[tuple[CampaignStatus, CommandKind], CampaignStatus] = {
    (S.draft, K.start): S.running,
    (S.draft, K.schedule): S.scheduled,
    (S.draft, K.cancel): S.cancelled,
    (S.draft, K.edit): S.draft,
    (S.scheduled, K.start): S.running,
    (S.scheduled, K.schedule): S.scheduled,
    (S.scheduled, K.cancel): S.cancelled,
    (S.running, K.pause): S.paused,
    (S.running, K.cancel): S.cancelled,
    (S.paused, K.resume): S.running,
    (S.paused, K.cancel): S.cancelled,
}

NEEDS_SUBSCRIPTION = (K.start, K.schedule)


def transition(status: CampaignStatus, command: CommandKind) -> CampaignStatus | str:
    """The next status, or the reason the command is refused."""
    nxt = TRANSITIONS.get((status, command))
    if nxt is not None:
        return nxt
    if status in (S.completed, S.cancelled):
        return f"campaign is {status.value}: no command applies any more"
    return f"cannot {command.value} a {status.value} campaign"
