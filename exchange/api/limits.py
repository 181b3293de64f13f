"""Rate limits: each API key, and each client address that sends no valid key.

A limit is a rate and a burst (GCRA, the token bucket's arithmetic on one number per key:
the "theoretical arrival time" of the next request). A key may send `burst` requests at
once and then `per_second`; past that the request is answered 429 with `Retry-After`, before
its body is read. A publisher may have its own rate (`rate_limit` on the publisher), else
EXCHANGE_RATE_PER_SECOND / EXCHANGE_RATE_BURST hold; requests without a valid key are
limited per client address (EXCHANGE_ADDRESS_RATE_PER_SECOND / _BURST), so guessing keys
is slow too. With REDIS_URL the numbers live in Redis (one atomic script per request, on
Redis's own clock), so the limit holds across every server; without it, per process.
"""

from __future__ import annotations

import math
import time
from typing import Any

from exchange.errors import ExchangeError

# KEYS[1]: the key's arrival time (ms); ARGV: interval (ms), tolerance (ms). Answers 0 when
# the request may go, else the milliseconds to wait.
_GCRA = """
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local interval, tolerance = tonumber(ARGV[1]), tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
if tat - tolerance > now then return tat - tolerance - now end
redis.call('SET', KEYS[1], tat + interval, 'PX', math.ceil(tat + interval - now + 1000))
return 0
"""


class RateLimited(ExchangeError):
    status_code = 429
    code = "rate_limited"

    def __init__(self, wait_seconds: float, what: str) -> None:
        self.retry_after = max(1, math.ceil(wait_seconds))
        super().__init__(f"too many requests from this {what}: try again in {self.retry_after} s")


class RateLimits:
    def __init__(self, settings: Any, redis: Any = None) -> None:
        self.settings, self.redis = settings, redis
        self._arrivals: dict[str, float] = {}  # in-process: key → arrival time, ms
        self._script = redis.register_script(_GCRA) if redis is not None else None

    async def check_key(self, key_id: str, own: dict[str, Any] | None) -> None:
        """Admit one request of an API key, or raise RateLimited."""
        own = own or {}
        per_second = own.get("per_second", self.settings.rate_per_second)
        burst = own.get("burst", self.settings.rate_burst)
        # A changed limit starts afresh: the old one's debts are not carried into it.
        await self._admit(f"key:{key_id}:{per_second}:{burst}", per_second, burst, "key")

    async def check_address(self, address: str) -> None:
        """Admit one request sent without a valid key, or raise RateLimited."""
        s = self.settings
        await self._admit(f"addr:{address}", s.address_rate_per_second, s.address_burst, "address")

    async def _admit(self, name: str, per_second: float, burst: int, what: str) -> None:
        if per_second <= 0:
            return
        interval = 1000.0 / per_second
        tolerance = burst * interval
        if self._script is not None:
            wait = float(await self._script(keys=[f"exchange:rate:{name}"], args=[interval, tolerance]))
        else:
            wait = self._admit_here(name, interval, tolerance)
        if wait > 0:
            raise RateLimited(wait / 1000.0, what)

    def _admit_here(self, name: str, interval: float, tolerance: float) -> float:
        now = time.monotonic() * 1000.0
        arrival = max(self._arrivals.get(name, now), now)
        if arrival - tolerance > now:
            return arrival - tolerance - now
        if len(self._arrivals) > 100_000:  # old entries are all in the past: none is lost
            self._arrivals = {k: v for k, v in self._arrivals.items() if v > now}
        self._arrivals[name] = arrival + interval
        return 0.0
