"""Where a tenant may make the workers connect: its AI provider URL and its tool webhook.

One policy, two checks. `OutboundPolicy.check_url` is the static rule (https, a
host matching `TENANT_ALLOWED_HOSTS`), used when settings are saved and again on
every request; `http` only for a host the operator listed explicitly (the
built-in defaults are https-only). `guarded_client` adds the connect-time rule:
every name, listed or matched by a wildcard, must resolve to public addresses,
and the connection goes to the very address that was checked, so a DNS answer
that changes between the check and the connect (rebinding) gains nothing. Only
an address the operator listed itself (`10.0.0.7:8080`) may be private. A
trailing dot (`api.openai.com.`) is dropped before anything is matched or
resolved.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Literal

import anyio
import httpcore
import httpx

from .network import ProtocolBackend

NOT_ALLOWED = "the AI service address is not allowed"
DEFAULT_ALLOWED_HOSTS = "api.openai.com,*.openai.azure.com,api.anthropic.com,openrouter.ai"
DEFAULT_PORTS = {"https": 443, "http": 80}
HOSTNAME = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*")
NAT64 = ipaddress.ip_network("64:ff9b::/96")  # the IPv4 address is the last 32 bits
NEVER_PUBLIC = (
    ipaddress.ip_network("64:ff9b:1::/48"),  # local-use NAT64: it leads into someone's own network
    ipaddress.ip_network("fec0::/10"),  # site-local, deprecated but still routed inside some networks
)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]
Match = Literal["explicit", "wildcard"]


class AddressNotAllowed(Exception):
    """The policy refuses this address; `str()` is safe to show users, `reason` is for operators."""

    def __init__(self, reason: str, message: str = NOT_ALLOWED) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class HostRule:
    host: str  # lower case, without the `*.` of a wildcard
    port: int | None  # None: the scheme's default port
    wildcard: bool

    def matches(self, host: str, port: int, scheme: str) -> bool:
        if port != (self.port if self.port is not None else DEFAULT_PORTS.get(scheme)):
            return False
        if self.wildcard:
            return host.endswith("." + self.host)
        return host == self.host


def parse_rule(entry: str) -> HostRule:
    """`host`, `host:port`, `*.domain`, `*.domain:port`, `[v6]:port`; ValueError names a bad entry."""
    text = entry.strip().lower()
    wildcard = text.startswith("*.")
    if wildcard:
        text = text[2:]
    try:
        url = httpx.URL(f"//{text}")
    except httpx.InvalidURL:
        raise ValueError(f"{entry!r} is not a host or host:port") from None
    bad_name = not HOSTNAME.fullmatch(url.host) and _ip(url.host) is None
    if not url.host or url.path not in ("", "/") or url.query or url.userinfo or bad_name:
        raise ValueError(f"{entry!r} is not a host or host:port")
    if wildcard and _ip(url.host) is not None:
        raise ValueError(f"{entry!r}: a wildcard needs a domain name, not an address")
    return HostRule(url.host, url.port, wildcard)


def normalise_host(host: str) -> str:
    """The one spelling of a host that is matched, resolved and connected to: lower case, no trailing dot."""
    return host.lower().removesuffix(".")


class OutboundPolicy:
    """`built_in`: the rules are the defaults, not the operator's: https only."""

    def __init__(self, rules: Iterable[HostRule], built_in: bool = False) -> None:
        self.rules = tuple(rules)
        self.built_in = built_in

    @classmethod
    def parse(cls, allowed_hosts: str) -> OutboundPolicy:
        rules = (parse_rule(entry) for entry in allowed_hosts.split(",") if entry.strip())
        return cls(rules, built_in=allowed_hosts == DEFAULT_ALLOWED_HOSTS)

    def match(self, host: str, port: int, scheme: str) -> Match | None:
        """How (host, port) is allowed: listed explicitly, by a wildcard, or not at all."""
        host = normalise_host(host)
        found: Match | None = None
        for rule in self.rules:
            if rule.matches(host, port, scheme):
                if not rule.wildcard:
                    return "explicit"
                found = "wildcard"
        return found

    def check_url(self, url: str | httpx.URL) -> Match:
        """The static rule; raises AddressNotAllowed."""
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError):
            raise AddressNotAllowed("not a URL") from None
        if parsed.scheme not in DEFAULT_PORTS or not parsed.host:
            raise AddressNotAllowed("not an http(s) URL")
        if parsed.userinfo:
            raise AddressNotAllowed("a URL with credentials in it")
        port = parsed.port or DEFAULT_PORTS[parsed.scheme]
        match = self.match(parsed.host, port, parsed.scheme)
        if match is None:
            raise AddressNotAllowed(f"{parsed.host}:{port} is not in TENANT_ALLOWED_HOSTS")
        if parsed.scheme != "https" and (match != "explicit" or self.built_in):
            raise AddressNotAllowed("http is allowed only for hosts the operator listed in TENANT_ALLOWED_HOSTS")
        return match


