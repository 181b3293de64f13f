"""Every target of the performance issue in one table: the intake and auction reports side by side.

`python -m bench.summary` runs both benchmarks (intake with its growth run, then
auctions) and prints one row per figure, with its baseline and target, then the JSON of
all three: the summary and both full reports.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from bench.__main__ import intake_runs, run_benchmark
from bench.auction import auction_runs, run_auction_benchmark
from bench.servers import DatabaseUrl, prepare_run, runs_that_failed

cli = typer.Typer(add_completion=False)


def _met(value: float | None, target: float, *, at_most: bool = False) -> bool | None:
    if value is None:
        return None
    return value <= target if at_most else value >= target


def summarize(intake: dict[str, Any], auction: dict[str, Any]) -> dict[str, Any]:
    """The five figures, each {measured, baseline, target, met}; `met` is None when not measured."""
    growth = intake.get("growth")
    bare, exchange = intake["bare"], intake["exchange"]
    light, saturation, raw = auction["light"], auction["saturation"], auction["baseline"]
    peaks = [
        rss
        for rss in (
            exchange.get("peak_rss_mb"),
            (growth or {}).get("exchange", {}).get("peak_rss_mb"),
            auction.get("exchange_peak_rss_mb"),
        )
        if rss is not None
    ]
    peak = max(peaks) if peaks else None
    figures = {
        "intake": {
            "measured": intake["ratio"],
            "detail": f"{exchange['requests_per_second']} leads/s; CPU ratio {intake['cpu_ratio']}",
            "baseline": f"bare endpoint {bare['requests_per_second']} leads/s",
            "target": ">= 0.6",
            "met": _met(intake["ratio"], 0.6),
        },
        "auction_overhead_p99_ms": {
            "measured": light["overhead_p99_ms"],
            "detail": f"p50 {light['overhead_p50_ms']} ms, one auction at a time",
            "baseline": f"bidders answer in {auction['settings']['bid_delay_ms']} ms; the bare client's"
            f" fan-out alone adds p50 {light['bare_fanout_overhead_p50_ms']},"
            f" p99 {light['bare_fanout_overhead_p99_ms']} ms",
            "target": "<= 10 ms",
            "met": _met(light["overhead_p99_ms"], 10.0, at_most=True),
        },
        "auction_throughput": {
            "measured": auction["ratio"],
            "detail": f"{saturation['auctions_per_second']} auctions/s",
            "baseline": (
                f"client {raw['requests_per_second']} requests/s ÷ {raw['requests_per_auction']}"
                f" = {raw['ceiling_auctions_per_second']} auctions/s"
            ),
            "target": ">= 0.5",
            "met": _met(auction["ratio"], 0.5),
        },
        "growth": {
            "measured": growth["ratio"] if growth else None,
            "detail": (
                f"{growth['exchange']['requests_per_second']} leads/s with {growth['stored_leads']:,} stored"
                if growth
                else "not measured (--stored-leads 0)"
            ),
            "baseline": f"empty database {exchange['requests_per_second']} leads/s",
            "target": ">= 0.9",
            "met": _met(growth["ratio"], 0.9) if growth else None,
        },
        "memory_peak_rss_mb": {
            "measured": peak,
            "detail": "highest peak RSS of the exchange over every run",
            "baseline": f"bare endpoint {bare.get('peak_rss_mb')} MB",
            "target": "<= 200 MB",
            "met": _met(peak, 200.0, at_most=True),
        },
    }
    return figures


def format_summary(figures: dict[str, Any]) -> str:
    def met(value: bool | None) -> str:
        return "-" if value is None else ("yes" if value else "no")

    lines = [f"{'figure':<26}{'measured':>10}  {'target':<10}{'met':<5}baseline; detail"]
    for name, row in figures.items():
        measured = "-" if row["measured"] is None else str(row["measured"])
        lines.append(
            f"{name:<26}{measured:>10}  {row['target']:<10}{met(row['met']):<5}"
            f"{row['baseline']}; {row['detail']}"
        )
    return "\n".join(lines)


@cli.command()
def summary(
    seconds: Annotated[float, typer.Option(min=0.1, help="measured duration of each loaded run")] = 10.0,
    warmup: Annotated[float, typer.Option(min=0.0, help="uncounted load before measuring")] = 2.0,
    stored_leads: Annotated[int, typer.Option(min=0, help="leads stored for the growth run")] = 1_000_000,
    database_url: DatabaseUrl = None,
) -> None:
    """Run the intake (with growth) and auction benchmarks; print every figure against its target."""
    prepare_run(database_url)
    say = sys.stderr
    print("intake ...", file=say, flush=True)
    intake = run_benchmark(
        seconds=seconds,
        warmup=warmup,
        connections=32,
        database_url=database_url,
        quiet=True,
        stored_leads=stored_leads,
    )
    print("auctions ...", file=say, flush=True)
    auction = run_auction_benchmark(
        # One auction at a time answers ~17 a second: three times as long gives the p99
        # some 500 answers to be read from at the default 10 s.
        light_seconds=3 * seconds,
        seconds=seconds,
        warmup=warmup,
        connections=32,
        bid_delay_ms=50.0,
        database_url=database_url,
        quiet=True,
    )
    figures = summarize(intake, auction)
    print(format_summary(figures))
    print(json.dumps({"summary": figures, "intake": intake, "auction": auction}))
    runs = {f"intake {n}": r for n, r in intake_runs(intake).items()}
    runs.update({f"auction {n}": r for n, r in auction_runs(auction).items()})
    if runs_that_failed(runs):
        raise typer.Exit(1)


if __name__ == "__main__":
    cli()
