"""The standalone charts of the backtest report: fixed size, own colours, well-formed."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from healthscore.charts.framed import HEIGHT, PRIMARY, WIDTH, Series, bar_chart, line_chart

SVG = "{http://www.w3.org/2000/svg}"


def test_bars_carry_their_colour_and_a_missing_value_reads_n_a():
    markup = bar_chart(
        ["a", "b", "c"],
        [0.5, None, 0.25],
        x_label="x",
        y_label="y",
        title="Churn <by> tier",
        reference=0.3,
        reference_label="all",
    )
    root = ET.fromstring(markup)
    assert (root.get("width"), root.get("height")) == (str(WIDTH), str(HEIGHT))
    rects = list(root.iter(f"{SVG}rect"))
    assert [r.get("fill") for r in rects] == [PRIMARY, PRIMARY]
    assert float(rects[0].get("height", "0")) == 2 * float(rects[1].get("height", "0"))
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "n/a" in texts and "50%" in texts and "all" in texts
    assert root.get("aria-label") == "Churn <by> tier"


def test_a_roc_chart_draws_the_coin_flip_diagonal_and_a_legend():
    markup = line_chart(
        [Series("default@v2", [(0, 0), (0.2, 0.7), (1, 1)], PRIMARY)],
        x_label="flagged",
        y_label="found",
        title="ROC curve",
        diagonal=True,
    )
    root = ET.fromstring(markup)
    lines = list(root.iter(f"{SVG}polyline"))
    assert len(lines) == 2 and lines[0].get("stroke-dasharray") == "4 4"
    assert [t.text for t in root.iter(f"{SVG}text")][-1] == "default@v2"
