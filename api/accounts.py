"""API keys: made once, shown once, stored as SHA-256 digests; the operator key in a 0600 file.

Why a plain SHA-256 and not bcrypt/argon2: a key is 32 random bytes (256 bits) from
`secrets`, so no dictionary or brute force applies and a slow hash would protect nothing;
it would only cost every request tens of milliseconds. The digest is the lookup key,
so a request costs one hash and one dict lookup, and a leaked topic reveals no key.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from api.controlplane import ControlPlane
from api.exceptions import AccountError
from campaigns.models import ACCOUNT_ID, AccountSettings, LineSettings

KEY_PREFIX = "cfk_"
OPERATOR_PREFIX = "cfo_"


@dataclass(frozen=True)
class NewKey:
    account_id: str
    key_id: str
    key: str  # shown once


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def make_key() -> tuple[str, str]:
    """(key_id, key): the id is public (to revoke by), the key secret."""
    key_id = secrets.token_hex(4)
    return key_id, f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"


def check_account_id(account_id: str) -> str:
    if not ACCOUNT_ID.match(account_id):
        raise AccountError(f"account id must match [a-z0-9][a-z0-9_-]{{0,62}}, got {account_id!r}")
    return account_id


def create_account(cp: ControlPlane, account_id: str, name: str | None = None) -> NewKey:
    check_account_id(account_id)
    if cp.get("account", account_id, account_id) is not None:
        raise AccountError(f"account {account_id!r} exists (add a key with `accounts keys add`)")
    key_id, key = make_key()
    body = {
        "account_id": account_id,
        "name": name or account_id,
        "created_at_ms": int(time.time() * 1000),
        "keys": [_key_entry(key_id, key)],
    }
    cp.put("account", account_id, account_id, body)
    return NewKey(account_id, key_id, key)


def _key_entry(key_id: str, key: str) -> dict[str, Any]:
    return {
        "key_id": key_id,
        "sha256": digest(key),
        "created_at_ms": int(time.time() * 1000),
        "revoked_at": None,
    }


def account(cp: ControlPlane, account_id: str) -> dict[str, Any]:
    body = cp.get("account", account_id, account_id)
    if body is None:
        raise AccountError(f"no account {account_id!r}")
    return body


def add_key(cp: ControlPlane, account_id: str) -> NewKey:
    body = account(cp, account_id)
    key_id, key = make_key()
    body["keys"] = [*body["keys"], _key_entry(key_id, key)]
    cp.put("account", account_id, account_id, body)
    return NewKey(account_id, key_id, key)


def billing_increment(cp: ControlPlane, account_id: str) -> int:
    """The account's billing increment in seconds (60 until it is set)."""
    return int(account(cp, account_id).get("billing_increment_seconds", 60))


def set_billing_increment(cp: ControlPlane, account_id: str, seconds: int) -> None:
    """Kept on the account's record (api.accounts), where the sink reads it to price calls."""
    body = account(cp, account_id)
    body["billing_increment_seconds"] = seconds
    cp.put("account", account_id, account_id, body)


@dataclass(frozen=True)
class KeyRecord:
    key_id: str
    created_at_ms: int | None
    revoked_at_ms: int | None

    @property
    def prefix(self) -> str:
        return f"{KEY_PREFIX}{self.key_id}_"


def keys(cp: ControlPlane, account_id: str) -> list[KeyRecord]:
    """An account's keys (never their digests), oldest first."""
    return [
        KeyRecord(k["key_id"], k.get("created_at_ms"), k.get("revoked_at"))
        for k in account(cp, account_id)["keys"]
    ]


def revoke_key(cp: ControlPlane, account_id: str, key_id: str) -> None:
    body = account(cp, account_id)
    keys = body["keys"]
    if not any(k["key_id"] == key_id and not k["revoked_at"] for k in keys):
        raise AccountError(f"account {account_id!r} has no live key {key_id!r}")
    now_ms = int(time.time() * 1000)
    body["keys"] = [{**k, "revoked_at": now_ms} if k["key_id"] == key_id else k for k in keys]
    cp.put("account", account_id, account_id, body)


def authenticate(cp: ControlPlane, key: str) -> str | None:
    """The account of a live key, or None."""
    if not key.startswith(KEY_PREFIX):
        return None
    owner = cp.key_owner(digest(key))
    return owner[0] if owner else None


# ---- settings (SPEC 8) and their audit ------------------------------------------------

# The account's own events (the audit of who changed its settings) are kept in its record,
# newest last, this many: the record stays small, like its list of keys.
MAX_ACCOUNT_EVENTS = 100
SETTINGS_CHANGED = "account.settings_changed"


def key_prefix(cp: ControlPlane, key: str) -> str | None:
    """The public prefix (`cfk_<key id>_`) of a live key: what an audit names, never the key."""
    owner = cp.key_owner(digest(key)) if key.startswith(KEY_PREFIX) else None
    return f"{KEY_PREFIX}{owner[1]}_" if owner else None


def change_settings(
    cp: ControlPlane, account_id: str, new: LineSettings, by: str, at_ms: int | None = None
) -> AccountSettings:
    """Set the account's lines and inbound cut-off (account.status, which the engine reads)
    and, when something changed, add an audit event naming `by` (a key prefix, or
    "operator") and each field's old and new value to the account's events."""
    body = account(cp, account_id)
    old = cp.account_settings(account_id)
    settings = AccountSettings(account_id=account_id, **new.model_dump())
    changes = {
        name: {"old": getattr(old, name), "new": getattr(settings, name)}
        for name in LineSettings.model_fields
        if getattr(old, name) != getattr(settings, name)
    }
    cp.set_settings(settings)
    if changes:
        event = {
            "type": SETTINGS_CHANGED,
            "at_ms": at_ms if at_ms is not None else int(time.time() * 1000),
            "by": by,
            "changes": changes,
        }
        body["events"] = [*body.get("events", []), event][-MAX_ACCOUNT_EVENTS:]
        cp.put("account", account_id, account_id, body)
    return settings


def events(cp: ControlPlane, account_id: str) -> list[dict[str, Any]]:
    """The account's events, newest first."""
    return list(reversed(account(cp, account_id).get("events", [])))


# ---- the operator key ---------------------------------------------------------------


def operator_key(path: Path, create: bool = True) -> str | None:
    """Read (or make, mode 0600) the operator key file."""
    if path.exists():
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)
        return path.read_text().strip()
    if not create:
        return None
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = OPERATOR_PREFIX + secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")
    return key


def is_operator(expected: str | None, presented: str) -> bool:
    return bool(expected) and hmac.compare_digest(digest(expected or ""), digest(presented))
