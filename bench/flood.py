"""`python -m bench.flood`: one publisher floods, another's leads are still taken as sent.

One exchange (SQLite, a fresh database) with rate limits on, two publishers:

- `quiet` posts at a steady `--pace` leads/s (under its limit), as a real publisher does;
- `flood` has a limit of its own (`--flood-limit`/s) and posts as fast as `--flood-connections`
  connections are answered.

First `quiet` alone, then `quiet` while `flood` floods. The figures: `quiet`'s rate and
latency in each phase (the second publisher's rate, the point of the limits), and what the
flood got (leads taken a second, 429s a second). Both load generators and the server share
this machine's cores, so the flood's 429s still cost CPU; the ratio is measured in one run.
"""

from __future__ import annotations

import json
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated

import typer

from bench.load import LoadConfig, LoadResult, load_in_subprocess
from bench.servers import create_publisher, start_exchange, stop_server, wait_healthy

ADMIN_KEY = "bench-admin-key"
cli = typer.Typer(add_completion=False)


def _line(name: str, result: LoadResult) -> dict[str, object]:
    taken = result.requests / result.seconds
    return {
        "publisher": name,
        "taken_per_second": round(taken, 1),
        "limited_per_second": round(result.limited / result.seconds, 1),
        "other_errors": result.errors - result.limited,
        "p50_ms": None if result.p50_ms is None else round(result.p50_ms, 2),
        "p99_ms": None if result.p99_ms is None else round(result.p99_ms, 2),
    }


@cli.command()
def main(
    seconds: Annotated[float, typer.Option(help="each phase's measured time")] = 10.0,
    pace: Annotated[float, typer.Option(help="the quiet publisher's leads a second")] = 100.0,
    flood_limit: Annotated[float, typer.Option(help="the flooding publisher's own limit, a second")] = 50.0,
    flood_connections: Annotated[int, typer.Option(help="the flood's concurrent connections")] = 64,
    json_out: Annotated[bool, typer.Option("--json", help="print the figures as JSON")] = False,
) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-flood-") as tmp:
        work = Path(tmp)
        limits = {"EXCHANGE_RATE_PER_SECOND": "500", "EXCHANGE_RATE_BURST": "1000"}
        server = start_exchange(f"sqlite:///{work / 'flood.db'}", ADMIN_KEY, work, extra_env=limits)
        try:
            wait_healthy(server)
            quiet_key = create_publisher(server, ADMIN_KEY)
            flood_key = create_publisher(
                server, ADMIN_KEY, rate_limit={"per_second": flood_limit, "burst": int(flood_limit)}
            )

            def quiet(first: int) -> LoadResult:
                config = LoadConfig(
                    url=server.url,
                    api_key=quiet_key,
                    seconds=seconds,
                    warmup=1.0,
                    connections=8,
                    first_lead=first,
                    pace_per_second=pace,
                )
                return load_in_subprocess(config)

            def flood() -> LoadResult:
                config = LoadConfig(
                    url=server.url,
                    api_key=flood_key,
                    seconds=seconds,
                    warmup=1.0,
                    connections=flood_connections,
                    first_lead=50_000_000,
                )
                return load_in_subprocess(config)

            alone = quiet(0)
            with ThreadPoolExecutor(2) as pool:
                flooding = pool.submit(flood)
                beside = pool.submit(quiet, 10_000_000)
                flooded, during = flooding.result(), beside.result()
        finally:
            stop_server(server)
    figures = {
        "quiet_alone": _line("quiet", alone),
        "quiet_during_flood": _line("quiet", during),
        "flood": _line("flood", flooded),
        "quiet_rate_kept": round(during.requests / alone.requests, 3) if alone.requests else None,
        "pace": pace,
        "flood_limit": flood_limit,
    }
    if json_out:
        print(json.dumps(figures, indent=2))
        return
    print(f"quiet publisher paced at {pace:.0f}/s; flooding publisher limited to {flood_limit:.0f}/s")
    print(f"{'phase':<22}{'taken/s':>10}{'429/s':>10}{'errors':>8}{'p50 ms':>9}{'p99 ms':>9}")
    for phase, line in (
        ("quiet alone", figures["quiet_alone"]),
        ("quiet during flood", figures["quiet_during_flood"]),
        ("flood", figures["flood"]),
    ):
        print(
            f"{phase:<22}{line['taken_per_second']:>10}{line['limited_per_second']:>10}{line['other_errors']:>8}"
            f"{line['p50_ms'] or '-':>9}{line['p99_ms'] or '-':>9}"
        )
    print(f"the quiet publisher kept {figures['quiet_rate_kept']:.1%} of its rate during the flood")


if __name__ == "__main__":
    cli()
