"""`python -m bench`: intake leads/s of the exchange against a bare Litestar endpoint.

Both servers run at once under the same ASGI server; each is loaded in turn, bare first,
so the exchange's leftover background work cannot slow the baseline. Then the exchange is
stopped, its database seeded with stored leads, and it is loaded again: the growth figure.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import tempfile
import urllib.error
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Any

import typer

from bench.database import fresh_postgres, outbox_backlog, sqlite_url
from bench.leads import CAPACITY, bench_lead
from bench.load import LoadConfig, load_in_subprocess
from bench.report import (
    Measured,
    build_report,
    format_table,
    grown_name,
    growth_figures,
    server_figures,
)
from bench.seed import publisher_for_key, seed_leads, seed_phone
from bench.servers import (
    DatabaseUrl,
    JsonOnly,
    Server,
    create_publisher,
    peak_rss_mb,
    prepare_run,
    runs_that_failed,
    start_bare,
    start_exchange,
    stop_server,
    wait_healthy,
    with_cpu,
)

cli = typer.Typer(add_completion=False)


def _measure(
    server: Server, api_key: str, seconds: float, warmup: float, connections: int, first_lead: int = 0
) -> Measured:
    config = LoadConfig(
        url=server.url,
        api_key=api_key,
        seconds=seconds,
        warmup=warmup,
        connections=connections,
        first_lead=first_lead,
    )
    result, used, elapsed = with_cpu(server.process.pid, lambda: load_in_subprocess(config))
    if used is None:
        return Measured(result, None, None)
    per_request = 1000 * used / result.answered if result.answered else None
    return Measured(result, 100 * used / elapsed, per_request)


def _exchange_figures(server: Server, measured: Measured, url: str) -> dict[str, Any]:
    figures = server_figures(measured, peak_rss_mb(server.process.pid))
    figures["outbox_backlog"] = outbox_backlog(url)
    figures["logged_errors"], figures["first_logged_error"] = server.logged_errors()
    return figures


def run_benchmark(
    *,
    seconds: float,
    warmup: float,
    connections: int,
    database_url: str | None,
    quiet: bool,
    stored_leads: int = 0,
) -> dict[str, Any]:
    """Start both servers on an empty database, load each in turn, stop both whatever happens;
    then, unless `stored_leads` is 0, store that many leads and load the exchange again."""

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

        exchange_figures = _exchange_figures(exchange, exchange_measured, url)

        growth = None
        if stored_leads:
            stop_server(exchange)
            say(f"seeding {stored_leads:,} stored leads ...")
            publisher_id = publisher_for_key(url, api_key)
            seeded = seed_leads(url, stored_leads, publisher_id=publisher_id, say=say)
            # Its own log directory: the first run's log stays readable beside it.
            grown_dir = workdir / "grown"
            grown_dir.mkdir()
            grown = start_exchange(url, admin_key, grown_dir)
            cleanup.callback(stop_server, grown)
            wait_healthy(grown)
            say(f"{grown.name} ({stored_leads:,} stored): pid {grown.process.pid}, {grown.url}")
            say(f"loading exchange with {stored_leads:,} stored leads for {warmup} + {seconds} s ...")
            # The first run's leads are stored too: go on from the next lead, or the load
            # would post the same people again and get 409 duplicates.
            posted = exchange_measured.load.answered + exchange_measured.load.errors
            grown_measured = _measure(grown, api_key, seconds, warmup, connections, first_lead=posted)
            grown_figures = _exchange_figures(grown, grown_measured, url)
            # The stored leads are the exchange's own: a person seeded last is a duplicate now.
            grown_figures["seeded_person_status"] = _post_status(grown, api_key, stored_leads - 1)
            growth = growth_figures(
                stored_leads=stored_leads,
                seed_seconds=seeded.seconds,
                database_mb=seeded.database_mb,
                empty=exchange_figures,
                grown=grown_figures,
            )
        return build_report(
            bare=server_figures(bare_measured, peak_rss_mb(bare.process.pid)),
            exchange=exchange_figures,
            seconds=seconds,
            warmup=warmup,
            connections=connections,
            database=database,
            load_before=load_before,
            growth=growth,
        )


def _post_status(exchange: Server, api_key: str, seeded: int) -> int:
    """The status intake answers a new lead that has the phone of the `seeded`-th stored lead."""
    lead = {**bench_lead(CAPACITY - 1), "phone": seed_phone(seeded)}
    request = urllib.request.Request(
        exchange.url + "/v1/leads?vertical=auto_insurance",
        data=json.dumps(lead).encode(),
        headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as refused:
        return int(refused.code)


def intake_runs(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each loaded server's figures by name, as `runs_that_failed` reads them."""
    runs = {"bare": report["bare"], "exchange": report["exchange"]}
    if report["growth"] is not None:
        runs[grown_name(report["growth"])] = report["growth"]["exchange"]
    return runs


@cli.command()
def bench(
    seconds: Annotated[float, typer.Option(min=0.1, help="measured duration per server")] = 10.0,
    warmup: Annotated[float, typer.Option(min=0.0, help="uncounted load before measuring")] = 2.0,
    connections: Annotated[int, typer.Option(min=1, help="concurrent connections")] = 32,
    stored_leads: Annotated[
        int,
        typer.Option(
            min=0, help="leads stored before the exchange is loaded again, for the growth ratio; 0 skips it"
        ),
    ] = 1_000_000,
    database_url: DatabaseUrl = None,
    json_only: JsonOnly = False,
) -> None:
    """Print intake leads/s of the exchange and of a bare endpoint, and their ratio; and the
    exchange's rate with many leads stored against its rate on an empty database."""
    prepare_run(database_url)
    report = run_benchmark(
        seconds=seconds,
        warmup=warmup,
        connections=connections,
        database_url=database_url,
        quiet=json_only,
        stored_leads=stored_leads,
    )
    if not json_only:
        print(format_table(report))
    print(json.dumps(report))
    if runs_that_failed(intake_runs(report)):
        raise typer.Exit(1)


if __name__ == "__main__":
    cli()
