"""Where an account's webhook or pre-dial check may go: public (global unicast) addresses.

An endpoint is the account's choice, so it must not reach the platform's own network:
loopback (the API, the sink, the broker), private, link-local (169.254.169.254 is the
cloud metadata service), shared, reserved, unspecified and multicast addresses are
refused. The real check is at connect time, on the very address a socket is about to
connect to (`socket_factory` of the dispatcher's connector): after DNS, so a name that
resolves, or re-resolves (rebinding), to an inside address is refused too, whatever
was checked at registration. Registration refuses plainly internal URLs early, with a
422 naming the field. Tests and a local development stack set
`CAMPAIGNFLOW_API_WEBHOOK_ALLOW_LOOPBACK` to reach receivers on 127.0.0.1 / ::1. The
dialer's pre-dial checks (`dialer.predial`) go through the same socket factory; loopback
stays open to them, as SPEC's `predial.url` allows (a checker beside the dialer).
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from dialer.exceptions import TargetRefused

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
LOOPBACK_NAMES = ("localhost", "localhost.")


def _kind(ip: IpAddress) -> str:
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_unspecified:
        return "the unspecified address"
    if ip.is_private:
        return "a private address"
    return "not a public address"


def address_refusal(address: str, allow_loopback: bool) -> str | None:
    """Why a request may not connect to `address` (an IP literal), or None when it may."""
    try:
        ip: IpAddress = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone
    except ValueError:
        return f"{address!r} is not an IP address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if allow_loopback and ip.is_loopback:
        return None
    if ip.is_global and not ip.is_multicast:
        return None
    return f"{ip} is {_kind(ip)}: webhooks and pre-dial checks go to public addresses only"


def _literal(host: str) -> IpAddress | None:
    """The address a host names without DNS: an IP literal, also the legacy IPv4 forms
    (`127.1`, `2130706433`, `0x7f.0.0.1`) that the resolver reads as addresses."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def url_refusal(url: str, allow_loopback: bool) -> str | None:
    """Why a registered URL plainly points inside (an internal literal address or
    `localhost`), or None. Names are resolved only at connect time (see module doc)."""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return "the URL cannot be parsed"
    if not host:
        return "the URL has no host"
    if host in LOOPBACK_NAMES or host.rstrip(".").endswith(".localhost"):
        return None if allow_loopback else f"{host} is a loopback name: use a public address"
    ip = _literal(host)
    return None if ip is None else address_refusal(str(ip), allow_loopback)


def guarded_socket_factory(allow_loopback: bool) -> Callable[[Any], socket.socket]:
    """A `socket_factory` for aiohttp's TCPConnector that refuses non-public addresses.

    aiohttp calls it with the addrinfo it is about to connect to (after its resolver, for
    IP literals too), so no request reaches an inside address; TargetRefused carries the
    reason, with errno EACCES so the webhook dispatcher does not retry it.
    """

    def factory(addr_info: Any) -> socket.socket:
        family, type_, proto, _, sockaddr = addr_info
        reason = address_refusal(str(sockaddr[0]), allow_loopback)
        if reason is not None:
            raise TargetRefused(errno.EACCES, reason)
        return socket.socket(family, type_, proto)

    return factory
