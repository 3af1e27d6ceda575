"""The rejects report: every row that was not accepted, why, and its original values.

A CSV written next to the input (`contacts.csv` -> `contacts.rejects.csv`) with
`row, column, reason` and then the input's own columns, so an operator can fix the
rows and upload the report's data columns again. An error that stops the whole file
(bad bytes, broken quoting, a bad header) is its last line. In the live pipeline the
same rejections are parked on the dead-letter topic (`dead_letter`).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from types import TracebackType
from typing import IO

from campaigns.contacts import Rejection
from campaigns.csvsafe import neutralise_row
from topics import catalogue, deadletter
from topics.producer import TrackedProducer

FIXED = ("row", "column", "reason")


def report_path(contacts: Path) -> Path:
    """`dir/list.csv` -> `dir/list.rejects.csv`."""
    return contacts.with_name(f"{contacts.stem}.rejects.csv")


class RejectsReport:
    """Writes rejections as they come; the file exists (header only) even when none do."""

    def __init__(self, path: Path, columns: tuple[str, ...] = ()) -> None:
        self.path = path
        self.columns: tuple[str, ...] = tuple(c for c in columns if c not in FIXED)
        self.count = 0
        self._file: IO[str] = path.open("w", encoding="utf-8", newline="")
        self._writer = csv.writer(self._file)
        self._writer.writerow(neutralise_row([*FIXED, *self.columns]))

    def add(self, rej: Rejection) -> None:
        self._writer.writerow(
            neutralise_row(
                [rej.row, rej.column or "", rej.reason]
                + [rej.values.get(c, "") for c in self.columns]
            )
        )
        self.count += 1

    def fatal(self, message: str, row: int | None = None, column: str | None = None) -> None:
        """A file-level error: the line says why nothing of the file was created."""
        self._writer.writerow(neutralise_row(["" if row is None else row, column or "", message]))

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> RejectsReport:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def row_bytes(rej: Rejection, columns: tuple[str, ...]) -> bytes:
    """The rejected row as the CSV line it was (header order), UTF-8."""
    buf = io.StringIO()
    csv.writer(buf).writerow([rej.values.get(c, "") for c in columns])
    return buf.getvalue().encode("utf-8")


def dead_letter(
    producer: TrackedProducer,
    rej: Rejection,
    *,
    account_id: str,
    campaign_id: str,
    source: str,
    columns: tuple[str, ...],
    prefix: str,
) -> None:
    """Park a rejected row: topic campaign.contacts (where it would have gone), offset = row.

    There is no Kafka offset for a row that never reached a topic: partition is -1 and
    offset is the 1-based data row; the value is the row as CSV, the key the account (as
    the batch's would have been).
    """
    where = f"{source}: row {rej.row}" + (f", column {rej.column}" if rej.column else "")
    letter = deadletter.build(
        topic=catalogue.topic_name(catalogue.CONTACTS, prefix),
        partition=-1,
        offset=rej.row,
        key=account_id,
        value=row_bytes(rej, columns),
        error=f"{where}: {rej.reason} (campaign {campaign_id})",
        stage="ingest",
        dead_letter_topic=catalogue.topic_name(catalogue.DEADLETTER, prefix),
    )
    producer.park(letter)
