"""The one-table summary: each target judged from the intake and auction reports."""

from __future__ import annotations

from typing import Any

from exchange.bench.servers import runs_that_failed
from exchange.bench.summary import format_summary, summarize


def _reports(*, growth: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    intake = {
        "ratio": 0.25,
        "cpu_ratio": 0.2,
        "bare": {"requests_per_second": 4000.0, "peak_rss_mb": 50.0},
        "exchange": {"requests_per_second": 1000.0, "peak_rss_mb": 150.0},
        "growth": growth,
    }
    auction = {
        "settings": {"bid_delay_ms": 50.0},
        "light": {
            "overhead_p50_ms": 8.0,
            "overhead_p99_ms": 9.5,
            "bare_fanout_overhead_p50_ms": 3.5,
            "bare_fanout_overhead_p99_ms": 6.25,
        },
        "saturation": {"auctions_per_second": 60.0},
        "baseline": {
            "requests_per_second": 2100.0,
            "requests_per_auction": 21,
            "ceiling_auctions_per_second": 100.0,
        },
        "ratio": 0.6,
        "exchange_peak_rss_mb": 210.0,
    }
    return intake, auction


def test_each_figure_is_judged_against_its_target() -> None:
    growth = {"ratio": 0.95, "stored_leads": 1_000_000, "exchange": {"requests_per_second": 950.0}}
    figures = summarize(*_reports(growth=growth))
    assert {name: row["met"] for name, row in figures.items()} == {
        "intake": False,
        "auction_overhead_p99_ms": True,
        "auction_throughput": True,
        "growth": True,
        "memory_peak_rss_mb": False,  # the highest peak of every run counts: the auction's 210
    }
    assert figures["memory_peak_rss_mb"]["measured"] == 210.0
    assert "fan-out alone adds p50 3.5, p99 6.25 ms" in figures["auction_overhead_p99_ms"]["baseline"]
    table = format_summary(figures)
    assert "growth" in table and "1,000,000 stored" in table


def test_a_skipped_growth_run_is_not_judged() -> None:
    figures = summarize(*_reports(growth=None))
    assert figures["growth"]["measured"] is None and figures["growth"]["met"] is None
    assert "not measured" in format_summary(figures)


def test_a_run_with_errors_unsold_auctions_or_logged_tracebacks_fails() -> None:
    runs = {
        "clean": {"errors": 0, "first_error": None, "logged_errors": 0},
        "refused": {"errors": 2, "first_error": "HTTP 422"},
        "unsold": {"errors": 0, "not_sold": 1, "first_error": "status 'unsold'"},
        "logged": {"logged_errors": 1, "first_logged_error": "Traceback ..."},
    }
    assert runs_that_failed(runs) == ["refused", "unsold", "logged"]
