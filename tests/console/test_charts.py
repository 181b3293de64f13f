"""The console's charts as SVG text: round scales, empty data, one point, negative values."""

from __future__ import annotations

import re

from exchange.console.charts import (
    MARGIN_TOP,
    PLOT_HEIGHT,
    horizontal_bars,
    line_chart,
    nice_ceiling,
    stacked_bars,
)

BOTTOM = MARGIN_TOP + PLOT_HEIGHT


def floats(svg: str, element: str, attribute: str) -> list[float]:
    return [float(v) for v in re.findall(rf'<{element}[\s/>][^>]*?\s{attribute}="([-0-9.]+)"', svg)]


def test_the_axis_top_is_a_round_number_at_or_above_the_largest_value() -> None:
    assert [nice_ceiling(v) for v in (1, 7, 10, 11, 23, 240, 0.3, 4100)] == [
        1,
        10,
        10,
        20,
        25,
        250,
        0.5,
        5000,
    ]
    assert nice_ceiling(0) == 1.0


def test_stacked_bars_stack_each_series_on_the_one_before_to_scale() -> None:
    svg = stacked_bars("Leads per hour", ["00", "01"], [("sold", [5, 0]), ("rejected", [5, 10])])
    # The tallest bar is 10 on an axis topped at 10: the whole plot's height.
    heights = floats(svg, "rect", "height")[:3]
    assert heights == [PLOT_HEIGHT / 2, PLOT_HEIGHT / 2, PLOT_HEIGHT]
    tops = floats(svg, "rect", "y")[:3]
    assert tops == [BOTTOM - PLOT_HEIGHT / 2, MARGIN_TOP, MARGIN_TOP]
    assert "<title>00 sold: 5</title>" in svg and "01 sold" not in svg  # a zero draws nothing


def test_every_chart_is_labelled_for_screen_readers() -> None:
    for svg in (
        stacked_bars("Leads & hours", ["a"], [("sold", [1])]),
        horizontal_bars("Leads & hours", ["a"], [("sold", [1])]),
        line_chart("Leads & hours", ["a"], [("sold", [1])]),
    ):
        assert svg.startswith("<svg") and svg.endswith("</svg>")
        assert 'role="img" aria-label="Leads &amp; hours"' in svg
        assert "<title>Leads &amp; hours</title>" in svg


def test_empty_data_draws_a_labelled_chart_saying_so() -> None:
    for svg in (
        stacked_bars("Nothing", [], []),
        horizontal_bars("Nothing", [], [("rate", [])]),
        line_chart("Nothing", ["a"], []),
    ):
        assert "<title>Nothing</title>" in svg and "No data" in svg
        assert "<rect" not in svg and "<circle" not in svg


def test_all_zero_values_keep_a_finite_scale() -> None:
    svg = stacked_bars("Quiet", ["00", "01"], [("sold", [0, 0])])
    assert "nan" not in svg.lower() and "inf" not in svg.lower()
    line = line_chart("Flat", ["a", "b"], [("margin", [0, 0])])
    assert set(floats(line, "circle", "cy")) == {BOTTOM}


def test_one_point_is_a_dot_in_the_middle_without_a_line() -> None:
    svg = line_chart("One day", ["03-14"], [("revenue", [2500])])
    assert "<polyline" not in svg
    assert floats(svg, "circle", "cy") == [MARGIN_TOP]  # 2500 on an axis topped at 2500
    (cx,) = floats(svg, "circle", "cx")
    assert 200 < cx < 440


def test_negative_values_fall_below_the_zero_line() -> None:
    svg = line_chart("Margin", ["a", "b", "c"], [("margin", [100, -50, 0])])
    (zero,) = floats(svg, 'line class="zero"', "y1")
    high, low, nought = floats(svg, "circle", "cy")
    # From +100 to -50: an axis from -50 to 100, zero a third of the way up.
    assert high == MARGIN_TOP and low == BOTTOM
    assert nought == zero == round(BOTTOM - PLOT_HEIGHT / 3, 1)
    assert "<polyline" in svg


def test_horizontal_bars_grow_to_their_share_of_the_maximum() -> None:
    svg = horizontal_bars(
        "Rates",
        ["pub / a", "pub / b"],
        [("sell-through", [0.5, 1.0]), ("return rate", [0.25, 0.0])],
        maximum=1.0,
    )
    widths = floats(svg, 'rect class="bar"', "width")
    # Bars go label by label: a's sell-through and return rate, then b's.
    assert widths[0] == widths[2] / 2 and widths[1] == widths[2] / 4 and widths[3] == 0
    assert "<title>pub / a return rate: 0.25</title>" in svg
