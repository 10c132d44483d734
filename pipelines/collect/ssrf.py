"""The SSRF guard: a feed may not make newswatch talk to private networks unless allowed.

A feed URL, and every redirect hop, is resolved here; if any address is
loopback, private, link-local, CGNAT, multicast, reserved or unspecified, the
fetch is refused. The fetcher then connects to the address validated here (not
to a second DNS answer), which closes the DNS-rebinding gap.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

CGNAT = ipaddress.ip_network("100.64.0.0/10")


class BlockedAddress(Exception):
    """The URL resolves to an address the feed is not allowed to reach."""


NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated ::a.b.c.d


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form carries and routes to: v4-mapped, 6to4, Teredo's
    client, NAT64, v4-compatible. 2002:7f00:1:: is 127.0.0.1 behind a 6to4 relay."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if any(ip in net for net in NAT64) or (ip in IPV4_COMPATIBLE and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def why_blocked(address: str) -> str | None:
    """The reason an address is off limits for an ordinary feed, or None when it is public."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.is_site_local:
            return "site-local"
        inner = embedded_ipv4(ip)
        if inner is not None:
            return why_blocked(str(inner))
    checks = [
        (ip.is_unspecified, "unspecified"),
        (ip.is_loopback, "loopback"),
        (ip.is_link_local, "link-local"),
        (ip in CGNAT if ip.version == 4 else False, "CGNAT (shared) address space"),
        (ip.is_private, "private"),
        (ip.is_multicast, "multicast"),
        (ip.is_reserved, "reserved"),
        (not ip.is_global, "not globally routable"),
    ]
    for hit, reason in checks:
        if hit:
            return reason
    return None


async def resolve(host: str, port: int) -> list[str]:
    """All addresses of host (literal IPs pass through)."""
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


async def pick_address(host: str, port: int, allow_private: bool) -> str:
    """The address to connect to; raises BlockedAddress for a non-public one when not allowed.

    Every address of the name is checked, not only the first: a name that mixes a
    public and a private address is refused as a whole.
    """
    addresses = await resolve(host, port)
    if not allow_private:
        for address in addresses:
            reason = why_blocked(address)
            if reason:
                raise BlockedAddress(
                    f"{host} resolves to {address}, a {reason} address; refused "
                    "(set allow_private: true on this feed if that is intended)"
                )
    return addresses[0]
