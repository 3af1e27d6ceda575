"""HMAC-SHA256 signatures of webhook bodies, both ways (calls out, outcomes in).

Header value: `sha256=<hex digest of the raw body>` under the shared secret; checked in
constant time. The body carries the call id and times, so a signed body names what it is.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Campaignflow-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
PREFIX = "sha256="


def sign(secret: str, body: bytes) -> str:
    """The signature header value of `body`."""
    return PREFIX + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str | None) -> bool:
    """True when `header` is the signature of `body` under `secret`."""
    if not header or not header.startswith(PREFIX):
        return False
    return hmac.compare_digest(sign(secret, body), header)
