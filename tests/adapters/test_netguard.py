"""The private-network guard: save-time URL checks and the send-time resolver."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from adapters import netguard
from adapters.netguard import (
    GuardedResolver,
    PrivateDestinationError,
    check_destination,
    is_private_address,
    public_address,
)
from exchange.errors import Invalid

FIELD = "delivery.post.url"


def refused_code(url: str, *, allow_private: bool = False) -> str:
    with pytest.raises(Invalid) as caught:
        check_destination(url, allow_private=allow_private, field=FIELD)
    assert caught.value.status_code == 422
    [error] = caught.value.errors
    assert error.field == FIELD
    return error.code


@pytest.mark.parametrize(
    "url",
    [
        "http://10.1.2.3/leads",
        "https://192.168.0.10:8443/post",
        "http://172.16.5.4/",
        "http://169.254.169.254/latest/meta-data",
        "http://127.0.0.1:8080/",
        "http://[::1]/",
        "http://[fe80::1]/",
        "http://[fd00::5]/",
        "http://[::ffff:10.0.0.1]/",
        "http://0.0.0.0/",
        "http://100.64.0.1/",
        "http://224.0.0.1/",
        "http://localhost/",
        "http://LOCALHOST.:9000/",
        "http://buyer.localhost/",
        "http://2130706433/",
        "http://0x7f000001/",
        "http://127.1/",
        "ftp://user:pass@10.0.0.9/drop",
    ],
)
def test_private_destinations_are_refused(url: str) -> None:
    assert refused_code(url) == "private_destination"


@pytest.mark.parametrize(
    "url", ["http://10.1.2.3/leads", "http://[::1]:9000/", "http://localhost:8000/", "http://127.0.0.1/"]
)
def test_private_destinations_are_allowed_when_the_setting_allows(url: str) -> None:
    check_destination(url, allow_private=True, field=FIELD)


@pytest.mark.parametrize(
    "url", ["http://93.184.216.34/leads", "https://[2606:2800:220:1:248:1893:25c8:1946]/", "ftp://8.8.8.8/"]
)
def test_public_address_literals_are_allowed(url: str) -> None:
    check_destination(url, allow_private=False, field=FIELD)


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "gopher://93.184.216.34/",
        "93.184.216.34/leads",
        "http:///path",
        "http://[::1/",
        "http://93.184.216.34:port/",
    ],
)
def test_malformed_urls_are_refused_even_when_private_is_allowed(url: str) -> None:
    assert refused_code(url, allow_private=True) == "invalid_url"


def fake_getaddrinfo(answers: dict[str, list[str]]) -> Any:
    def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in answers[host]
        ]

    return getaddrinfo


def test_a_hostname_resolving_to_a_private_address_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = {"internal.buyer.example": ["93.184.216.34", "10.0.0.7"], "crm.buyer.example": ["8.8.4.4"]}
    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo(answers))
    assert refused_code("https://internal.buyer.example/post") == "private_destination"
    check_destination("https://crm.buyer.example/post", allow_private=False, field=FIELD)


def test_an_unresolvable_hostname_is_allowed_at_save_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo({}))
    check_destination("https://not-yet-registered.example/post", allow_private=False, field=FIELD)


def test_a_slow_resolver_does_not_hold_the_save(monkeypatch: pytest.MonkeyPatch) -> None:
    def slow_getaddrinfo(*args: Any, **kwargs: Any) -> list[Any]:
        time.sleep(2)
        return []

    monkeypatch.setattr(socket, "getaddrinfo", slow_getaddrinfo)
    monkeypatch.setattr(netguard, "SAVE_TIME_DNS_TIMEOUT_S", 0.2)
    started = time.perf_counter()
    check_destination("https://slow-dns.example/post", allow_private=False, field=FIELD)
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize(
    ("address", "private"),
    [
        ("10.0.0.1", True),
        ("127.0.0.53", True),
        ("169.254.1.1", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("fec0::1", True),
        ("240.0.0.1", True),
        ("not an ip", True),
        ("93.184.216.34", False),
        ("8.8.8.8", False),
        ("2606:4700:4700::1111", False),
    ],
)
def test_is_private_address(address: str, private: bool) -> None:
    assert is_private_address(address) is private


class FixedResolver(AbstractResolver):
    """Answers every name with the same addresses, as a rebinding DNS server would."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = addresses
        self.asked: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.asked.append(host)
        return [
            ResolveResult(hostname=host, host=address, port=port, family=family, proto=0, flags=0)
            for address in self.addresses
        ]

    async def close(self) -> None:
        pass


async def test_guard_drops_private_addresses_and_keeps_public_ones() -> None:
    guard = GuardedResolver(allow_private=False, inner=FixedResolver("10.0.0.1", "93.184.216.34", "::1"))
    results = await guard.resolve("buyer.example", 443)
    assert [result["host"] for result in results] == ["93.184.216.34"]


async def test_guard_refuses_a_name_left_with_no_public_address() -> None:
    guard = GuardedResolver(allow_private=False, inner=FixedResolver("127.0.0.1", "192.168.1.1"))
    with pytest.raises(PrivateDestinationError, match=r"rebound\.example"):
        await guard.resolve("rebound.example", 80)


async def test_guard_refuses_localhost_names_without_asking_dns() -> None:
    inner = FixedResolver("93.184.216.34")
    guard = GuardedResolver(allow_private=False, inner=inner)
    with pytest.raises(PrivateDestinationError):
        await guard.resolve("app.localhost", 80)
    assert inner.asked == []


async def test_guard_lets_everything_through_when_private_is_allowed() -> None:
    guard = GuardedResolver(allow_private=True, inner=FixedResolver("127.0.0.1"))
    assert [result["host"] for result in await guard.resolve("localhost", 80)] == ["127.0.0.1"]


async def test_guard_around_the_default_resolver_refuses_loopback() -> None:
    guard = GuardedResolver(allow_private=False)
    try:
        with pytest.raises(PrivateDestinationError):
            await guard.resolve("localhost", 80)
    finally:
        await guard.close()


@pytest.mark.parametrize("host", ["127.0.0.1", "10.0.0.1", "169.254.169.254", "::1", "[::1]", "localhost"])
async def test_the_connect_time_address_refuses_private_hosts(host: str) -> None:
    with pytest.raises(PrivateDestinationError):
        await public_address(host, 21, allow_private=False, inner=FixedResolver("93.184.216.34"))


async def test_the_connect_time_address_is_the_resolved_one_not_the_name() -> None:
    public = await public_address(
        "files.example", 21, allow_private=False, inner=FixedResolver("93.184.216.34")
    )
    assert public == "93.184.216.34"
    # The same name, resolving to loopback by the time the exchange connects: refused.
    with pytest.raises(PrivateDestinationError, match=r"files\.example"):
        await public_address("files.example", 21, allow_private=False, inner=FixedResolver("127.0.0.1"))
    allowed = await public_address("files.example", 21, allow_private=True, inner=FixedResolver("127.0.0.1"))
    assert allowed == "127.0.0.1"
