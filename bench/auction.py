"""`python -m bench.auction`: what a sync ping-post auction costs over the buyers' own time.

20 fake bidders in their own process answer pings after a fixed delay; the exchange runs real
auctions against them, and the exchange's outbound client alone against the same bidders is the ceiling.
"""

from __future__ import annotations

import json
import os
import platform
import secrets
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Annotated, Any

import msgspec
import typer

from bench.bidders import (
    RESPONSE_RULE,
    Bidders,
    RawConfig,
    raw_rate_in_subprocess,
    start_bidders,
)
from bench.database import fresh_postgres, sqlite_url
from bench.load import LoadConfig, LoadResult, load_in_subprocess, percentile
from bench.servers import (
    DatabaseUrl,
    JsonOnly,
    Server,
    create_publisher,
    peak_rss_mb,
    prepare_run,
    runs_that_failed,
    start_exchange,
    stop,
    stop_server,
    wait_healthy,
    with_cpu,
)

BIDDERS = 20
# 20 pings and the winner's post: what one sold auction asks of the outbound client.
REQUESTS_PER_AUCTION = BIDDERS + 1
TARGET_RATIO = 0.5
TARGET_OVERHEAD_P99_MS = 10.0
# Far more than any run can spend, so no buyer ever runs out of funds mid-run.
FUNDS_CENTS = 10**11
# Leads of the light load and of saturation never share a phone or an e-mail.
SATURATION_FIRST_LEAD = 10_000_000

cli = typer.Typer(add_completion=False)


# --- the marketplace, made over the API as an operator would ----------------------------------


