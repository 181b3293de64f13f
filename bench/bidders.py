"""Fake bidders for the auction benchmark, and the raw-rate client that measures against them.

`python -m bench.bidders serve` runs N bidder servers in one process; `raw` runs the
exchange's own outbound `HttpClient` at full speed against their zero-delay path.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

import msgspec
from aiohttp import web

from adapters.outbound.http import HttpClient
from bench.servers import PROJECT_ROOT, stop

# The rule a campaign reads the bidders' answers with: the shape tests/distribution/buyers.py uses.
RESPONSE_RULE: dict[str, Any] = {
    "format": "json",
    "accepted": {"path": "status", "equals": "ok"},
    "price": "bid",
    "reference": "lead_ref",
}

# A ping as the exchange sends one: the lead's fields without contact data, plus grade and id.
SAMPLE_PING: bytes = msgspec.json.encode(
    {
        "state": "CA",
        "zip": "94105",
        "city": "San Francisco",
        "date_of_birth": "1985-04-12",
        "currently_insured": True,
        "vehicle_year": 2019,
        "vehicle_make": "Toyota",
        "vehicle_model": "Camry",
        "consent": {"text": "I agree to be contacted.", "timestamp": "2026-11-01T10:00:00Z"},
        "grade": "B",
        "lead_id": "lead_01JBENCHAUCTION0000000000",
    }
)


def bid_price(index: int) -> float:
    """Bidder `index`'s bid in dollars: all different, so every auction has one winner."""
    return 10.0 + index


def _bidder_app(index: int, delay: float) -> web.Application:
    ping_answer = json.dumps({"status": "ok", "bid": bid_price(index)}).encode()
    posts = itertools.count(1)

    def answer(body: bytes) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    async def ping(request: web.Request) -> web.Response:
        # Read the body as a real bidder would, so the connection is reusable at once.
        await request.read()
        await asyncio.sleep(delay)
        return answer(ping_answer)

    async def ping_at_once(request: web.Request) -> web.Response:
        await request.read()
        return answer(ping_answer)

    async def post(request: web.Request) -> web.Response:
        await request.read()
        return answer(json.dumps({"status": "ok", "lead_ref": f"ref-{index}-{next(posts)}"}).encode())

    app = web.Application()
    app.router.add_post("/ping", ping)
    # The same answer without the delay: the raw-rate baseline's target.
    app.router.add_post("/ping0", ping_at_once)
    app.router.add_post("/post", post)
    return app


