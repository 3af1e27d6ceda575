"""The exceptions of `campaignflow/`, in one place, under `CliError` (a `CampaignflowError`)."""

from __future__ import annotations

from campaigns.exceptions import CampaignflowError


class CliError(CampaignflowError):
    """An error of the command line: its inputs and the local broker."""


class InputError(CliError):
    """One clear line for stderr."""


class KafkaLocalError(CliError, RuntimeError):
    """A problem a person can act on (missing Java, failed download, broker died)."""
