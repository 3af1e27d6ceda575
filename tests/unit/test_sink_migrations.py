"""Migrations on the embedded engine: idempotent, versioned, and safe against edited history."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sinks.dsn import ClickHouseUnavailable, open_client
from sinks.migrations import Migration, MigrationError, load, migrate


@pytest.fixture()
def client(tmp_path: Path) -> Iterator[Any]:
    c = open_client(f"chdb://{tmp_path / 'ch'}")
    try:
        yield c
    finally:
        c.close()


def _tables(client: Any) -> set[str]:
    return {r[0] for r in client.query("SHOW TABLES").result_rows}


def test_migrate_twice_is_a_no_op(client: Any) -> None:
    first = migrate(client)
    assert first == [f"{m.version:04d}_{m.name}" for m in load()]
    before = _tables(client)
    assert {
        "call_attempts",
        "call_outcomes",
        "campaign_events",
        "campaigns",
        "tz_offsets",
    } <= before
    analyst_views = {"v_campaign_progress", "v_outcomes_by_hour", "v_call_duration_percentiles"}
    assert analyst_views.issubset(before)
    assert migrate(client) == []
    assert _tables(client) == before


def test_half_applied_migration_reruns(client: Any) -> None:
    migs = load()
    for statement in migs[0].statements()[:2]:  # a crash after two statements
        client.command(statement)
    assert migrate(client)[0] == f"{migs[0].version:04d}_{migs[0].name}"


def test_changed_views_are_reapplied_changed_tables_refused(client: Any) -> None:
    migrate(client)
    views = Migration(2, "views", "CREATE OR REPLACE VIEW v_extra AS SELECT 1 AS one;\n")
    tables = Migration(
        1, "tables", "CREATE TABLE IF NOT EXISTS x (a UInt8) ENGINE = MergeTree ORDER BY a;\n"
    )
    assert migrate(client, [views]) == ["0002_views"]
    assert "v_extra" in _tables(client)
    with pytest.raises(MigrationError):
        migrate(client, [tables])


def test_readonly_client_refuses_writes(tmp_path: Path) -> None:
    dsn = f"chdb://{tmp_path / 'ch'}"
    writer = open_client(dsn)
    migrate(writer)
    reader = open_client(dsn, readonly=True)
    assert reader.query("SELECT count() FROM call_attempts").result_rows == [(0,)]
    with pytest.raises(Exception, match="(?i)readonly"):
        reader.command("TRUNCATE TABLE call_attempts")
    reader.close()
    writer.close()


def test_locked_directory_is_reported_plainly(tmp_path: Path) -> None:
    """A second process cannot open a directory this one holds."""
    import subprocess
    import sys

    dsn = f"chdb://{tmp_path / 'ch'}"
    holder = open_client(dsn)
    code = (
        "import sys\n"
        "from sinks.dsn import open_client, ClickHouseUnavailable\n"
        f"try:\n    open_client({dsn!r})\nexcept ClickHouseUnavailable as e:\n"
        "    print(e); sys.exit(3)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    holder.close()
    assert proc.returncode == 3, proc.stderr[-2000:]
    assert "open in another process" in proc.stdout
    assert ClickHouseUnavailable.__name__ == "ClickHouseUnavailable"