async def _serve(count: int, delay_ms: float) -> None:
    runners: list[web.AppRunner] = []
    ports: list[int] = []
    for index in range(count):
        runner = web.AppRunner(_bidder_app(index, delay_ms / 1000), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        runners.append(runner)
        ports.append(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
    # The parent reads this one line to learn where the bidders listen.
    sys.stdout.write(json.dumps({"ports": ports}) + "\n")
    sys.stdout.flush()
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopped.set)
    try:
        await stopped.wait()
    finally:
        for runner in runners:
            await runner.cleanup()


@dataclass
class Bidders:
    process: subprocess.Popen[bytes]
    urls: list[str]


def start_bidders(count: int, delay_ms: float) -> Bidders:
    """Start the bidders' process and wait until every port listens."""
    argv = [sys.executable, "-m", "bench.bidders", "serve", str(count), str(delay_ms)]
    process = subprocess.Popen(argv, cwd=PROJECT_ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        stop(process)
        raise RuntimeError(f"the bidders exited with {process.wait()} before listening")
    ports: list[int] = json.loads(line)["ports"]
    return Bidders(process, [f"http://127.0.0.1:{port}" for port in ports])


class RawConfig(msgspec.Struct, frozen=True, kw_only=True):
    urls: list[str]
    seconds: float
    warmup: float
    connections: int
    # "rate": `connections` workers send to the zero-delay path as fast as they can.
    # "fanout": one auction's requests at a time, as a light load asks them of the exchange:
    # a ping to every bidder's delayed path at once, then a post to one of them.
    mode: Literal["rate", "fanout"] = "rate"


class RawResult(msgspec.Struct, frozen=True, kw_only=True):
    requests: int  # 2xx answers completed inside the measured window
    seconds: float
    errors: int
    first_error: str | None
    client_cpu_percent: float
    # In "fanout" mode: the time of each whole fan-out (pings, then the post), in seconds.
    fanout_seconds: list[float] = msgspec.field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0


async def _raw_load(config: RawConfig) -> RawResult:
    # The exchange's own client with its own pool settings: the ceiling is that client's rate.
    client = HttpClient(allow_private=True)
    targets = itertools.cycle([url + "/ping0" for url in config.urls])
    headers = {"Content-Type": "application/json"}
    counted = 0
    errors = 0
    first_error: str | None = None
    begun = time.perf_counter()
    start, end = begun + config.warmup, begun + config.warmup + config.seconds

    async def worker() -> None:
        nonlocal counted, errors, first_error
        while time.perf_counter() < end:
            answer = await client.send("POST", next(targets), headers, SAMPLE_PING, "application/json", 2000)
            if answer.error is not None or answer.status is None or not 200 <= answer.status < 300:
                errors += 1
                first_error = first_error or f"{answer.status} {answer.error}"
            elif start <= time.perf_counter() <= end:
                counted += 1

    try:
        tasks = [asyncio.create_task(worker()) for _ in range(config.connections)]
        await asyncio.sleep(max(0.0, start - time.perf_counter()))
        cpu_start = time.process_time()
        await asyncio.sleep(max(0.0, end - time.perf_counter()))
        cpu_used = time.process_time() - cpu_start
        await asyncio.gather(*tasks)
    finally:
        await client.close()
    return RawResult(
        requests=counted,
        seconds=config.seconds,
        errors=errors,
        first_error=first_error,
        client_cpu_percent=100 * cpu_used / config.seconds if config.seconds > 0 else 0.0,
    )


async def _fanout_load(config: RawConfig) -> RawResult:
    """An auction's 20 pings and one post from the bare client, one auction at a time: the
    least time the exchange's light load could take, bidders and client alone."""
    client = HttpClient(allow_private=True)
    headers = {"Content-Type": "application/json"}
    times: list[float] = []
    errors = 0
    first_error: str | None = None
    begun = time.perf_counter()
    start, end = begun + config.warmup, begun + config.warmup + config.seconds
    cpu_start: float | None = None

    async def call(url: str) -> None:
        nonlocal errors, first_error
        answer = await client.send("POST", url, headers, SAMPLE_PING, "application/json", 2000)
        if answer.error is not None or answer.status is None or not 200 <= answer.status < 300:
            errors += 1
            first_error = first_error or f"{answer.status} {answer.error}"

    try:
        for winner in itertools.cycle(config.urls):
            sent = time.perf_counter()
            if sent >= end:
                break
            if cpu_start is None and sent >= start:
                cpu_start = time.process_time()
            await asyncio.gather(*(call(url + "/ping") for url in config.urls))
            await call(winner + "/post")
            if sent >= start:
                times.append(time.perf_counter() - sent)
        cpu_used = time.process_time() - (cpu_start or time.process_time())
    finally:
        await client.close()
    return RawResult(
        requests=len(times) * (len(config.urls) + 1),
        seconds=config.seconds,
        errors=errors,
        first_error=first_error,
        client_cpu_percent=100 * cpu_used / config.seconds if config.seconds > 0 else 0.0,
        fanout_seconds=times,
    )


def raw_rate_in_subprocess(config: RawConfig) -> RawResult:
    """The raw client in a process of its own, as the exchange is."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.bidders", "raw"],
        cwd=PROJECT_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        out, _ = process.communicate(msgspec.json.encode(config), timeout=config.warmup + config.seconds + 60)
    finally:
        stop(process)
    if process.returncode != 0:
        raise RuntimeError(f"the raw client exited with {process.returncode}")
    return msgspec.json.decode(out, type=RawResult)


def run_loop(main: Callable[[], Awaitable[Any]]) -> Any:
    """Run on uvloop when it is installed, as the exchange under uvicorn does."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main())  # type: ignore[arg-type]
    return uvloop.run(main())  # type: ignore[arg-type]


def _main() -> None:
    role = sys.argv[1] if len(sys.argv) > 1 else ""
    if role == "serve":
        count, delay_ms = int(sys.argv[2]), float(sys.argv[3])
        run_loop(lambda: _serve(count, delay_ms))
    elif role == "raw":
        config = msgspec.json.decode(sys.stdin.buffer.read(), type=RawConfig)
        load = _fanout_load if config.mode == "fanout" else _raw_load
        result = run_loop(lambda: load(config))
        sys.stdout.buffer.write(msgspec.json.encode(result))
    else:
        sys.exit("usage: python -m bench.bidders serve COUNT DELAY_MS | raw < config.json")


if __name__ == "__main__":
    _main()
