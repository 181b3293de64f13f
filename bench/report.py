"""The benchmark's figures: one dictionary for machines, a table for people.

The ratio exchange/bare is the figure that matters; absolute rates depend on the machine.
The growth ratio says whether the exchange keeps its rate once its tables are big.
"""

from __future__ import annotations

import os
import platform
from typing import Any, NamedTuple

from bench.load import LoadResult

TARGET_RATIO = 0.6
TARGET_RSS_MB = 200.0
TARGET_GROWTH_RATIO = 0.9


class Measured(NamedTuple):
    load: LoadResult
    # The server's CPU over the whole load (warm-up included): its share of one core, and
    # per answered request, which other work on the machine barely changes.
    server_cpu_percent: float | None
    server_cpu_ms_per_request: float | None


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def server_figures(measured: Measured, peak_rss_mb: float | None) -> dict[str, Any]:
    result = measured.load
    return {
        "requests_per_second": round(result.rate, 1),
        "requests": result.requests,
        "errors": result.errors,
        "first_error": result.first_error,
        "p50_ms": _round(result.p50_ms),
        "p99_ms": _round(result.p99_ms),
        # Near 100 on either side names the bottleneck: the server, or the load generator.
        "server_cpu_percent": _round(measured.server_cpu_percent, 1),
        "server_cpu_ms_per_request": _round(measured.server_cpu_ms_per_request, 3),
        "client_cpu_percent": round(result.client_cpu_percent, 1),
        "peak_rss_mb": _round(peak_rss_mb, 1),
    }


def _cpu_ratio(bare: dict[str, Any], exchange: dict[str, Any]) -> float | None:
    bare_ms, exchange_ms = bare["server_cpu_ms_per_request"], exchange["server_cpu_ms_per_request"]
    return round(bare_ms / exchange_ms, 3) if bare_ms and exchange_ms else None


def growth_figures(
    *,
    stored_leads: int,
    seed_seconds: float,
    database_mb: float | None,
    empty: dict[str, Any],
    grown: dict[str, Any],
) -> dict[str, Any]:
    """The exchange loaded again with `stored_leads` in its database, against its empty run."""
    empty_rate, grown_rate = empty["requests_per_second"], grown["requests_per_second"]
    return {
        "stored_leads": stored_leads,
        "seed_seconds": round(seed_seconds, 1),
        "database_mb": _round(database_mb, 1),
        "exchange": grown,
        # Like the main ratio: from the rounded rates, and by CPU per request beside it.
        "ratio": round(grown_rate / empty_rate, 3) if empty_rate else None,
        "cpu_ratio": _cpu_ratio(empty, grown),
    }


def build_report(
    *,
    bare: dict[str, Any],
    exchange: dict[str, Any],
    seconds: float,
    warmup: float,
    connections: int,
    database: str,
    load_before: float,
    growth: dict[str, Any] | None = None,
) -> dict[str, Any]:
    bare_rate, exchange_rate = bare["requests_per_second"], exchange["requests_per_second"]
    return {
        "machine": {
            "nproc": os.cpu_count(),
            # Other work on the machine skews both rates: the 1-minute load before the run.
            "load_average_before": round(load_before, 2),
            "python": platform.python_version(),
            "load_generator": "same machine, one process",
        },
        "settings": {
            "seconds": seconds,
            "warmup": warmup,
            "connections": connections,
            "server": "uvicorn, 1 worker",
            "database": database,
            "mode": "async",
        },
        "bare": bare,
        "exchange": exchange,
        # From the rounded rates, so a reader can check it from the same JSON.
        "ratio": round(exchange_rate / bare_rate, 3) if bare_rate else None,
        # The same comparison by server CPU per request: what the ratio would be if each
        # server had a core to itself, and steadier when other work shares the machine.
        "cpu_ratio": _cpu_ratio(bare, exchange),
        # None when the run skipped it (--stored-leads 0).
        "growth": growth,
        "targets": {
            "ratio": TARGET_RATIO,
            "exchange_peak_rss_mb": TARGET_RSS_MB,
            "growth_ratio": TARGET_GROWTH_RATIO,
        },
    }


def _cell(value: Any, suffix: str = "") -> str:
    return "-" if value is None else f"{value}{suffix}"


def grown_name(growth: dict[str, Any]) -> str:
    return f"exchange ({growth['stored_leads']:,} stored)"


def format_table(report: dict[str, Any]) -> str:
    s, m, growth = report["settings"], report["machine"], report.get("growth")
    rows = [("bare", report["bare"]), ("exchange", report["exchange"])]
    if growth is not None:
        rows.append((grown_name(growth), growth["exchange"]))
    width = max(10, *(len(name) + 2 for name, _ in rows))
    lines = [
        f"intake benchmark: {s['seconds']} s after {s['warmup']} s warm-up, {s['connections']} connections,"
        f" {s['server']}, {s['database']}, mode={s['mode']}",
        f"machine: nproc {m['nproc']}, Python {m['python']}, load generator on the same machine,"
        f" load average before {m['load_average_before']}",
        "",
        f"{'server':<{width}}{'leads/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}"
        f"{'server CPU':>12}{'CPU ms/req':>12}{'client CPU':>12}{'peak RSS':>11}",
    ]
    for name, row in rows:
        lines.append(
            f"{name:<{width}}{row['requests_per_second']:>10.1f}"
            f"{_cell(row['p50_ms']):>9}{_cell(row['p99_ms']):>9}{row['errors']:>8}"
            f"{_cell(row['server_cpu_percent'], '%'):>12}{_cell(row['server_cpu_ms_per_request']):>12}"
            f"{_cell(row['client_cpu_percent'], '%'):>12}"
            f"{_cell(row['peak_rss_mb'], ' MB'):>11}"
        )
    targets = report["targets"]
    lines += [
        "",
        f"ratio exchange/bare: {_cell(report['ratio'])} (target {targets['ratio']});"
        f" by server CPU per request: {_cell(report['cpu_ratio'])}",
        f"exchange peak RSS: {_cell(report['exchange']['peak_rss_mb'], ' MB')}"
        f" (target <= {targets['exchange_peak_rss_mb']:.0f} MB);"
        f" distribution still owed at the end: {report['exchange'].get('outbox_backlog', '-')} leads",
    ]
    if growth is not None:
        lines += [
            f"growth ratio {grown_name(growth)}/exchange: {_cell(growth['ratio'])}"
            f" (target {targets['growth_ratio']}); by server CPU per request: {_cell(growth['cpu_ratio'])}",
            f"seeding {growth['stored_leads']:,} leads took {growth['seed_seconds']} s;"
            f" database {_cell(growth['database_mb'], ' MB')};"
            f" distribution still owed at the end: {growth['exchange'].get('outbox_backlog', '-')} leads",
        ]
    return "\n".join(lines)
