"""Every way of writing an IPv4 address in a webhook URL is judged as the address itself.

The resolver reads `127.1`, `2130706433`, `0x7f.0.0.1` and `[::ffff:7f00:1]` as 127.0.0.1:
registration must see through each spelling (connect time sees the address anyway).
"""

from __future__ import annotations

import ipaddress

from hypothesis import given
from hypothesis import strategies as st

from dialer.targets import address_refusal, url_refusal

INSIDE = [
    ipaddress.ip_network(n)
    for n in ("127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16")
]


def spellings(ip: ipaddress.IPv4Address) -> list[str]:
    n = int(ip)
    a, b, c, d = ip.packed
    return [
        str(ip),
        str(n),  # one 32-bit number
        hex(n),
        f"{a}.{(b << 16) | (c << 8) | d}",  # a.b24
        f"{a}.{b}.{(c << 8) | d}",  # a.b.c16
        f"{hex(a)}.{b}.{c}.{d}",
        f"[::ffff:{ip}]",
    ]


addresses = st.integers(0, 2**32 - 1).map(ipaddress.IPv4Address)
inside = st.sampled_from(INSIDE).flatmap(
    lambda net: st.integers(0, net.num_addresses - 1).map(lambda i: net[i])
)


@given(addresses)
def test_each_spelling_is_judged_as_the_address(ip: ipaddress.IPv4Address) -> None:
    want = address_refusal(str(ip), allow_loopback=False) is None
    for host in spellings(ip):
        assert (url_refusal(f"http://{host}:8080/h", allow_loopback=False) is None) is want, host


@given(inside)
def test_no_spelling_of_an_inside_address_is_accepted(ip: ipaddress.IPv4Address) -> None:
    for host in spellings(ip):
        assert url_refusal(f"https://{host}/hook", allow_loopback=False) is not None, host
