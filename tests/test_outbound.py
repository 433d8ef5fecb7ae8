"""The outbound-address guard: what a tenant may make the workers connect to."""

from __future__ import annotations

import ipaddress

import httpx
import pytest

from relay.settings import Settings
from schema.outbound import (
    DEFAULT_ALLOWED_HOSTS,
    NOT_ALLOWED,
    AddressNotAllowed,
    OutboundPolicy,
    guarded_client,
    is_public,
    parse_rule,
)

from .listener import SECRET_BODY, Listener


def resolving_to(*addresses: str):
    """The DNS answer an attacker controls (their own name server): the test plays it."""

    async def resolve(host: str, port: int) -> list[str]:
        return list(addresses)

    return resolve


async def refused(client: httpx.AsyncClient, url: str) -> AddressNotAllowed:
    with pytest.raises(AddressNotAllowed) as caught:
        await client.post(url, json={"api_key": "sk-tenant"})
    assert str(caught.value) == NOT_ALLOWED
    return caught.value


async def test_a_host_not_in_the_list_is_refused_before_connecting() -> None:
    async with Listener() as listener, guarded_client(OutboundPolicy.parse("api.openai.com")) as client:
        await refused(client, f"https://127.0.0.1:{listener.port}/v1")
        await refused(client, f"http://localhost:{listener.port}/v1")
    assert listener.connections == 0


async def test_a_wildcard_host_resolving_to_loopback_is_refused_at_connect_time() -> None:
    async with Listener() as listener:
        policy = OutboundPolicy.parse(f"*.tenant.example:{listener.port}")
        async with guarded_client(policy, resolver=resolving_to("127.0.0.1")) as client:
            error = await refused(client, f"https://api.tenant.example:{listener.port}/v1")
        assert "127.0.0.1" in error.reason
    assert listener.connections == 0


@pytest.mark.parametrize(
    "addresses",
    [
        ("169.254.169.254",),  # cloud metadata
        ("10.0.0.5",),
        ("100.100.100.200",),  # shared address space (a metadata service lives there too)
        ("::ffff:127.0.0.1",),
        ("fd00:ec2::254",),
        ("93.184.215.14", "192.168.1.1"),  # one private answer among public ones is enough to refuse
    ],
)
async def test_a_wildcard_host_resolving_to_any_internal_address_is_refused(addresses: tuple[str, ...]) -> None:
    async with Listener() as listener:
        policy = OutboundPolicy.parse(f"*.tenant.example:{listener.port}")
        async with guarded_client(policy, resolver=resolving_to(*addresses)) as client:
            await refused(client, f"https://api.tenant.example:{listener.port}/v1")
    assert listener.connections == 0


async def test_http_is_refused_for_a_host_allowed_by_a_wildcard() -> None:
    async with Listener() as listener:
        policy = OutboundPolicy.parse(f"*.tenant.example:{listener.port}")
        async with guarded_client(policy, resolver=resolving_to("93.184.215.14")) as client:
            await refused(client, f"http://api.tenant.example:{listener.port}/v1")
    assert listener.connections == 0


async def test_a_host_listed_explicitly_may_use_http_and_a_loopback_address() -> None:
    async with Listener() as listener, guarded_client(OutboundPolicy.parse(f"127.0.0.1:{listener.port}")) as client:
        response = await client.post(f"http://127.0.0.1:{listener.port}/v1", json={})
    assert response.content == SECRET_BODY
    assert listener.connections == 1


async def test_a_listed_host_without_a_port_allows_only_the_default_port() -> None:
    async with Listener() as listener, guarded_client(OutboundPolicy.parse("127.0.0.1")) as client:
        await refused(client, f"http://127.0.0.1:{listener.port}/v1")
    assert listener.connections == 0


async def test_credentials_in_the_url_and_other_schemes_are_refused() -> None:
    policy = OutboundPolicy.parse("api.openai.com")
    for url in ("https://user:pw@api.openai.com/v1", "ftp://api.openai.com/", "api.openai.com", "https:///x"):
        with pytest.raises(AddressNotAllowed):
            policy.check_url(url)
    assert policy.check_url("https://API.openai.com/v1") == "explicit"


