"""The intake benchmark end to end: both servers, a tiny load, and figures a machine can read."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import phonenumbers
import pytest

from exchange.bench.leads import AREA_CODES, CAPACITY, bench_lead, bench_phone
from exchange.bench.load import percentile

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


def test_benchmark_runs_end_to_end_and_reports_json() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "exchange.bench", *"--seconds 1 --warmup 0.3 --connections 4 --json".split()],
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
