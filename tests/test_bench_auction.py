"""The auction benchmark end to end: bidders, exchange, raw client, and figures a machine can read."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from exchange.bench.bidders import bid_price

ROOT = Path(__file__).resolve().parents[1]


def test_bidders_bid_different_prices() -> None:
    prices = [bid_price(index) for index in range(20)]
    assert len(set(prices)) == 20
    assert min(prices) > 0


def test_auction_benchmark_runs_end_to_end_and_reports_json() -> None:
    argv = "--light-seconds 1 --seconds 1 --warmup 0.3 --connections 4 --json".split()
    run = subprocess.run(
        [sys.executable, "-m", "exchange.bench.auction", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    light, saturation, baseline = report["light"], report["saturation"], report["baseline"]

    assert light["auctions"] > 0
    assert saturation["auctions_per_second"] > 0
    assert baseline["requests_per_second"] > 0
    assert baseline["requests_per_auction"] == 21
    assert baseline["ceiling_auctions_per_second"] == pytest.approx(
        baseline["requests_per_second"] / 21, abs=0.05
    )
    assert report["ratio"] == pytest.approx(
        saturation["auctions_per_second"] / baseline["ceiling_auctions_per_second"], abs=0.0005
    )
    for field in ("p50_ms", "p99_ms", "overhead_p50_ms", "overhead_p99_ms"):
        assert isinstance(light[field], int | float), field
    assert light["overhead_p99_ms"] == report["overhead_p99_ms"]
    # The bare client's fan-out is the floor under the exchange's light-load answer.
    floor_p50, floor_p99 = light["bare_fanout_overhead_p50_ms"], light["bare_fanout_overhead_p99_ms"]
    assert isinstance(floor_p50, int | float) and isinstance(floor_p99, int | float)
    assert 0 <= floor_p50 <= floor_p99
    assert light["bare_fanout_errors"] == 0, light["bare_fanout_first_error"]
    # Every answer was a sale, and no request failed anywhere.
    for row in (light, saturation, baseline):
        assert row["errors"] == 0, row["first_error"]
    assert light["not_sold"] == 0 and saturation["not_sold"] == 0
    assert report["exchange_peak_rss_mb"] > 0
