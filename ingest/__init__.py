"""Contact intake and campaign control: CSV upload, manual entry, lifecycle commands.

The public API for upstream systems is `CampaignClient` (see ingest/README.md).
"""

from ingest.api import AddResult, CampaignClient, UnknownCampaign
from ingest.commands import Answer
from ingest.upload import Target, UploadError

__all__ = ["AddResult", "Answer", "CampaignClient", "Target", "UnknownCampaign", "UploadError"]
