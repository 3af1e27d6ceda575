"""One ClickHouse path: a DSN picks the embedded engine (chdb:///dir) or a server (http(s)://...).

The same DDL and queries run on both. With the embedded engine only one process may
open a data directory; `open_client` says so plainly instead of chdb's bare
"Error initializing EmbeddedServer".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from sinks.exceptions import ClickHouseUnavailable


def default_dsn(home: Path) -> str:
    """The embedded engine under the state directory `home` (when no DSN is configured)."""
    return f"chdb://{(home / 'clickhouse').resolve()}"


def is_embedded(dsn: str) -> bool:
    return dsn.startswith("chdb:")


def embedded_path(dsn: str) -> Path | None:
    """Data directory of a `chdb:///dir` DSN (None for servers and in-memory engines)."""
    if not is_embedded(dsn):
        return None
    parsed = urlparse(dsn)
    location = parsed.path if not parsed.netloc else parsed.netloc
    if location in ("", "memory", ":memory:"):
        return None
    return Path(location)


def redact(dsn: str) -> str:
    """The DSN without its password, for logs and the sink's /health answer."""
    parsed = urlparse(dsn)
    if parsed.password is None:
        return dsn
    netloc = parsed.netloc.replace(f":{parsed.password}@", ":***@")
    return urlunparse(parsed._replace(netloc=netloc))


def open_client(dsn: str, *, readonly: bool = False, **kwargs: Any) -> Client:
    """A clickhouse-connect client for the DSN; timestamps come back timezone-aware (UTC).

    `readonly=True` sets ClickHouse `readonly=1` on the session: writes and DDL are refused.
    """
    path = embedded_path(dsn)
    if path is not None:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    client_settings: dict[str, Any] = dict(kwargs.pop("settings", {}) or {})
    if readonly:
        client_settings["readonly"] = 1
    try:
        return clickhouse_connect.get_client(
            dsn=dsn, tz_mode="aware", settings=client_settings, **kwargs
        )
    except Exception as exc:
        text = str(exc)
        if path is not None and "EmbeddedServer" in text:
            raise ClickHouseUnavailable(
                f"the embedded ClickHouse directory {path} is open in another process"
                " (only one process may open it; is `campaignflow sink` running?)"
            ) from exc
        raise ClickHouseUnavailable(
            f"cannot connect to ClickHouse at {redact(dsn)}: {text}"
        ) from exc