def _api(server: Server, admin_key: str, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        server.url + path,
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {admin_key}", "Content-Type": "application/json"},
        method=method,
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        created: dict[str, Any] = json.loads(answer.read())
    return created


def _bid_delivery(bidder_url: str) -> dict[str, Any]:
    def step(path: str) -> dict[str, Any]:
        return {"url": bidder_url + path, "format": "json", "response": RESPONSE_RULE, "timeout_ms": 2000}

    return {"adapter": "http", "ping": step("/ping"), "post": step("/post")}


def _build_market(exchange: Server, admin_key: str, bidders: Bidders) -> None:
    """One funded buyer with one bid campaign per bidder, all on auto insurance."""
    for index, url in enumerate(bidders.urls):
        buyer = _api(
            exchange, admin_key, "POST", "/v1/buyers", {"name": f"Bidder {index}", "timezone": "UTC"}
        )
        _api(
            exchange,
            admin_key,
            "POST",
            f"/v1/buyers/{buyer['id']}/payments",
            {"amount_cents": FUNDS_CENTS, "reference": f"bench-{index}"},
        )
        campaign = {
            "buyer_id": buyer["id"],
            "vertical": "auto_insurance",
            "name": f"bench bidder {index}",
            "pricing": {"model": "bid", "floor_cents": 0},
            "delivery": _bid_delivery(url),
        }
        _api(exchange, admin_key, "POST", "/v1/campaigns", campaign)
    # Every lead is a new person, so the duplicate window keeps its default: its checks are
    # part of what a real auction costs.
    _api(
        exchange,
        admin_key,
        "PUT",
        "/v1/verticals/auto_insurance/distribution",
        {"strategy": "auction", "ping_timeout_ms": 500, "max_sales": 1},
    )


@contextmanager
def _private_destinations_allowed() -> Iterator[None]:
    """start_exchange passes our environment on; the bidders listen on loopback."""
    before = os.environ.get("EXCHANGE_ALLOW_PRIVATE_DESTINATIONS")
    os.environ["EXCHANGE_ALLOW_PRIVATE_DESTINATIONS"] = "1"
    try:
        yield
    finally:
        if before is None:
            del os.environ["EXCHANGE_ALLOW_PRIVATE_DESTINATIONS"]
        else:
            os.environ["EXCHANGE_ALLOW_PRIVATE_DESTINATIONS"] = before


# --- the run and its figures -------------------------------------------------------------------


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def _load_figures(result: LoadResult) -> dict[str, Any]:
    return {
        "auctions": result.requests,
        "auctions_per_second": round(result.rate, 1),
        "p50_ms": _round(result.p50_ms),
        "p99_ms": _round(result.p99_ms),
        "errors": result.errors,
        "not_sold": result.unexpected,
        "first_error": result.first_error,
        "client_cpu_percent": round(result.client_cpu_percent, 1),
    }


def _auctions(config: LoadConfig) -> LoadResult:
    """Sync leads, each of which must come back sold, from the load generator's process."""
    return load_in_subprocess(msgspec.structs.replace(config, mode="sync", expect="sold"))


def run_auction_benchmark(
    *,
    light_seconds: float,
    seconds: float,
    warmup: float,
    connections: int,
    bid_delay_ms: float,
    database_url: str | None,
    quiet: bool,
) -> dict[str, Any]:
    """Start bidders and exchange, build the market, measure, and stop everything whatever happens."""

    def say(message: str) -> None:
        if not quiet:
            print(message, file=sys.stderr, flush=True)

    load_before = os.getloadavg()[0]
    admin_key = secrets.token_urlsafe(24)
    with ExitStack() as cleanup:
        workdir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="exchange-auction-")))
        if database_url is None:
            url, database = sqlite_url(workdir), "sqlite"
        else:
            url, database = cleanup.enter_context(fresh_postgres(database_url)), "postgresql"
        bidders = start_bidders(BIDDERS, bid_delay_ms)
        cleanup.callback(stop, bidders.process)
        with _private_destinations_allowed():
            exchange = start_exchange(url, admin_key, workdir)
        cleanup.callback(stop_server, exchange)
        wait_healthy(exchange)
        say(f"bidders: pid {bidders.process.pid}; exchange: pid {exchange.process.pid}, {exchange.url}")
        api_key = create_publisher(exchange, admin_key)
        _build_market(exchange, admin_key, bidders)

        # The baseline first, while the exchange is idle, as the intake benchmark loads bare first.
        say(f"raw client: {connections} connections for {warmup} + {seconds} s ...")
        raw = raw_rate_in_subprocess(
            RawConfig(urls=bidders.urls, seconds=seconds, warmup=warmup, connections=connections)
        )
        say(f"bare fan-out: one auction's requests at a time for {warmup} + {light_seconds} s ...")
        fanout = raw_rate_in_subprocess(
            RawConfig(urls=bidders.urls, seconds=light_seconds, warmup=warmup, connections=1, mode="fanout")
        )
        say(f"light load: 1 connection for {warmup} + {light_seconds} s ...")
        light = _auctions(
            LoadConfig(url=exchange.url, api_key=api_key, seconds=light_seconds, warmup=warmup, connections=1)
        )
        say(f"saturation: {connections} connections for {warmup} + {seconds} s ...")
        saturation = LoadConfig(
            url=exchange.url,
            api_key=api_key,
            seconds=seconds,
            warmup=warmup,
            connections=connections,
            first_lead=SATURATION_FIRST_LEAD,
        )
        saturated, used, elapsed = with_cpu(exchange.process.pid, lambda: _auctions(saturation))
        rss = peak_rss_mb(exchange.process.pid)
        logged, first_logged = exchange.logged_errors()

    light_figures = _load_figures(light)

    # What the exchange adds to the bidders' own time: the answer time less the bid delay.
    # (A percentile of the answer times less the delay is the percentile of the overheads.)
    def over_delay(ms: float | None) -> float | None:
        return None if ms is None else _round(max(0.0, ms - bid_delay_ms))

    # The same measure of the bare client's fan-out: what bidders and client alone take.
    fanout_seconds = sorted(fanout.fanout_seconds)
    for q in (50, 99):
        light_figures[f"overhead_p{q}_ms"] = over_delay(light_figures[f"p{q}_ms"])
        took = percentile(fanout_seconds, q)
        light_figures[f"bare_fanout_overhead_p{q}_ms"] = over_delay(None if took is None else took * 1000)
    light_figures["bare_fanout_errors"] = fanout.errors
    light_figures["bare_fanout_first_error"] = fanout.first_error

    saturation_figures = _load_figures(saturated)
    if used is not None:
        saturation_figures["exchange_cpu_percent"] = round(100 * used / elapsed, 1)
        sold_total = saturated.answered - saturated.unexpected
        saturation_figures["exchange_cpu_ms_per_auction"] = (
            round(1000 * used / sold_total, 2) if sold_total else None
        )

    raw_rate = round(raw.rate, 1)
    ceiling = round(raw_rate / REQUESTS_PER_AUCTION, 1)
    auctions_per_second = saturation_figures["auctions_per_second"]
    return {
        "machine": {
            "nproc": os.cpu_count(),
            "load_average_before": round(load_before, 2),
            "python": platform.python_version(),
            "processes": "exchange, bidders, load generator and raw client each in its own process",
        },
        "settings": {
            "bidders": BIDDERS,
            "bid_delay_ms": bid_delay_ms,
            "light_seconds": light_seconds,
            "seconds": seconds,
            "warmup": warmup,
            "connections": connections,
            "server": "uvicorn, 1 worker",
            "database": database,
            "mode": "sync",
            "ping_timeout_ms": 500,
        },
        "light": light_figures,
        "saturation": saturation_figures,
        "baseline": {
            "requests_per_second": raw_rate,
            "errors": raw.errors,
            "first_error": raw.first_error,
            "client_cpu_percent": round(raw.client_cpu_percent, 1),
            "requests_per_auction": REQUESTS_PER_AUCTION,
            "ceiling_auctions_per_second": ceiling,
        },
        # From the rounded figures, so a reader can check it from the same JSON.
        "ratio": round(auctions_per_second / ceiling, 3) if ceiling else None,
        "overhead_p99_ms": light_figures["overhead_p99_ms"],
        "exchange_peak_rss_mb": _round(rss, 1),
        "exchange_logged_errors": logged,
        "exchange_first_logged_error": first_logged,
        "targets": {"ratio": TARGET_RATIO, "overhead_p99_ms": TARGET_OVERHEAD_P99_MS},
    }


