"""Which Host header names one of our loopback HTTP servers (DNS rebinding).

The sink's query endpoint, the API's and the worker's /metrics listen on loopback, but
a web page can reach them under a name of the attacker's that resolves to 127.0.0.1.
They answer only a request that names them: a loopback name, or the address they are
bound to, with their port. Here, below every shell, so each of them uses the one rule.
"""

from __future__ import annotations

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
ANY_ADDRESS = ("", "0.0.0.0", "::", "[::]")


def server_names(bind: str) -> tuple[str, ...]:
    """The names a server bound to `bind` answers to: the loopback names and its address."""
    address = bind.strip().lower()
    if address in ANY_ADDRESS or address in LOOPBACK_NAMES:
        return LOOPBACK_NAMES
    if ":" in address and not address.startswith("["):
        address = f"[{address}]"  # an IPv6 address in a Host header is bracketed
    return (*LOOPBACK_NAMES, address)


def host_allowed(host: str | None, port: int, names: tuple[str, ...] = LOOPBACK_NAMES) -> bool:
    """Whether a Host header is one of `names` with the server's port (bare on port 80)."""
    if not host:
        return False
    allowed = {f"{name}:{port}" for name in names}
    if port == 80:
        allowed.update(names)
    return host.strip().lower() in allowed
