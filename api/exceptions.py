"""The exceptions of `api/`, in one place, under `ApiError` (a `CampaignflowError`)."""

from __future__ import annotations

from campaigns.exceptions import CampaignflowError


class ApiError(CampaignflowError):
    """An error of the REST API: accounts, bodies, problems."""


class AccountError(ApiError, ValueError):
    pass


class BodyTooLarge(ApiError):
    pass


class RateLimited(ApiError):
    """Over an account's allowance (api.ratelimit): `retry_after_s` until it would pass."""

    def __init__(self, what: str, retry_after_s: int) -> None:
        super().__init__(f"too many {what}; retry after {retry_after_s} s")
        self.what = what
        self.retry_after_s = retry_after_s


class PeriodError(ApiError, ValueError):
    """A period the API cannot answer: `field` names the query parameter."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class AnalyticsUnavailable(ApiError):
    """ClickHouse (the sink's endpoint) did not answer; the message says why."""
