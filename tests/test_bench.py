"""The benchmarks, run as an operator runs them (`python -m bench.summary` from the repository
root), with tiny loads: both reports and the summary come out whole and consistent, no run
failed, and the leads the growth run stored are the exchange's own (a stored person posted
again is a duplicate)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_summary_runs_both_benchmarks_and_judges_every_target() -> None:
    argv = "--seconds 1 --warmup 0.3 --stored-leads 2000".split()
    run = subprocess.run(
        [sys.executable, "-m", "bench.summary", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    table, _, last = run.stdout.rstrip().rpartition("\n")
    report = json.loads(last)
    summary, intake, auction = report["summary"], report["intake"], report["auction"]

    bare, exchange, growth = intake["bare"], intake["exchange"], intake["growth"]
    for row in (bare, exchange, growth["exchange"]):
        assert row["requests_per_second"] > 0 and row["errors"] == 0
        assert row["server_cpu_ms_per_request"] > 0 and row["p50_ms"] <= row["p99_ms"]
    assert intake["ratio"] == pytest.approx(
        exchange["requests_per_second"] / bare["requests_per_second"], abs=0.0005
    )
    assert growth["stored_leads"] == 2000 and growth["database_mb"] > 0
    assert growth["ratio"] == pytest.approx(
        growth["exchange"]["requests_per_second"] / exchange["requests_per_second"], abs=0.0005
    )
    assert growth["exchange"]["seeded_person_status"] == 409

    light, saturation, baseline = auction["light"], auction["saturation"], auction["baseline"]
    assert light["auctions"] > 0 and saturation["auctions_per_second"] > 0
    assert light["not_sold"] == 0 and saturation["not_sold"] == 0
    assert baseline["requests_per_auction"] == 21
    assert auction["ratio"] == pytest.approx(
        saturation["auctions_per_second"] / baseline["ceiling_auctions_per_second"], abs=0.0005
    )
    assert 0 <= light["bare_fanout_overhead_p50_ms"] <= light["bare_fanout_overhead_p99_ms"]

    assert summary["intake"]["measured"] == intake["ratio"]
    assert summary["growth"]["measured"] == growth["ratio"]
    assert summary["auction_overhead_p99_ms"]["measured"] == light["overhead_p99_ms"]
    assert summary["auction_throughput"]["measured"] == auction["ratio"]
    peaks = [exchange["peak_rss_mb"], growth["exchange"]["peak_rss_mb"], auction["exchange_peak_rss_mb"]]
    assert summary["memory_peak_rss_mb"]["measured"] == max(peaks)
    for name, row in summary.items():
        assert name in table and row["met"] in (True, False)


@pytest.mark.slow
def test_the_channels_benchmark_measures_batch_email_and_leads() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "bench.channels", "--rows", "300", "--seconds", "0.5", "--connections", "4"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout.rstrip().rpartition("\n")[2])
    assert report["batch"]["rows"] == 300 and report["batch"]["rows_per_second"] > 0
    assert report["batch"]["peak_rss_mb"] > 0
    assert report["email"]["messages"] > 0 and report["email"]["errors"] == 0
    assert report["leads"]["leads_per_second"] > 0 and report["leads"]["errors"] == 0


@pytest.mark.slow
def test_the_flood_benchmark_limits_the_flood_and_keeps_the_quiet_publishers_leads() -> None:
    argv = "--seconds 2 --pace 40 --flood-limit 20 --flood-connections 16 --json".split()
    run = subprocess.run(
        [sys.executable, "-m", "bench.flood", *argv], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr
    figures = json.loads(run.stdout)
    flood, alone, during = figures["flood"], figures["quiet_alone"], figures["quiet_during_flood"]
    # The flood is cut to its limit (its burst is spent in the warm-up) and told so with 429s.
    assert flood["limited_per_second"] > 0
    assert flood["taken_per_second"] <= 20 * 1.5
    # The quiet publisher is never limited, and its leads are all taken.
    for quiet in (alone, during):
        assert quiet["limited_per_second"] == 0 and quiet["other_errors"] == 0
        assert quiet["taken_per_second"] > 0
