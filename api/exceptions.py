"""The exceptions of `api/`, in one place, under `ApiError` (a `CampaignflowError`)."""

from __future__ import annotations

from campaigns.exceptions import CampaignflowError


class ApiError(CampaignflowError):
    """An error of the REST API: accounts, bodies, problems."""


class AccountError(ApiError, ValueError):
    pass


class BodyTooLarge(ApiError):
    pass
