"""Where deliveries may go: public addresses only, unless a setting allows more.

A subscription's URL is written by whoever may create WebhookSubscriptions in
a namespace. Without this check, that is a way to make the dispatcher POST
into the cluster (the API server, a database's HTTP port) or to the cloud's
metadata service (169.254.169.254, fd00:ec2::254), which hands out
credentials. So an address that is not globally routable (loopback, private,
link-local, carrier-grade NAT, multicast, reserved, IPv4-mapped forms of any
of those) is refused unless it falls in a network the dispatcher's settings
allow (`WAFLEET_DISPATCHER_ALLOWED_NETWORKS`; the tests allow 127.0.0.1/32).

The check is made on the addresses the connection will use, not on an
earlier lookup of the name: `SafeResolver` is the HTTP client's resolver,
so a name that resolves to a public address for the check and to a private
one for the connection (DNS rebinding) cannot slip through. A URL whose host
is an IP literal is checked before the request (the client resolves none).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class RefusedAddressError(OSError):
    """Every address of the subscriber's host is one deliveries may not go to."""


def parse_networks(text: str) -> tuple[Network, ...]:
    """`"127.0.0.1/32, 10.0.0.0/8"` → networks; raises ValueError naming the bad entry."""
    networks: list[Network] = []
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"not an IP network: {entry!r}") from None
    return tuple(networks)


def refusal(address: Address, allowed: Sequence[Network] = ()) -> str | None:
    """Why deliveries may not go to `address` (None: they may). Pure."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address in network for network in allowed if network.version == address.version):
        return None
    if address.is_global and not address.is_multicast:
        return None
    if address.is_loopback or address.is_unspecified:  # a connection to 0.0.0.0 reaches this host
        return f"{address} is a loopback address"
    if address.is_link_local:
        return f"{address} is link-local (cloud metadata services live there)"
    if address.is_private:
        return f"{address} is a private address"
    return f"{address} is not a public address"


def host_refusal(host: str, allowed: Sequence[Network] = ()) -> str | None:
    """For a URL host that is an IP literal: `refusal`; for a name: None (the resolver checks)."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
    return refusal(address, allowed)


class SafeResolver(AbstractResolver):
    """aiohttp's resolver, keeping only the addresses deliveries may go to."""

    def __init__(self, allowed: Sequence[Network] = (), inner: AbstractResolver | None = None):
        self.allowed = tuple(allowed)
        self._inner = inner or DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        kept: list[ResolveResult] = []
        reasons: list[str] = []
        for result in results:
            reason = refusal(ipaddress.ip_address(result["host"]), self.allowed)
            if reason is None:
                kept.append(result)
            else:
                reasons.append(reason)
        if not kept:
            raise RefusedAddressError(f"{host}: {'; '.join(reasons) or 'no address'}")
        return kept

    async def close(self) -> None:
        await self._inner.close()

    def __repr__(self) -> str:
        return f"SafeResolver(allowed={[str(n) for n in self.allowed]!r})"
