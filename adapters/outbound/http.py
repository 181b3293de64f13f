"""The `http` delivery adapter: a ping or post in JSON, form or XML over one pooled aiohttp client.

Each send has a hard total timeout and reports network trouble as a value, never an exception;
retrying is the distribution engine's decision, not the adapter's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import aiohttp
import msgspec
from aiohttp.abc import AbstractResolver

from adapters.netguard import (
    GuardedResolver,
    PrivateDestinationError,
    check_destination,
    is_private_address,
    literal_address,
)
from adapters.outbound.bodies import (
    CONTENT_TYPES,
    BodyFormat,
    build_body,
    check_mapping,
    literal_secrets,
    mask,
)
from adapters.outbound.protocol import Delivery, Request, Stage
from exchange.errors import field_invalid
from exchange.types import PERSONAL_FIELDS

__all__ = [
    "HttpAdapter",
    "HttpClient",
    "HttpConfig",
    "HttpExchange",
    "HttpTarget",
    "build_body",
    "check_mapping",
    "literal_secrets",
    "mask",
]

MAX_ANSWER_BYTES = 1024 * 1024
USER_AGENT = "lead-exchange/0.1"
_READ_CHUNK = 64 * 1024
_HEADER_NAME_CHARS = frozenset(
    "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)


class HttpExchange(msgspec.Struct, frozen=True, kw_only=True):
    """One request and its answer, or why there is none."""

    status: int | None
    body: bytes
    content_type: str | None
    latency_ms: float
    error: str | None  # "timeout", "connection refused: host:port", …; None when an answer came


class HttpTarget(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One HTTP step of a campaign's delivery (`delivery.ping` or `delivery.post`): where and how,
    and the buyer's answer rule, which the engine reads (buyers.responses), not the adapter."""

    url: str
    format: BodyFormat = "json"
    method: Literal["POST", "PUT", "GET"] = "POST"
    timeout_ms: Annotated[int, msgspec.Meta(ge=10, le=60_000)] = 5000
    # Buyer's field name → a canonical field name, or "=literal".
    mapping: dict[str, str] | None = None
    headers: dict[str, str] = msgspec.field(default_factory=dict)
    response: dict[str, Any] | None = None


class HttpConfig(msgspec.Struct, frozen=True, kw_only=True):
    post: HttpTarget
    ping: HttpTarget | None = None