def test_wildcards_match_subdomains_only() -> None:
    policy = OutboundPolicy.parse("*.openai.azure.com,api.anthropic.com:8443")
    assert policy.check_url("https://acme.openai.azure.com/openai") == "wildcard"
    assert policy.check_url("https://a.b.openai.azure.com/") == "wildcard"
    assert policy.check_url("https://api.anthropic.com:8443/") == "explicit"
    for url in ("https://openai.azure.com/", "https://evil-openai.azure.com.attacker.io/", "https://api.anthropic.com/"):
        with pytest.raises(AddressNotAllowed):
            policy.check_url(url)


@pytest.mark.parametrize("entry", ["*.10.0.0.1", "host/path", "user@host", "a b", "*.*.x"])
def test_a_malformed_allowed_host_is_refused(entry: str) -> None:
    with pytest.raises(ValueError, match=r"not a host|wildcard"):
        parse_rule(entry)


@pytest.mark.parametrize(
    "address, public",
    [
        ("8.8.8.8", True), ("2606:4700::1111", True), ("127.0.0.1", False), ("0.0.0.0", False),
        ("169.254.169.254", False), ("172.16.0.1", False), ("::1", False), ("fe80::1", False),
        ("64:ff9b::a9fe:a9fe", False), ("2002:7f00:1::", False), ("224.0.0.1", False), ("::ffff:8.8.8.8", True),
        ("::127.0.0.1", False), ("::ffff:0:127.0.0.1", False), ("::ffff:0:a9fe:a9fe", False), ("::10.0.0.1", False),
        ("64:ff9b:1::808:808", False), ("64:ff9b:1:ffff::1", False), ("fec0::1", False), ("feff::1", False),
        ("64:ff9b::808:808", True),
    ],
)  # fmt: skip
def test_which_addresses_are_public(address: str, public: bool) -> None:
    assert is_public(ipaddress.ip_address(address)) is public


def test_the_built_in_hosts_are_https_only() -> None:
    """`http://api.openai.com` would send the tenant's key and the conversation in plaintext."""
    for policy in (OutboundPolicy.parse(DEFAULT_ALLOWED_HOSTS), Settings().outbound_policy):
        assert policy.check_url("https://api.openai.com/v1") == "explicit"
        for url in ("http://api.openai.com/v1", "http://api.anthropic.com/", "http://acme.openai.azure.com/"):
            with pytest.raises(AddressNotAllowed, match=NOT_ALLOWED):
                policy.check_url(url)
    assert OutboundPolicy.parse("api.openai.com").check_url("http://api.openai.com/v1") == "explicit"


async def test_a_name_listed_explicitly_is_checked_on_its_resolved_address() -> None:
    """Only an address the operator listed itself may be private; a listed name is resolved and checked."""
    async with Listener() as listener:
        for hosts in (f"internal.example:{listener.port}", f"api.openai.com:{listener.port}"):
            policy = OutboundPolicy.parse(hosts)
            async with guarded_client(policy, resolver=resolving_to("127.0.0.1")) as client:
                error = await refused(client, f"http://{hosts.partition(':')[0]}:{listener.port}/v1")
            assert "127.0.0.1" in error.reason
    assert listener.connections == 0


async def test_a_built_in_host_is_checked_at_connect_time() -> None:
    policy = OutboundPolicy.parse(DEFAULT_ALLOWED_HOSTS)
    async with guarded_client(policy, resolver=resolving_to("10.0.0.5")) as client:
        await refused(client, "https://api.openai.com/v1")


async def test_a_trailing_dot_is_dropped_before_matching_and_never_resolved_as_another_name() -> None:
    asked: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        return ["127.0.0.1"]

    async with Listener() as listener:
        wildcard = OutboundPolicy.parse(f"*.tenant.example:{listener.port}")
        async with guarded_client(wildcard, resolver=resolve) as client:
            await refused(client, f"https://API.tenant.example.:{listener.port}/v1")
        assert asked == ["api.tenant.example"]
        listed = OutboundPolicy.parse(f"127.0.0.1:{listener.port}")
        async with guarded_client(listed, resolver=resolve) as client:
            response = await client.post(f"http://127.0.0.1.:{listener.port}/v1", json={})
        assert response.content == SECRET_BODY, "the address the operator listed, with a dot, is that address"
        assert asked == ["api.tenant.example"], "an address is never sent to a resolver"
