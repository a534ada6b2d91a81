"""Where deliveries may not go, and the resolver that enforces it on the real connection."""

from __future__ import annotations

import ipaddress
import socket

import pytest
from aiohttp.resolver import DefaultResolver

from session_runner.dispatcher.url_safety import (
    RefusedAddressError,
    SafeResolver,
    host_refusal,
    parse_networks,
    refusal,
)

LOCAL = parse_networks("127.0.0.1/32")


@pytest.mark.parametrize(
    ("address", "allowed", "refused_because"),
    [
        ("93.184.215.14", (), None),
        ("2606:4700::6810:84e5", (), None),
        ("127.0.0.1", (), "loopback"),
        ("127.0.0.2", LOCAL, "loopback"),  # only what is allowed
        ("127.0.0.1", LOCAL, None),
        ("::1", (), "loopback"),
        ("10.0.0.7", (), "private"),
        ("172.16.3.4", (), "private"),
        ("192.168.1.1", (), "private"),
        ("169.254.169.254", (), "link-local"),  # AWS, GCP, Azure metadata
        ("fd00:ec2::254", (), "private"),  # AWS metadata over IPv6
        ("100.100.100.200", (), "not a public address"),  # Alibaba metadata (CGNAT range)
        ("0.0.0.0", (), "loopback"),  # connecting to it reaches this host
        ("224.0.0.1", (), "not a public address"),  # multicast
        ("::ffff:127.0.0.1", (), "loopback"),  # IPv4-mapped
        ("::ffff:10.1.2.3", parse_networks("10.0.0.0/8"), None),
    ],
)
def test_refusal(
    address: str, allowed: tuple[ipaddress.IPv4Network, ...], refused_because: str | None
) -> None:
    reason = refusal(ipaddress.ip_address(address), allowed)
    if refused_because is None:
        assert reason is None
    else:
        assert reason is not None
        assert refused_because in reason


def test_a_literal_host_is_checked_a_name_is_left_to_the_resolver() -> None:
    assert host_refusal("127.0.0.1") is not None
    assert host_refusal("[::1]") is not None
    assert host_refusal("hooks.example.com") is None


def test_networks_setting_names_a_bad_entry() -> None:
    assert parse_networks(" 127.0.0.1/32 , 10.0.0.0/8,") == (
        ipaddress.ip_network("127.0.0.1/32"),
        ipaddress.ip_network("10.0.0.0/8"),
    )
    with pytest.raises(ValueError, match="'ten'"):
        parse_networks("10.0.0.0/8, ten")


async def test_the_resolver_refuses_a_name_that_resolves_to_loopback() -> None:
    resolver = SafeResolver()
    try:
        with pytest.raises(RefusedAddressError, match=r"localhost: .*loopback"):
            await resolver.resolve("localhost", 80, socket.AF_INET)
    finally:
        await resolver.close()


async def test_the_resolver_keeps_what_is_allowed() -> None:
    resolver = SafeResolver(LOCAL, DefaultResolver())
    try:
        results = await resolver.resolve("localhost", 80, socket.AF_INET)
    finally:
        await resolver.close()
    assert [r["host"] for r in results] == ["127.0.0.1"]
