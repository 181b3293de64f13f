"""The load generator: N concurrent aiohttp workers posting distinct leads for a fixed time.

It runs in its own process (`python -m bench.load`, config on stdin, result on
stdout) so its CPU is not the server's; on this machine it still shares the cores.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import subprocess
import sys
import time
from typing import Literal, TypeVar

import aiohttp
import msgspec

from bench.leads import bench_body
from bench.servers import PROJECT_ROOT, stop


class LoadConfig(msgspec.Struct, frozen=True, kw_only=True):
    url: str
    api_key: str
    seconds: float
    warmup: float
    connections: int
    first_lead: int = 0
    mode: Literal["sync", "async"] = "async"
    # The lead status every 2xx answer must carry (the auction benchmark wants "sold");
    # an answer without it counts in `unexpected`, and only expected answers are timed.
    expect: str | None = None
    # Posts a second over all connections, as a steady publisher sends them; None: as fast as answered.
    pace_per_second: float | None = None


class LoadResult(msgspec.Struct, frozen=True, kw_only=True):
    requests: int  # 2xx answers completed inside the measured window
    answered: int  # 2xx answers over the whole load, warm-up and stragglers included
    seconds: float
    errors: int  # non-2xx answers and failed requests, warm-up included
    first_error: str | None
    unexpected: int = 0  # 2xx answers without the expected status, warm-up included
    limited: int = 0  # 429 answers (counted in `errors` too), warm-up included
    p50_ms: float | None
    p99_ms: float | None
    # CPU the generator itself used during the window, as a share of one core: near 100
    # means the generator, not the server, may be what limits the rate.
    client_cpu_percent: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0


def percentile(ordered: list[float], q: float) -> float | None:
    """Nearest-rank percentile of an ascending list."""
    if not ordered:
        return None
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


class _Tally:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.answered = 0
        self.errors = 0
        self.unexpected = 0
        self.limited = 0
        self.first_error: str | None = None

    def fail(self, what: str, *, unexpected: bool = False) -> None:
        if unexpected:
            self.unexpected += 1
        else:
            self.errors += 1
        if self.first_error is None:
            self.first_error = what


async def _worker(
    session: aiohttp.ClientSession,
    config: LoadConfig,
    numbers: itertools.count[int],
    window: tuple[float, float],
    tally: _Tally,
) -> None:
    url = f"{config.url}/v1/leads?vertical=auto_insurance&mode={config.mode}"
    headers = {"Authorization": f"Bearer {config.api_key}", "Content-Type": "application/json"}
    start, end = window
    # Paced: each connection sends on its own schedule, `connections / pace` seconds apart.
    interval = None if config.pace_per_second is None else config.connections / config.pace_per_second
    due = time.perf_counter()
    while time.perf_counter() < end:
        if interval is not None:
            due += interval
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
        body = bench_body(next(numbers))
        sent = time.perf_counter()
        try:
            async with session.post(url, data=body, headers=headers) as answer:
                payload = await answer.read()
                status = answer.status
        except (aiohttp.ClientError, TimeoutError) as problem:
            tally.fail(f"request failed: {problem!r}")
            continue
        done = time.perf_counter()
        if not 200 <= status < 300:
            tally.limited += status == 429
            tally.fail(f"HTTP {status}: {payload[:2000].decode(errors='replace')}")
            continue
        tally.answered += 1
        if config.expect is not None:
            lead_status = msgspec.json.decode(payload).get("status")
            if lead_status != config.expect:
                text = payload[:2000].decode(errors="replace")
                tally.fail(f"HTTP {status}, status {lead_status!r}: {text}", unexpected=True)
                continue
        if start <= done <= end:
            tally.latencies.append(done - sent)


async def run_load(config: LoadConfig) -> LoadResult:
    tally = _Tally()
    numbers = itertools.count(config.first_lead)
    connector = aiohttp.TCPConnector(limit=config.connections)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        begun = time.perf_counter()
        window = (begun + config.warmup, begun + config.warmup + config.seconds)
        workers = [
            asyncio.create_task(_worker(session, config, numbers, window, tally))
            for _ in range(config.connections)
        ]
        await asyncio.sleep(max(0.0, window[0] - time.perf_counter()))
        cpu_start = time.process_time()
        await asyncio.sleep(max(0.0, window[1] - time.perf_counter()))
        cpu_used = time.process_time() - cpu_start
        # Requests still in flight at the end are not counted; let them finish quietly.
        await asyncio.gather(*workers)
    ordered = sorted(tally.latencies)
    p50, p99 = percentile(ordered, 50), percentile(ordered, 99)
    return LoadResult(
        requests=len(ordered),
        answered=tally.answered,
        seconds=config.seconds,
        errors=tally.errors,
        first_error=tally.first_error,
        unexpected=tally.unexpected,
        limited=tally.limited,
        p50_ms=None if p50 is None else p50 * 1000,
        p99_ms=None if p99 is None else p99 * 1000,
        client_cpu_percent=100 * cpu_used / config.seconds if config.seconds > 0 else 0.0,
    )


R = TypeVar("R")


def run_child(args: list[str], config: msgspec.Struct, result_type: type[R], seconds: float, what: str) -> R:
    """Run `python -m ARGS` with `config` as JSON on stdin; decode its stdout as `result_type`."""
    process = subprocess.Popen(
        [sys.executable, "-m", *args], cwd=PROJECT_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        out, _ = process.communicate(msgspec.json.encode(config), timeout=seconds + 120)
    finally:
        stop(process)
    if process.returncode != 0:
        raise RuntimeError(f"{what} exited with {process.returncode}")
    return msgspec.json.decode(out, type=result_type)


def load_in_subprocess(config: LoadConfig) -> LoadResult:
    """Run the generator in a child process and return what it measured."""
    return run_child(["bench.load"], config, LoadResult, config.warmup + config.seconds, "the load generator")


def _main() -> None:
    config = msgspec.json.decode(sys.stdin.buffer.read(), type=LoadConfig)
    try:
        import uvloop  # a faster loop leaves more of the shared CPU to the server under test
    except ImportError:
        result = asyncio.run(run_load(config))
    else:
        result = uvloop.run(run_load(config))
    sys.stdout.buffer.write(msgspec.json.encode(result))


if __name__ == "__main__":
    _main()