def _ip(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text.strip("[]").partition("%")[0])
    except ValueError:
        return None


def is_public(address: IPAddress) -> bool:
    """Reachable on the internet: not loopback, private, link-local (metadata), shared, reserved or multicast.

    An IPv6 address that carries an IPv4 one (mapped, translated, compatible, NAT64, 6to4, Teredo) is as public
    as the IPv4 address it leads to.
    """
    if isinstance(address, ipaddress.IPv6Address):
        if any(address in network for network in NEVER_PUBLIC):
            return False
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return is_public(embedded)
    return address.is_global and not address.is_multicast


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    high = int(address) >> 32
    if high in (0, 0xFFFF, 0xFFFF0000) or address in NAT64:  # compatible ::a.b.c.d, mapped, translated, NAT64
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour or (address.teredo or (None, None))[1]


async def resolve(host: str, port: int) -> list[str]:
    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Connects only where the policy allows, to the address it checked."""

    def __init__(self, policy: OutboundPolicy, resolver: Resolver = resolve) -> None:
        self.policy = policy
        self.resolver = resolver
        self.backend = ProtocolBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        options = {"timeout": timeout, "local_address": local_address, "socket_options": socket_options}
        host = normalise_host(host)
        matches = {self.policy.match(host, port, scheme) for scheme in DEFAULT_PORTS}  # the transport checked it
        match: Match | None = "explicit" if "explicit" in matches else "wildcard" if "wildcard" in matches else None
        if match is None:
            raise AddressNotAllowed(f"{host}:{port} is not in TENANT_ALLOWED_HOSTS")
        literal = _ip(host)
        if literal is not None and match == "explicit" and not self.policy.built_in:
            return await self.backend.connect_tcp(str(literal), port, **options)  # the operator listed this address
        if literal is not None:
            addresses = [str(literal)]
        else:
            try:
                addresses = await self.resolver(host, port)
            except OSError as exc:
                raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
            if not addresses:
                raise httpcore.ConnectError(f"cannot resolve {host}")
        for address in addresses:
            ip = _ip(address)
            if ip is None or not is_public(ip):
                raise AddressNotAllowed(f"{host} resolves to {address}, which is not a public address")
        last: Exception | None = None
        for address in addresses:
            try:
                return await self.backend.connect_tcp(address, port, **options)
            except httpcore.ConnectError as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(self, *args: object, **kwargs: object) -> httpcore.AsyncNetworkStream:
        raise AddressNotAllowed("a unix socket")

    async def sleep(self, seconds: float) -> None:
        await self.backend.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport, on a connection pool whose network backend is `GuardedBackend`."""

    def __init__(
        self, policy: OutboundPolicy, limits: httpx.Limits | None = None, resolver: Resolver = resolve
    ) -> None:
        limits = limits or httpx.Limits()
        super().__init__(limits=limits, trust_env=False)
        self.policy = policy
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(policy, resolver),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.policy.check_url(request.url)
        return await super().handle_async_request(request)


def guarded_client(
    policy: OutboundPolicy, limits: httpx.Limits | None = None, resolver: Resolver = resolve
) -> httpx.AsyncClient:
    """A client for tenant-chosen URLs: no proxies from the environment, no redirects followed."""
    return httpx.AsyncClient(
        transport=GuardedTransport(policy, limits, resolver), trust_env=False, follow_redirects=False
    )
