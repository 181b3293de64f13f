"""`python -m bench.scale`: intake and auctions/s on PostgreSQL, one process against many.

Two layouts, each on a fresh PostgreSQL database, with the same 20 fake bidders:

- `one server`: one `exchange serve`, no Redis: it stores the leads and runs their auctions;
- `2 servers + 2 workers`: two `exchange serve` with REDIS_URL, which store the leads and hand
  their auctions to two `exchange worker` processes.

The load posts `mode=async` leads (split evenly over the servers) for `--seconds`: intake is
the rate of stored, acknowledged leads. Auctions/s is every lead posted, sold, over the time
from the load's start until the last auction ended (the outbox drained). Every process of
both layouts shares this machine's cores, so the second layout shows what more processes
cost and give here, not what more machines would give.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated, Any

import typer

from bench.auction import _build_market, _private_destinations_allowed
from bench.bidders import start_bidders
from bench.database import fresh_postgres, outbox_backlog
from bench.load import LoadConfig, load_in_subprocess
from bench.servers import _start, create_publisher, free_port, start_exchange, stop, stop_server, wait_healthy

ADMIN_KEY = "bench-admin-key"
PG_SERVER = os.environ.get("BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/8")

cli = typer.Typer(add_completion=False)


def _flush_redis() -> None:
    from redis.asyncio import Redis

    async def flush() -> None:
        client = Redis.from_url(REDIS)
        await client.flushdb()
        await client.aclose()

    asyncio.run(flush())


def _start_worker(database_url: str, log_dir: Path, n: int) -> Any:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS,
        "EXCHANGE_ADMIN_KEY": ADMIN_KEY,
        "EXCHANGE_CONFIG": str(log_dir / "no-exchange.toml"),
    }
    return _start(
        f"worker{n}", ["-m", "exchange.cli", "worker", "--log-level", "warning"], env, free_port(), log_dir
    )


def run_layout(
    servers: int, workers: int, *, seconds: float, connections: int, log_dir: Path
) -> dict[str, Any]:
    started: list[Any] = []
    with fresh_postgres(PG_SERVER, name=f"exchange_scale_{os.getpid()}") as url:
        if workers:
            _flush_redis()
            os.environ["REDIS_URL"] = REDIS
        try:
            first = start_exchange(url, ADMIN_KEY, log_dir)  # migrates the fresh database alone
            started.append(first)
            wait_healthy(first)
            for _ in range(servers - 1):
                started.append(start_exchange(url, ADMIN_KEY, log_dir))
            started += [_start_worker(url, log_dir, n) for n in range(workers)]
            for server in started[:servers]:
                wait_healthy(server)
            bidders = start_bidders(20, 20.0)
            try:
                _build_market(first, ADMIN_KEY, bidders)
                key = create_publisher(first, ADMIN_KEY)
                share = max(1, connections // servers)
                configs = [
                    LoadConfig(
                        url=server.url,
                        api_key=key,
                        seconds=seconds,
                        warmup=0.0,
                        connections=share,
                        first_lead=10_000_000 * n,
                        mode="async",
                    )
                    for n, server in enumerate(started[:servers])
                ]
                began = time.monotonic()
                with ThreadPoolExecutor(len(configs)) as pool:
                    results = list(pool.map(load_in_subprocess, configs))
                deadline = time.monotonic() + 300
                while outbox_backlog(url) and time.monotonic() < deadline:
                    time.sleep(0.2)
                drained = time.monotonic() - began
            finally:
                stop(bidders.process)
            posted = sum(r.answered for r in results)
            return {
                "intake_leads_per_second": round(sum(r.rate for r in results), 1),
                "auctions_per_second": round(posted / drained, 1),
                "leads": posted,
                "errors": sum(r.errors for r in results),
                "backlog_left": outbox_backlog(url),
            }
        finally:
            for process in reversed(started):
                stop_server(process)
            os.environ.pop("REDIS_URL", None)


@cli.command()
def bench(
    seconds: Annotated[float, typer.Option(help="how long each layout takes leads")] = 10.0,
    connections: Annotated[int, typer.Option(help="concurrent clients, split over the servers")] = 32,
    json_only: Annotated[bool, typer.Option("--json", help="print only the JSON figures")] = False,
) -> None:
    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp, _private_destinations_allowed():
        for name, servers, workers in (("one server", 1, 0), ("2 servers + 2 workers", 2, 2)):
            report[name] = run_layout(
                servers, workers, seconds=seconds, connections=connections, log_dir=Path(tmp)
            )
    report["cores"] = os.cpu_count()
    if json_only:
        sys.stdout.write(json.dumps(report) + "\n")
        return
    cores = report["cores"]
    print(f"PostgreSQL, {connections} clients, {seconds:.0f} s of async leads, 20 bidders, {cores} cores")
    print(f"{'layout':<24}{'intake leads/s':>16}{'auctions/s':>12}{'leads':>8}{'errors':>8}")
    for name in ("one server", "2 servers + 2 workers"):
        run = report[name]
        print(
            f"{name:<24}{run['intake_leads_per_second']:>16}{run['auctions_per_second']:>12}"
            f"{run['leads']:>8}{run['errors']:>8}"
        )


if __name__ == "__main__":
    cli()
