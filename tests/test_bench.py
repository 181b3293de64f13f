"""The intake benchmark end to end: both servers, a tiny load, and figures a machine can read."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import phonenumbers
import pytest

from exchange.bench.leads import AREA_CODES, CAPACITY, bench_lead, bench_phone
from exchange.bench.load import LoadResult, percentile
from exchange.bench.report import Measured, build_report, format_table, growth_figures, server_figures

ROOT = Path(__file__).resolve().parents[1]


def test_benchmark_numbers_are_distinct_valid_us_phones() -> None:
    samples = [0, 1, 7, 8, 799, 6399, 6400, 123_456, CAPACITY - 1]
    samples += [n * len(AREA_CODES) + i for n in range(800) for i in range(len(AREA_CODES))]
    phones = [bench_phone(n) for n in samples]
    assert len(set(phones)) == len(set(samples))
    for phone in phones:
        number = phonenumbers.parse(phone, "US")
        assert phonenumbers.is_valid_number(number), phone
    with pytest.raises(ValueError):
        bench_phone(CAPACITY)


def test_benchmark_leads_differ_in_phone_and_email() -> None:
    leads = [bench_lead(n) for n in range(1000)]
    assert len({lead["phone"] for lead in leads}) == 1000
    assert len({lead["email"] for lead in leads}) == 1000


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile([3.0], 99) == 3.0
    assert percentile([], 50) is None


def _figures(rate: float, cpu_ms: float) -> dict[str, Any]:
    load = LoadResult(
        requests=int(rate),
        answered=int(rate),
        seconds=1.0,
        errors=0,
        first_error=None,
        p50_ms=1.0,
        p99_ms=2.0,
        client_cpu_percent=10.0,
    )
    return server_figures(Measured(load, 50.0, cpu_ms), 100.0)


def test_growth_is_a_third_row_and_a_ratio_only_when_measured() -> None:
    bare, empty, grown = _figures(1000, 0.5), _figures(400, 2.0), _figures(300, 2.5)
    common: dict[str, Any] = {
        "seconds": 1.0,
        "warmup": 0.3,
        "connections": 4,
        "database": "sqlite",
        "load_before": 0.5,
    }
    growth = growth_figures(
        stored_leads=1_000_000, seed_seconds=95.04, database_mb=2504.7, empty=empty, grown=grown
    )
    assert growth["ratio"] == 0.75 and growth["cpu_ratio"] == 0.8
    with_growth = build_report(bare=bare, exchange=empty, growth=growth, **common)
    assert with_growth["targets"]["growth_ratio"] == 0.9
    table = format_table(with_growth)
    assert "exchange (1,000,000 stored)" in table and "growth ratio" in table and "(target 0.9)" in table
    without = build_report(bare=bare, exchange=empty, **common)
    assert without["growth"] is None and "growth ratio" not in format_table(without)


def test_benchmark_runs_end_to_end_and_reports_json() -> None:
    argv = "--seconds 1 --warmup 0.3 --connections 4 --stored-leads 2000 --json".split()
    run = subprocess.run(
        [sys.executable, "-m", "exchange.bench", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    bare, exchange = report["bare"], report["exchange"]
    assert bare["requests_per_second"] > 0
    assert exchange["requests_per_second"] > 0
    assert bare["errors"] == 0 and exchange["errors"] == 0
    assert report["ratio"] == pytest.approx(
        exchange["requests_per_second"] / bare["requests_per_second"], abs=0.0005
    )
    assert exchange["peak_rss_mb"] > 0
    assert bare["server_cpu_ms_per_request"] > 0 and exchange["server_cpu_ms_per_request"] > 0
    assert exchange["p50_ms"] <= exchange["p99_ms"]
    assert report["settings"]["connections"] == 4

    growth = report["growth"]
    grown = growth["exchange"]
    assert growth["stored_leads"] == 2000
    assert growth["seed_seconds"] >= 0 and growth["database_mb"] > 0
    assert grown["requests_per_second"] > 0 and grown["errors"] == 0 and grown["logged_errors"] == 0
    assert grown["server_cpu_ms_per_request"] > 0 and grown["p50_ms"] <= grown["p99_ms"]
    assert growth["ratio"] > 0 and growth["cpu_ratio"] > 0
    assert growth["ratio"] == pytest.approx(
        grown["requests_per_second"] / exchange["requests_per_second"], abs=0.0005
    )
    assert report["targets"]["growth_ratio"] == 0.9
