"""Contact batches have a byte budget under the producer's limit (issue 17, item 7)."""

from __future__ import annotations

from pathlib import Path

import pytest

from campaigns.contacts import MAX_ROW_CHARS
from ingest.upload import upload
from topics import catalogue

pytestmark = pytest.mark.unit

SPEC = Path(__file__).resolve().parents[2] / "examples" / "spec" / "campaign.yaml"


def _list(path: Path, rows: int, width: int) -> Path:
    lines = ["contact_id,phone_number,name,plan_name"]
    lines += [f"c{i},+1202555{i:04d},{'n' * width},gold" for i in range(rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_dry_run_cuts_wide_rows_into_batches_under_the_limit(tmp_path: Path) -> None:
    # 1000 rows of ~5 kB: one 5 MB batch before, over the producer's 1 MiB limit.
    summary = upload(SPEC, _list(tmp_path / "wide.csv", 1000, 5000), publish=False, workers=1)
    assert summary.accepted == 1000
    assert summary.batches >= 6
    assert 0 < summary.largest_batch_bytes <= catalogue.CONTACT_BATCH_MAX_BYTES
    assert catalogue.CONTACT_BATCH_MAX_BYTES < catalogue.MAX_MESSAGE_BYTES


def test_narrow_rows_still_go_a_thousand_a_batch(tmp_path: Path) -> None:
    summary = upload(SPEC, _list(tmp_path / "narrow.csv", 2500, 5), publish=False, workers=1)
    assert summary.batches == 3


def test_a_row_too_wide_for_any_batch_is_rejected_with_its_row(tmp_path: Path) -> None:
    path = tmp_path / "huge.csv"
    path.write_text(
        "contact_id,phone_number,a,b\n"
        f"c1,+12025550001,{'x' * 60_000},{'y' * 60_000}\n"
        "c2,+12025550002,ok,ok\n"
    )
    summary = upload(SPEC, path, publish=False, workers=1)
    assert summary.accepted == 1 and summary.rejected == 1
    assert f"over the limit of {MAX_ROW_CHARS}" in summary.first_rejections[0].reason
