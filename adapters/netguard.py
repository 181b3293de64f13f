"""The private-network guard: buyer endpoints may not reach loopback, private or link-local hosts.

`check_destination` refuses such a URL when a campaign is saved; `GuardedResolver` refuses such
addresses again when a request is sent, so a DNS answer that changes later (rebinding) gains nothing.
"""

from __future__ import annotations

import concurrent.futures
import ipaddress
import socket
from urllib.parse import SplitResult, urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from exchange.errors import field_invalid

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

SCHEMES = frozenset({"http", "https", "ftp", "sftp"})
DEFAULT_PORTS = {"http": 80, "https": 443, "ftp": 21, "sftp": 22}
SAVE_TIME_DNS_TIMEOUT_S = 2.0


class PrivateDestinationError(OSError):
    """A host that is, or resolves only to, an address the guard does not allow."""


def is_private_address(address: IPAddress | str) -> bool:
    """True for any address that is not plainly a public unicast one (or that cannot be read)."""
    if isinstance(address, str):
        try:
            address = ipaddress.ip_address(address)
        except ValueError:
            return True
    if isinstance(address, ipaddress.IPv6Address):
        # ::ffff:10.0.0.1 reaches 10.0.0.1: judge the IPv4 address it carries.
        mapped = address.ipv4_mapped
        if mapped is not None:
            return is_private_address(mapped)
        if address.is_site_local:
            return True
    return (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        # Shared (100.64.0.0/10), benchmarking and other special ranges are not global.
        or not address.is_global
    )


def is_localhost_name(host: str) -> bool:
    """`localhost` and any `*.localhost` name are loopback by definition (RFC 6761)."""
    name = host.rstrip(".").lower()
    return name == "localhost" or name.endswith(".localhost")


def literal_address(host: str) -> IPAddress | None:
    """The address a URL's host names literally (`[::1]` without brackets too), else None."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def check_destination(url: str, *, allow_private: bool, field: str) -> None:
    """Refuse (422) a URL that is malformed or, unless allowed, aims at a private network.

    A hostname that does not resolve now is allowed: the buyer may register it later, and the
    send-time resolver refuses it then if it still does not resolve to a public address.
    """
    parts = _split(url, field)
    host = parts.hostname or ""
    if allow_private:
        return
    if is_localhost_name(host):
        raise _private(field, host, "is a loopback name")
    address = literal_address(host)
    if address is not None:
        if is_private_address(address):
            raise _private(field, host, "is not a public address")
        return
    for resolved in _resolve_at_save_time(host, parts):
        if is_private_address(resolved):
            raise _private(field, host, f"resolves to {resolved}, which is not a public address")


def _split(url: str, field: str) -> SplitResult:
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - a port that is not a number raises here
    except ValueError as exc:
        raise field_invalid(field, "invalid_url", f"not a valid URL: {exc}") from exc
    if parts.scheme.lower() not in SCHEMES:
        raise field_invalid(field, "invalid_url", f"the scheme must be one of {', '.join(sorted(SCHEMES))}")
    if not parts.hostname:
        raise field_invalid(field, "invalid_url", "the URL names no host")
    return parts


def _resolve_at_save_time(host: str, parts: SplitResult) -> list[IPAddress]:
    """Every address the host resolves to now; none when it does not resolve in time."""
    port = parts.port or DEFAULT_PORTS.get(parts.scheme.lower(), 80)
    # getaddrinfo has no timeout of its own: a thread we stop waiting for bounds the wait.
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="netguard")
    try:
        infos = pool.submit(socket.getaddrinfo, host, port, 0, socket.SOCK_STREAM).result(
            timeout=SAVE_TIME_DNS_TIMEOUT_S
        )
    except (OSError, UnicodeError, concurrent.futures.TimeoutError):
        return []
    finally:
        pool.shutdown(wait=False)
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        found = literal_address(str(sockaddr[0]).partition("%")[0])
        if found is not None:
            addresses.append(found)
    return addresses


def _private(field: str, host: str, why: str) -> Exception:
    return field_invalid(
        field,
        "private_destination",
        f"{host} {why}; delivery to loopback, private or link-local addresses is refused",
    )


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver, minus private addresses unless they are allowed.

    aiohttp does not consult a resolver for literal IP hosts: `HttpClient` checks those itself.
    """

    def __init__(self, *, allow_private: bool, inner: AbstractResolver | None = None) -> None:
        self._allow_private = allow_private
        self._inner = inner if inner is not None else DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if not self._allow_private and is_localhost_name(host):
            raise PrivateDestinationError(f"{host} is a loopback name")
        results = await self._inner.resolve(host, port, family)
        if self._allow_private:
            return results
        public = [result for result in results if not is_private_address(result["host"])]
        if not public:
            raise PrivateDestinationError(f"{host} resolves to no public address")
        return public

    async def close(self) -> None:
        await self._inner.close()


async def public_address(
    host: str, port: int, *, allow_private: bool, inner: AbstractResolver | None = None
) -> str:
    """At connect time: the address to connect to for `host`, refusing (PrivateDestinationError)
    a loopback name or a host with no public address. Transports other than aiohttp (FTP, SFTP)
    connect to the address this returns, never to the name, so the name cannot change between
    the check and the connection."""
    address = literal_address(host)
    if address is not None:
        if not allow_private and is_private_address(address):
            raise PrivateDestinationError(f"{host} is not a public address")
        return str(address)
    resolver = GuardedResolver(allow_private=allow_private, inner=inner)
    try:
        results = await resolver.resolve(host, port, socket.AF_UNSPEC)
    finally:
        if inner is None:
            await resolver.close()
    return str(results[0]["host"])
