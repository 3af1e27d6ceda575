"""Avro's primitive encodings, for the two places that assemble Avro bytes themselves.

The ingest workers encode contact rows in parallel and join them into one batch;
the sink wraps raw message bodies in an object container for ClickHouse. Both need
the zigzag varint of a long and a length-prefixed byte string, and nothing more.
"""

from __future__ import annotations

_SMALL = [bytes([n << 1]) for n in range(64)]


def long_bytes(n: int) -> bytes:
    """Zigzag varint of an Avro int/long."""
    if 0 <= n < 64:
        return _SMALL[n]
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while z > 0x7F:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


def bytes_field(data: bytes) -> bytes:
    """Avro bytes (or UTF-8 string): length, then the data."""
    return long_bytes(len(data)) + data
