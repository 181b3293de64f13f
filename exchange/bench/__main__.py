"""`python -m exchange.bench`: intake leads/s of the exchange against a bare Litestar endpoint.

Both servers run at once under the same ASGI server; each is loaded in turn, bare first,
so the exchange's leftover background work cannot slow the baseline.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Any

import typer

from exchange.bench.database import fresh_postgres, outbox_backlog, sqlite_url
from exchange.bench.load import LoadConfig, load_in_subprocess
from exchange.bench.report import Measured, build_report, format_table, server_figures
from exchange.bench.servers import (
    DatabaseUrl,
    JsonOnly,
    Server,
    cpu_seconds,
    create_publisher,
    peak_rss_mb,
    prepare_run,
    start_bare,
    start_exchange,
    stop_server,
    wait_healthy,
)

cli = typer.Typer(add_completion=False)


def _measure(server: Server, api_key: str, seconds: float, warmup: float, connections: int) -> Measured:
    config = LoadConfig(
        url=server.url, api_key=api_key, seconds=seconds, warmup=warmup, connections=connections
    )
    cpu_before, started = cpu_seconds(server.process.pid), time.monotonic()
    result = load_in_subprocess(config)
    cpu_after, elapsed = cpu_seconds(server.process.pid), time.monotonic() - started
    if cpu_before is None or cpu_after is None:
        return Measured(result, None, None)
    used = cpu_after - cpu_before
    per_request = 1000 * used / result.answered if result.answered else None
    return Measured(result, 100 * used / elapsed, per_request)


def run_benchmark(
    *, seconds: float, warmup: float, connections: int, database_url: str | None, quiet: bool
) -> dict[str, Any]:
    """Start both servers on an empty database, load each in turn, stop both whatever happens."""

    def say(message: str) -> None:
        if not quiet:
            print(message, file=sys.stderr, flush=True)

    load_before = os.getloadavg()[0]
    admin_key = secrets.token_urlsafe(24)
    with ExitStack() as cleanup:
        workdir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="exchange-bench-")))
        if database_url is None:
            url, database = sqlite_url(workdir), "sqlite"
        else:
            url, database = cleanup.enter_context(fresh_postgres(database_url)), "postgresql"
        # Callbacks run last-in first-out: servers stop before their database is dropped.
        bare = start_bare(workdir)
        cleanup.callback(stop_server, bare)
        exchange = start_exchange(url, admin_key, workdir)
        cleanup.callback(stop_server, exchange)
        wait_healthy(bare)
        wait_healthy(exchange)
        api_key = create_publisher(exchange, admin_key)
        # The pids let a profiler attach to the right process (py-spy record --pid).
        for server in (bare, exchange):
            say(f"{server.name}: pid {server.process.pid}, {server.url}")

        say(f"loading bare for {warmup} + {seconds} s ...")
        bare_measured = _measure(bare, api_key, seconds, warmup, connections)
        say(f"loading exchange for {warmup} + {seconds} s ...")
        exchange_measured = _measure(exchange, api_key, seconds, warmup, connections)

        exchange_figures = server_figures(exchange_measured, peak_rss_mb(exchange.process.pid))
        exchange_figures["outbox_backlog"] = outbox_backlog(url)
        exchange_figures["logged_errors"], exchange_figures["first_logged_error"] = exchange.logged_errors()
        return build_report(
            bare=server_figures(bare_measured, peak_rss_mb(bare.process.pid)),
            exchange=exchange_figures,
            seconds=seconds,
            warmup=warmup,
            connections=connections,
            database=database,
            load_before=load_before,
        )


@cli.command()
def bench(
    seconds: Annotated[float, typer.Option(min=0.1, help="measured duration per server")] = 10.0,
    warmup: Annotated[float, typer.Option(min=0.0, help="uncounted load before measuring")] = 2.0,
    connections: Annotated[int, typer.Option(min=1, help="concurrent connections")] = 32,
    database_url: DatabaseUrl = None,
    json_only: JsonOnly = False,
) -> None:
    """Print intake leads/s of the exchange and of a bare endpoint, and their ratio."""
    prepare_run(database_url)
    report = run_benchmark(
        seconds=seconds, warmup=warmup, connections=connections, database_url=database_url, quiet=json_only
    )
    if not json_only:
        print(format_table(report))
    print(json.dumps(report))
    failed = [name for name in ("bare", "exchange") if report[name]["errors"]]
    for name in failed:
        # Errors make the rate meaningless (a 4xx is cheaper than a stored lead).
        print(
            f"{name}: {report[name]['errors']} errors; the first: {report[name]['first_error']}",
            file=sys.stderr,
        )
    if report["exchange"]["logged_errors"]:
        # A 2xx whose background work failed: the rate is not one the exchange can keep.
        print(
            f"exchange logged {report['exchange']['logged_errors']} errors; the first:\n"
            + report["exchange"]["first_logged_error"],
            file=sys.stderr,
        )
        failed.append("exchange")
    if failed:
        raise typer.Exit(1)


if __name__ == "__main__":
    cli()
