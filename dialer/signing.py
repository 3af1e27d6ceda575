"""HMAC-SHA256 signatures of webhook bodies, both ways (calls out, outcomes in), with a timestamp.

Header value: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">` under the shared
secret (the scheme Stripe uses). The timestamp is inside the signed bytes, so a captured
request cannot be replayed once it is older than the tolerance, nor re-dated. Checked in
constant time; during a rotation every accepted secret is tried.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from dialer.exceptions import SecretTooShort

SIGNATURE_HEADER = "X-Campaignflow-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
VERSION = "v1"
MIN_SECRET_BYTES = 32
DEFAULT_TOLERANCE_S = 300
MAX_HEADER_CHARS = 1024  # a header longer than this is not ours


def check_secret(secret: str, name: str) -> None:
    """Raise SecretTooShort, naming the setting, when `secret` has fewer than 32 bytes."""
    size = len(secret.encode("utf-8"))
    if size < MIN_SECRET_BYTES:
        raise SecretTooShort(
            f"{name} has {size} bytes; a webhook secret needs at least {MIN_SECRET_BYTES}"
            " (e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`)"
        )


def _mac(secret: str, timestamp_s: int, body: bytes) -> str:
    signed = str(timestamp_s).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp_s: int) -> str:
    """The signature header value of `body` sent at `timestamp_s` (unix seconds)."""
    return f"t={timestamp_s},{VERSION}={_mac(secret, timestamp_s, body)}"


def parse(header: str | None) -> tuple[int, list[str]] | None:
    """(timestamp, v1 signatures) of a header, or None when it is not of our form."""
    if not header or len(header) > MAX_HEADER_CHARS:
        return None
    timestamp: int | None = None
    sigs: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            return None
        if key == "t":
            if not value.isdigit() or len(value) > 12 or timestamp is not None:
                return None
            timestamp = int(value)
        elif key == VERSION:
            sigs.append(value)
    if timestamp is None or not sigs:
        return None
    return timestamp, sigs


def verify(
    secrets: Sequence[str],
    body: bytes,
    header: str | None,
    now_s: float,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
) -> bool:
    """True when `header` signs `body` under one of `secrets` at a time within `tolerance_s` of now.

    A timestamp too far in the past (a replay) or in the future (a forged clock) is refused
    even with a valid MAC.
    """
    parsed = parse(header)
    if parsed is None:
        return False
    timestamp, sigs = parsed
    if abs(now_s - timestamp) > tolerance_s:
        return False
    ok = False
    for secret in secrets:
        expected = _mac(secret, timestamp, body)
        for sig in sigs:
            ok |= hmac.compare_digest(expected, sig)
    return ok
