"""The exceptions of `sinks/`, in one place, under `SinkError` (a `CampaignflowError`)."""

from __future__ import annotations

from campaigns.exceptions import CampaignflowError


class SinkError(CampaignflowError):
    """An error of the ClickHouse sink: rows, queries, migrations, access."""


class AmbiguousReport(SinkError, LookupError):
    """Several accounts have a campaign of that id (ids are per account): name the account."""


class TokenFileError(SinkError, RuntimeError):
    """The token file is missing, unreadable, empty or readable by others."""


class ClickHouseUnavailable(SinkError, RuntimeError):
    """ClickHouse cannot be reached or opened (server down, embedded directory locked)."""


class Abandoned(SinkError):
    """The partitions of the batch were revoked mid-flush: drop it, its owner replays it."""


class RefusedQuery(SinkError, ValueError):
    """A query the read-only endpoint does not run; the message says what and where."""


class MigrationError(SinkError, RuntimeError):
    """A migration cannot be applied as written."""


class NativeUnsupported(SinkError, ValueError):
    """A schema field this module cannot describe to ClickHouse (a schema change to handle)."""


class QueryError(SinkError, RuntimeError):
    """The query was refused (not a checked SELECT, a limit, unknown table, no token...)."""


class RowError(SinkError, ValueError):
    """A decoded record that does not make a row (bad union branch, missing field)."""
