"""The SVG chart builders: geometry proportional to the data, empty input, escaping."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import date, timedelta

import pytest

from healthscore.charts.bars import Bar, bar_chart, stacked_bar
from healthscore.charts.lines import sparkline
from healthscore.charts.scores import (
    TIER_NAMES,
    Bands,
    histogram_bins,
    history_chart,
    meter_rows,
    score_histogram,
    tier_breakdown,
)
from healthscore.charts.svg import responsive

SVG = "{http://www.w3.org/2000/svg}"


def parse(markup: str) -> ET.Element:
    """Every chart must be well-formed XML (it is inlined into HTML as-is)."""
    return ET.fromstring(str(markup))


def bars(root: ET.Element) -> list[ET.Element]:
    return [r for r in root.iter(f"{SVG}rect") if "bar" in r.get("class", "").split()]


def test_bar_heights_are_proportional_and_the_tallest_fills_the_plot():
    svg = parse(
        bar_chart(
            [Bar("a", 10), Bar("b", 20), Bar("c", 40)],
            label="test",
            height=200,
        )
    )
    heights = [float(r.get("height", "0")) for r in bars(svg)]
    assert heights[1] == pytest.approx(2 * heights[0])
    assert heights[2] == pytest.approx(4 * heights[0])
    assert heights[2] == pytest.approx(200 - 20 - 24)  # plot area between the margins
    # Bars stand on a common baseline.
    bottoms = {round(float(r.get("y", "0")) + float(r.get("height", "0")), 2) for r in bars(svg)}
    assert len(bottoms) == 1
    assert [r.get("data-value") for r in bars(svg)] == ["10", "20", "40"]


@pytest.mark.parametrize("data", [[], [Bar("a", 0), Bar("b", 0)]])
def test_bar_chart_without_data_draws_an_empty_state(data):
    markup = bar_chart(data, label="Accounts", empty="No scores yet")
    svg = parse(markup)
    assert bars(svg) == []
    assert "No scores yet" in markup
    assert svg.get("role") == "img" and "No scores yet" in svg.get("aria-label", "")


def test_labels_are_escaped():
    markup = bar_chart([Bar("<script>x</script>", 3)], label='a "quoted" <label>')
    assert "<script>" not in markup
    assert "&lt;script&gt;" in markup
    parse(markup)


def test_tier_breakdown_has_one_bar_per_tier_in_severity_order_with_tier_classes():
    counts = {"healthy": 5, "monitor": 4, "at_risk": 3, "critical": 2, "churned": 1}
    svg = parse(tier_breakdown(counts))
    found = bars(svg)
    assert [r.get("class") for r in found] == [f"bar tier-{t}" for t in TIER_NAMES]
    assert [r.get("data-value") for r in found] == ["5", "4", "3", "2", "1"]
    assert "Healthy 5" in svg.get("aria-label", "")


def test_histogram_bins_put_100_in_the_top_bin_and_keep_every_account():
    counts = {0: 1, 9: 2, 10: 3, 55: 4, 99: 5, 100: 6}
    bins = histogram_bins(counts)
    assert len(bins) == 10
    assert sum(bins) == sum(counts.values())
    assert bins[0] == 3 and bins[1] == 3 and bins[5] == 4 and bins[9] == 11


def test_score_histogram_colours_bins_by_the_tier_they_start_in():
    bands = Bands(healthy=70, monitor=50, at_risk=30)
    svg = parse(score_histogram([1] * 10, bands))
    classes = [r.get("class", "").split()[-1] for r in bars(svg)]
    assert classes[:3] == ["tier-critical"] * 3
    assert classes[3:5] == ["tier-at_risk"] * 2
    assert classes[5:7] == ["tier-monitor"] * 2
    assert classes[7:] == ["tier-healthy"] * 3


def test_bands_classify_on_inclusive_lower_bounds():
    bands = Bands(healthy=70, monitor=50, at_risk=30)
    assert [bands.tier(s) for s in (0, 29.9, 30, 49, 50, 69, 70, 100)] == [
        "critical",
        "critical",
        "at_risk",
        "at_risk",
        "monitor",
        "monitor",
        "healthy",
        "healthy",
    ]


def test_meter_rows_scale_to_the_maximum_and_clamp():
    svg = parse(meter_rows([("a", 25), ("b", 50), ("c", 150)], label="components", width=400))
    widths = [float(r.get("width", "0")) for r in bars(svg)]
    assert widths[1] == pytest.approx(2 * widths[0])
    assert widths[2] == pytest.approx(4 * widths[0])  # 150 is drawn as 100
    assert bars(parse(meter_rows([], label="components"))) == []


def test_stacked_bar_shares_add_up_to_the_full_width():
    svg = parse(stacked_bar([Bar("p", 6), Bar("n", 0), Bar("d", 2)], label="nps", width=400))
    widths = [float(r.get("width", "0")) for r in bars(svg)]
    assert widths == pytest.approx([300, 100])  # zero-width parts are left out
    empty = parse(stacked_bar([Bar("p", 0)], label="nps"))
    assert bars(empty) == []


def test_sparkline_skips_gaps_and_handles_no_data():
    svg = parse(sparkline([10, None, 30, 50], label="score", low=0, high=100, height=24))
    line = next(svg.iter(f"{SVG}polyline"))
    points = [tuple(map(float, p.split(","))) for p in line.get("points", "").split()]
    assert len(points) == 3
    ys = [y for _, y in points]
    assert ys == sorted(ys, reverse=True), "higher scores are drawn higher up"
    assert "10 to 50" in svg.get("aria-label", "")

    empty = sparkline([None, None], label="score")
    assert "spark-empty" in empty and "polyline" not in empty
    single = parse(sparkline([42], label="score"))
    assert list(single.iter(f"{SVG}polyline")) == []
    assert len(list(single.iter(f"{SVG}circle"))) == 1


def test_history_chart_draws_tier_bands_a_line_and_labelled_points():
    bands = Bands(healthy=70, monitor=50, at_risk=30)
    start = date(2026, 1, 1)
    points = [(start + timedelta(days=i), float(s)) for i, s in enumerate([80, 60, 40, 20])]
    markup = history_chart(points, bands, width=720, height=260)
    svg = parse(markup)
    band_rects = [r for r in svg.iter(f"{SVG}rect") if "band" in r.get("class", "")]
    assert [r.get("class") for r in band_rects] == [
        "band tier-critical",
        "band tier-at_risk",
        "band tier-monitor",
        "band tier-healthy",
    ]
    # Band heights follow the thresholds: 30, 20, 20 and 30 points of a 0-100 axis.
    heights = [float(r.get("height", "0")) for r in band_rects]
    assert heights[0] / heights[1] == pytest.approx(30 / 20)
    assert heights[3] == pytest.approx(heights[0])
    titles = [t.text for t in svg.iter(f"{SVG}title")]
    assert "2026-01-03: 40 (At risk)" in titles
    dots = [c.get("class") for c in svg.iter(f"{SVG}circle")]
    assert dots == ["dot tier-healthy", "dot tier-monitor", "dot tier-at_risk", "dot tier-critical"]


def test_history_chart_edge_cases():
    bands = Bands()
    empty = history_chart([], bands)
    assert "No history yet" in empty and "polyline" not in empty
    one = parse(history_chart([(date(2026, 1, 1), 55.0)], bands))
    assert len(list(one.iter(f"{SVG}circle"))) == 1
    long = [(date(2026, 1, 1) + timedelta(days=i), 50.0) for i in range(120)]
    markup = history_chart(long, bands)
    assert markup.count("<circle") == 1, "long histories only mark the latest point"
    assert len(re.findall(r'class="tick"', markup)) <= 5 + 6


def test_responsive_wraps_both_sizes():
    wide, narrow = sparkline([1, 2], label="w"), sparkline([1, 2], label="n")
    both = responsive(wide, narrow)
    assert 'class="chart-wide"' in both and 'class="chart-narrow"' in both
    assert str(wide) in both and str(narrow) in both


def test_the_monthly_chart_has_a_labelled_scale_months_and_values():
    from datetime import date

    from healthscore.charts.lines import monthly_chart

    svg = str(
        monthly_chart(
            [(date(2026, 11, 1), -3.1), (date(2026, 12, 1), None), (date(2027, 1, 1), 21.2)],
            label="NPS per month",
        )
    )
    for tick in (">-100<", ">-50<", ">0<", ">50<", ">100<"):
        assert tick in svg
    assert ">Nov<" in svg and ">Dec<" in svg and ">Jan 27<" in svg
    assert ">-3.1<" in svg and ">21.2<" in svg
    assert "monthly-line" not in svg  # a month without answers breaks the line, not zero
    assert "November 2026 to January 2027: from -3.1 to 21.2" in svg
