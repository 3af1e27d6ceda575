"""Scripted outcomes for the simulator, from the same CSV as `campaignflow simulate --outcomes`.

Columns `contact_id,attempt,status,duration_seconds`, an optional `opt_out` column
(`true`/`false`, default false: the outcome carries the person's opt-out, SPEC section 7),
and an optional `to` column: a
row with `to` set and `contact_id` empty scripts every call to that number (for one
attempt if `attempt` is set, else for all). Status `none` means no outcome ever comes.
`duration_seconds` counts from the call's creation, as in simulate.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

from campaigns.simulate import DIALER_STATUSES
from dialer.calls import Call
from dialer.exceptions import ScriptError

SCRIPT_STATUSES = DIALER_STATUSES  # the statuses of simulate's outcomes CSV, and "none"


@dataclass(frozen=True)
class Scripted:
    status: str  # a call status or "none"
    duration_seconds: float
    opt_out: bool = False


@dataclass
class Script:
    """Lookup: (contact, attempt), then (number, attempt), then (number, any attempt)."""

    by_contact: dict[tuple[str, int], Scripted] = field(default_factory=dict)
    by_number: dict[tuple[str, int | None], Scripted] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.by_contact) + len(self.by_number)

    def lookup(self, call: Call) -> Scripted | None:
        return (
            self.by_contact.get((call.contact_id, call.attempt))
            or self.by_number.get((call.to, call.attempt))
            or self.by_number.get((call.to, None))
        )


def load_script(path: Path) -> Script:
    """Read a script CSV; raises ScriptError with the row and column of the first problem."""
    script = Script()
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f, strict=True)
            cols = reader.fieldnames or []
            missing = [c for c in ("status", "duration_seconds") if c not in cols]
            if "contact_id" not in cols and "to" not in cols:
                missing.append("contact_id (or to)")
            if missing:
                raise ScriptError(f"{path}: header: missing column(s) {', '.join(missing)}")
            for n, raw in enumerate(reader, 1):
                row = {k: (v or "").strip() for k, v in raw.items() if k}
                where = f"{path}: row {n}"
                status = row.get("status", "")
                if status not in SCRIPT_STATUSES:
                    raise ScriptError(
                        f"{where}, column status: unknown status {status!r}; use {', '.join(SCRIPT_STATUSES)}"
                    )
                try:
                    duration = float(row.get("duration_seconds", ""))
                except ValueError:
                    raise ScriptError(
                        f"{where}, column duration_seconds: not a number: {row.get('duration_seconds')!r}"
                    ) from None
                if duration < 0 or not math.isfinite(duration):
                    raise ScriptError(f"{where}, column duration_seconds: must be finite and >= 0")
                attempt_text = row.get("attempt", "")
                if attempt_text and (not attempt_text.isdigit() or int(attempt_text) < 1):
                    raise ScriptError(f"{where}, column attempt: must be a whole number >= 1")
                attempt = int(attempt_text) if attempt_text else None
                opt_out_text = row.get("opt_out", "").lower()
                if opt_out_text not in ("", "true", "false"):
                    raise ScriptError(f"{where}, column opt_out: must be true or false")
                entry = Scripted(status, duration, opt_out_text == "true")
                contact = row.get("contact_id", "")
                number = row.get("to", "")
                if contact:
                    if attempt is None:
                        raise ScriptError(f"{where}, column attempt: required with contact_id")
                    script.by_contact[(contact, attempt)] = entry
                elif number:
                    script.by_number[(number, attempt)] = entry
                else:
                    raise ScriptError(f"{where}: needs a contact_id or a to number")
    except OSError as err:
        raise ScriptError(f"{path}: cannot read: {err.strerror}") from None
    except csv.Error as err:
        raise ScriptError(f"{path}: {err}") from None
    return script