def _cell(value: Any, suffix: str = "") -> str:
    return "-" if value is None else f"{value}{suffix}"


def format_table(report: dict[str, Any]) -> str:
    s, m = report["settings"], report["machine"]
    light, sat, base = report["light"], report["saturation"], report["baseline"]
    return "\n".join(
        [
            f"auction benchmark: {s['bidders']} bidders answering pings after {s['bid_delay_ms']} ms,"
            f" {s['database']}, mode={s['mode']}, {s['server']}",
            f"machine: nproc {m['nproc']}, Python {m['python']}, load average before"
            f" {m['load_average_before']}",
            "",
            f"{'run':<28}{'auctions/s':>11}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}{'unsold':>8}",
            f"{'light (1 connection)':<28}{light['auctions_per_second']:>11}{_cell(light['p50_ms']):>9}"
            f"{_cell(light['p99_ms']):>9}{light['errors']:>8}{light['not_sold']:>8}",
            f"{'saturation (' + str(s['connections']) + ' connections)':<28}"
            f"{sat['auctions_per_second']:>11}{_cell(sat['p50_ms']):>9}{_cell(sat['p99_ms']):>9}"
            f"{sat['errors']:>8}{sat['not_sold']:>8}",
            "",
            f"light-load overhead over the bid delay: p50 {_cell(light['overhead_p50_ms'])} ms,"
            f" p99 {_cell(light['overhead_p99_ms'])} ms"
            f" (target <= {report['targets']['overhead_p99_ms']} ms)",
            f"  bare fan-out (the client alone: 20 pings at once, then a post):"
            f" p50 {_cell(light['bare_fanout_overhead_p50_ms'])} ms,"
            f" p99 {_cell(light['bare_fanout_overhead_p99_ms'])} ms",
            f"raw outbound client: {base['requests_per_second']} requests/s"
            f" ({base['errors']} errors, client CPU {base['client_cpu_percent']}%);"
            f" / {base['requests_per_auction']} = ceiling {base['ceiling_auctions_per_second']} auctions/s",
            f"ratio auctions/s / ceiling: {_cell(report['ratio'])} (target >= {report['targets']['ratio']})",
            f"exchange under saturation: CPU {_cell(sat.get('exchange_cpu_percent'), '%')},"
            f" {_cell(sat.get('exchange_cpu_ms_per_auction'))} CPU ms per auction;"
            f" peak RSS {_cell(report['exchange_peak_rss_mb'], ' MB')}",
        ]
    )


@cli.command()
def bench(
    light_seconds: Annotated[
        float, typer.Option(min=0.1, help="measured one-connection load (~500 answers for the p99)")
    ] = 30.0,
    seconds: Annotated[float, typer.Option(min=0.1, help="measured saturation and baseline")] = 10.0,
    warmup: Annotated[float, typer.Option(min=0.0, help="uncounted load before each measure")] = 2.0,
    connections: Annotated[int, typer.Option(min=1, help="concurrent connections at saturation")] = 32,
    bid_delay_ms: Annotated[float, typer.Option(min=0.0, help="how long each bidder thinks")] = 50.0,
    database_url: DatabaseUrl = None,
    json_only: JsonOnly = False,
) -> None:
    """Print sync auction latency and throughput against 20 fake bidders, and the client's ceiling."""
    prepare_run(database_url)
    report = run_auction_benchmark(
        light_seconds=light_seconds,
        seconds=seconds,
        warmup=warmup,
        connections=connections,
        bid_delay_ms=bid_delay_ms,
        database_url=database_url,
        quiet=json_only,
    )
    if not json_only:
        print(format_table(report))
    print(json.dumps(report))
    if runs_that_failed(auction_runs(report)):
        raise typer.Exit(1)


def auction_runs(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each load's figures by name, and the exchange's log, as `runs_that_failed` reads them."""
    runs = {name: report[name] for name in ("light", "saturation", "baseline")}
    runs["bare fan-out"] = {
        "errors": report["light"]["bare_fanout_errors"],
        "first_error": report["light"]["bare_fanout_first_error"],
    }
    runs["exchange"] = {
        "logged_errors": report["exchange_logged_errors"],
        "first_logged_error": report["exchange_first_logged_error"],
    }
    return runs


if __name__ == "__main__":
    cli()
