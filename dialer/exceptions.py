"""The exceptions of `dialer/`, in one place, under `DialerError` (a `CampaignflowError`)."""

from __future__ import annotations

from campaigns.exceptions import CampaignflowError


class DialerError(CampaignflowError):
    """An error of the dialer: calls, scripts, adapters, signatures."""


class UnknownCall(DialerError, LookupError):
    """An outcome for a call id this dialer never placed (a webhook callback answers 404)."""


class BadCall(DialerError, ValueError):
    """A call:create message the dialer cannot place; the message says why."""


class ScriptError(DialerError, ValueError):
    """A script CSV that cannot be used; names file, row and column."""


class SecretTooShort(DialerError, ValueError):
    """A shared secret too short to resist guessing (HMAC-SHA256 wants >= 32 bytes)."""


class PredialFailed(DialerError):
    """A pre-dial check that gave no usable answer; the message is its short kind."""


class TargetRefused(DialerError, OSError):
    """A webhook or pre-dial connection to a non-public address was refused (errno EACCES:
    final, not retried).

    An OSError too: aiohttp's socket factory reports connect failures as OSError.
    """
