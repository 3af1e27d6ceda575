"""HMAC-SHA256 signatures of webhook bodies, both ways (calls out, outcomes in), with a timestamp.

Header value: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">` under the shared
secret (the scheme Stripe uses). The timestamp is inside the signed bytes, so a captured
request cannot be replayed once it is older than the tolerance, nor re-dated. Checked in
constant time; during a rotation every accepted secret is tried.

Within the tolerance a captured request would still verify: a receiver keeps what it
accepted (`Seen`, keyed by the hash of the signed bytes `<t>.<body>`, whatever secret or
extra signatures the header carries) until it is older than the tolerance, and refuses
the same request a second time.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
from collections.abc import Sequence
from dataclasses import dataclass

from dialer.exceptions import SecretTooShort

SIGNATURE_HEADER = "X-Campaignflow-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
VERSION = "v1"
MIN_SECRET_BYTES = 32
DEFAULT_TOLERANCE_S = 300
MAX_HEADER_CHARS = 1024  # a header longer than this is not ours
# Signed requests remembered within the tolerance: 200,000 at ~150 bytes each is ~30 MB,
# 660 callbacks a second for 300 s. Past it a new one is refused (retry later), never forgotten early.
MAX_SEEN = 200_000


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


@dataclass(frozen=True)
class Signed:
    """A request whose signature verified: when it was signed and what identifies it."""

    timestamp_s: int
    digest: bytes  # SHA-256 of the signed bytes: the same request sent again has the same


def verified(
    secrets: Sequence[str],
    body: bytes,
    header: str | None,
    now_s: float,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
) -> Signed | None:
    """The request, when `header` signs `body` under one of `secrets` at a time within
    `tolerance_s` of now; else None.

    A timestamp too far in the past (a replay) or in the future (a forged clock) is refused
    even with a valid MAC.
    """
    parsed = parse(header)
    if parsed is None:
        return None
    timestamp, sigs = parsed
    if abs(now_s - timestamp) > tolerance_s:
        return None
    ok = False
    for secret in secrets:
        expected = _mac(secret, timestamp, body)
        for sig in sigs:
            ok |= hmac.compare_digest(expected, sig)
    if not ok:
        return None
    signed = str(timestamp).encode("ascii") + b"." + body
    return Signed(timestamp, hashlib.sha256(signed).digest())


def verify(
    secrets: Sequence[str],
    body: bytes,
    header: str | None,
    now_s: float,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
) -> bool:
    """True when `header` signs `body` (see `verified`)."""
    return verified(secrets, body, header, now_s, tolerance_s) is not None


class Seen:
    """Signed requests accepted within the tolerance, so none is accepted twice.

    A request is forgotten once its timestamp is past the tolerance: from then on
    `verified` refuses it anyway. At most `max_entries` are kept; when that many are
    still within the tolerance, `full` is true and the receiver asks for a retry rather
    than forget one early (which would reopen its replay).
    """

    def __init__(self, tolerance_s: float, max_entries: int = MAX_SEEN) -> None:
        self.tolerance_s = tolerance_s
        self.max_entries = max_entries
        self._expiry: list[tuple[float, bytes]] = []  # heap of (forget after, digest)
        self._digests: set[bytes] = set()

    def __len__(self) -> int:
        return len(self._digests)

    def _forget_expired(self, now_s: float) -> None:
        while self._expiry and self._expiry[0][0] < now_s:
            _, digest = heapq.heappop(self._expiry)
            self._digests.discard(digest)

    def seen(self, request: Signed, now_s: float) -> bool:
        self._forget_expired(now_s)
        return request.digest in self._digests

    def full(self, now_s: float) -> bool:
        self._forget_expired(now_s)
        return len(self._digests) >= self.max_entries

    def remember(self, request: Signed) -> None:
        if request.digest not in self._digests:
            self._digests.add(request.digest)
            heapq.heappush(self._expiry, (request.timestamp_s + self.tolerance_s, request.digest))
