"""The exceptions of `ingest/`, in one place, under `IngestError` (a `CampaignflowError`)."""

from __future__ import annotations

from pathlib import Path

from campaigns.exceptions import CampaignflowError


class IngestError(CampaignflowError):
    """An error of intake: uploads, commands, the Python API."""


class UnknownCampaign(IngestError, LookupError):
    """No create command for the campaign is on campaign.commands."""


class AmbiguousCampaign(IngestError, LookupError):
    """Several accounts have a campaign of that id (ids are per account): name the account."""


class UploadError(IngestError):
    """One clear line for the operator; the rejects report says the same."""

    def __init__(self, message: str, rejects_path: Path | None = None) -> None:
        super().__init__(message)
        self.rejects_path = rejects_path
