"""Webhook signatures: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "{t}.{body}">`.

The scheme the dialer's callbacks move to: the timestamp is inside the signed text, so
a receiver that rejects old timestamps also rejects replays of a captured delivery.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Campaignflow-Signature"
TOLERANCE_S = 300


def sign(secret: str, body: bytes, t: int | None = None) -> str:
    t = int(time.time()) if t is None else t
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify(
    secret: str,
    body: bytes,
    header: str | None,
    now: int | None = None,
    tolerance_s: int = TOLERANCE_S,
) -> bool:
    """True when `header` signs `body` under `secret` within `tolerance_s` of now."""
    if not header:
        return False
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    t, mac = parts.get("t", ""), parts.get("v1", "")
    if not t.isdigit() or not mac:
        return False
    now = int(time.time()) if now is None else now
    if abs(now - int(t)) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, body, int(t)).split(",v1=", 1)[1], mac)