class HttpClient:
    """One pooled `aiohttp.ClientSession` for every buyer, made on first use inside the loop."""

    def __init__(
        self,
        *,
        allow_private: bool,
        limit: int = 2048,
        limit_per_host: int = 128,
        ttl_dns_cache: int = 60,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
        inner_resolver: AbstractResolver | None = None,
    ) -> None:
        """`inner_resolver` replaces aiohttp's default one under the guard (tests, custom DNS)."""
        self.allow_private = allow_private
        self._inner_resolver = inner_resolver
        self._limit = limit
        self._limit_per_host = limit_per_host
        self._ttl_dns_cache = ttl_dns_cache
        self._max_answer_bytes = max_answer_bytes
        self._session: aiohttp.ClientSession | None = None
        self._resolver: GuardedResolver | None = None

    def _session_in_loop(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._resolver = GuardedResolver(allow_private=self.allow_private, inner=self._inner_resolver)
            connector = aiohttp.TCPConnector(
                limit=self._limit,
                limit_per_host=self._limit_per_host,
                ttl_dns_cache=self._ttl_dns_cache,
                resolver=self._resolver,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                # One session serves every buyer: none may see another's cookies.
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=False,
                headers={"User-Agent": USER_AGENT},
                # No timer of aiohttp's own: `send` bounds each request, connecting included.
                timeout=aiohttp.ClientTimeout(),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._resolver is not None:
            await self._resolver.close()
            self._resolver = None

    async def send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        content_type: str | None,
        timeout_ms: int,
    ) -> HttpExchange:
        """Send once, within `timeout_ms` all told; a network problem comes back as `error`.

        Redirects are not followed: a buyer's answer is the answer, and a redirect could point
        the exchange at a private address the guard never saw. A GET carries a form as its query.
        """
        started = time.perf_counter()

        def exchange(
            status: int | None = None,
            answer: bytes = b"",
            answer_type: str | None = None,
            error: str | None = None,
        ) -> HttpExchange:
            latency_ms = (time.perf_counter() - started) * 1000
            return HttpExchange(
                status=status, body=answer, content_type=answer_type, latency_ms=latency_ms, error=error
            )

        refusal = self._literal_refusal(url)
        if refusal is not None:
            return exchange(error=refusal)
        request_headers = dict(headers)
        if content_type and not any(name.lower() == "content-type" for name in headers):
            request_headers["Content-Type"] = content_type
        params: str | None = None
        if method.upper() == "GET" and content_type == CONTENT_TYPES["form"]:
            params, body = body.decode("ascii"), b""
            request_headers.pop("Content-Type", None)
        seconds = timeout_ms / 1000
        try:
            async with asyncio.timeout(seconds):
                session = self._session_in_loop()
                async with session.request(
                    method,
                    url,
                    params=params or None,
                    data=body or None,
                    headers=request_headers,
                    allow_redirects=False,
                ) as response:
                    answer, over = await _read_capped(response.content, self._max_answer_bytes)
                    error = f"answer over {self._max_answer_bytes} bytes" if over else None
                    return exchange(response.status, answer, response.headers.get("Content-Type"), error)
        except TimeoutError:
            return exchange(error="timeout")
        except aiohttp.ClientError as exc:
            return exchange(error=_describe(exc))
        except OSError as exc:
            return exchange(error=f"network error: {exc.strerror or exc}")
        except ValueError as exc:  # a header value with a line break, an unusable URL
            return exchange(error=f"invalid request: {exc}")

    def _literal_refusal(self, url: str) -> str | None:
        """aiohttp skips the resolver for an IP literal: the guard looks at it here."""
        if self.allow_private:
            return None
        try:
            host = urlsplit(url).hostname or ""
        except ValueError:
            return None  # aiohttp reports the bad URL
        address = literal_address(host)
        if address is not None and is_private_address(address):
            return f"private destination: {host} is not a public address"
        return None


class HttpAdapter:
    """Delivery over HTTP: `delivery = {"adapter": "http", "ping": {...}?, "post": {...}}`."""

    name = "http"
    can_ping = True
    answers = True

    def __init__(self, client: HttpClient) -> None:
        self.client = client

    def configure(self, delivery: Mapping[str, Any], *, allow_private: bool, field: str) -> HttpConfig:
        unknown = set(delivery) - {"adapter", "ping", "post"}
        if unknown:
            raise field_invalid(
                f"{field}.{sorted(unknown)[0]}", "unknown_field", "not a key of an http delivery"
            )
        if "post" not in delivery:
            raise field_invalid(f"{field}.post", "required", "an http delivery posts the lead somewhere")
        steps: dict[str, HttpTarget] = {}
        for stage in ("ping", "post"):
            if stage not in delivery:
                continue
            where = f"{field}.{stage}"
            target = steps[stage] = _target(delivery[stage], where)
            if urlsplit(target.url.strip()).scheme.lower() not in ("http", "https"):
                raise field_invalid(f"{where}.url", "invalid_url", "an http delivery needs an http(s) URL")
            check_destination(target.url, allow_private=allow_private, field=f"{where}.url")
            check_mapping(
                target.mapping,
                personal_allowed=stage == "post",
                field=f"{where}.mapping",
                format=target.format,
            )
            for name, value in target.headers.items():
                if not name or not set(name) <= _HEADER_NAME_CHARS:
                    raise field_invalid(
                        f"{where}.headers", "invalid_header", f"{name!r} is not a header name"
                    )
                if "\r" in value or "\n" in value:
                    raise field_invalid(f"{where}.headers.{name}", "invalid_header", "a line break")
        return HttpConfig(**steps)

    def request(
        self,
        config: HttpConfig,
        stage: Stage,
        fields: Mapping[str, Any],
        *,
        shared: dict[Any, Any] | None = None,
    ) -> Request:
        target = config.ping if stage == "ping" else config.post
        if target is None:
            raise ValueError(f"this delivery has no {stage} step")
        if stage == "ping":
            # Principle 6, whatever the caller passed: a ping never carries personal data.
            fields = {name: value for name, value in fields.items() if name not in PERSONAL_FIELDS}
        if shared is None:
            body, content_type = build_body(target.format, fields, target.mapping)
        else:  # campaigns with the same format and mapping receive the same bytes
            key = (target.format, tuple(target.mapping.items()) if target.mapping else None)
            built = shared.get(key)
            if built is None:
                built = shared[key] = build_body(target.format, fields, target.mapping)
            body, content_type = built
        secrets = [*literal_secrets(target.mapping), *(v for v in target.headers.values() if len(v) >= 4)]
        return Request(
            adapter=self.name,
            target=target.url,
            body=body.decode("utf-8"),
            content_type=content_type,
            headers=target.headers,
            options={"method": target.method},
            timeout_ms=target.timeout_ms,
            response=target.response,
            secrets=secrets,
        )

    async def send(self, request: Request, *, key: str | None) -> Delivery:
        headers = {"Content-Type": request.content_type, **request.headers}
        if key is not None:
            headers["Idempotency-Key"] = key
        answer = await self.client.send(
            request.options.get("method", "POST"),
            request.target,
            headers,
            request.body.encode("utf-8"),
            request.content_type,
            request.timeout_ms,
        )
        return delivered(answer)

    async def close(self) -> None:
        await self.client.close()


def delivered(answer: HttpExchange, *, retry_statuses: frozenset[int] = frozenset()) -> Delivery:
    """An HTTP answer as a delivery's: worth another try after a network error, a 5xx, or one
    of `retry_statuses`."""
    status = answer.status or 0
    return Delivery(
        status=answer.status,
        body=answer.body,
        content_type=answer.content_type,
        latency_ms=answer.latency_ms,
        error=answer.error,
        transient=answer.error is not None or status >= 500 or status in retry_statuses,
    )


def _target(step: Any, field: str) -> HttpTarget:
    try:
        return msgspec.convert(step, HttpTarget)
    except msgspec.ValidationError as exc:
        raise field_invalid(field, "invalid", str(exc)) from exc


async def _read_capped(stream: aiohttp.StreamReader, cap: int) -> tuple[bytes, bool]:
    """At most `cap` bytes of the answer, and whether there was more."""
    chunks: list[bytes] = []
    size = 0
    while size <= cap:
        chunk = await stream.read(min(_READ_CHUNK, cap + 1 - size))
        if not chunk:
            return b"".join(chunks), False
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)[:cap], True


def _describe(exc: aiohttp.ClientError) -> str:
    """A short, stable reason for the delivery audit."""
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        if isinstance(exc.os_error, PrivateDestinationError):
            return f"private destination: {exc.os_error}"
        return f"dns: {exc.host} does not resolve"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError):
        return f"tls: {exc}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        where = f"{exc.host}:{exc.port}"
        if isinstance(exc.os_error, ConnectionRefusedError):
            return f"connection refused: {where}"
        return f"connection failed: {where}: {exc.os_error.strerror or exc.os_error}"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "server disconnected"
    if isinstance(exc, aiohttp.InvalidURL):
        return f"invalid url: {exc}"
    if isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ClientResponseError):
        return f"bad answer: {exc}"
    return f"http error: {exc}"
