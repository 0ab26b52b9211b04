"""Charts from tool ``chart`` dicts, and inert text."""

from __future__ import annotations

import pytest

from wellness.chat.charts import chart_figure, summary_chart, valid_chart
from wellness.chat.text import fmt_duration, fmt_mb, inert
from wellness.chat.upload import friendly_type, summary_markdown

pytestmark = pytest.mark.unit


def test_valid_chart_shapes() -> None:
    ok = {"kind": "line", "title": "Weight", "x": ["a", "b"], "series": {"kg": [70, 69.5]},
          "y_label": "kg"}
    assert valid_chart(ok)
    assert not valid_chart({"x": [], "series": {"a": []}})
    assert not valid_chart({"x": ["a"], "series": {"a": [1, 2]}})
    assert not valid_chart("chart")


def test_figure_line_bar_and_bad_values() -> None:
    fig = chart_figure({"kind": "line", "title": "Weight", "x": ["a", "b", "c"],
                        "series": {"kg": [70, None, "x"], "avg": [70, 70, 70]}, "y_label": "kg"})
    assert [t.type for t in fig.data] == ["scatter", "scatter"]
    assert list(fig.data[0].y) == [70.0, None, None]
    assert fig.layout.title.text == "Weight" and fig.layout.showlegend
    bar = chart_figure({"kind": "bar", "x": ["Mon"], "series": {"n": [3]}})
    assert bar.data[0].type == "bar" and not bar.layout.showlegend


def test_summary_chart_fallback() -> None:
    c = summary_chart({"workouts_by_type": {"Running": 3, "Yoga": 5}})
    assert c and c["x"] == ["Yoga", "Running"]
    assert summary_chart({}) is None


def test_inert_escapes_markdown_and_html() -> None:
    s = inert("[click](javascript:alert(1)) <b>x</b> `code` **bold**\nnext")
    for raw in ("[click]", "<b>", "`code`", "**bold**"):
        assert raw not in s
    assert "\n" not in s
    assert len(inert("x" * 500, limit=50)) == 50


def test_formatting_helpers() -> None:
    assert fmt_duration(65) == "1:05" and fmt_duration(3723) == "1:02:03"
    assert fmt_duration(None) == "—"
    assert fmt_mb(1_500_000) == "1.5 MB" and fmt_mb(250_000_000) == "250 MB"
    assert friendly_type("HKQuantityTypeIdentifierHeartRateVariabilitySDNN") == \
        "Heart rate variability SDNN"


def test_summary_markdown_escapes_file_values() -> None:
    md = summary_markdown({"date_range": {"start": "2024-01-01", "end": "2024-12-31"},
                           "records": 10, "sources": [{"name": "**Evil** [x](y)"}]},
                          "e*x*port.zip")
    assert "**Evil**" not in md and "[x](y)" not in md and "e*x*port" not in md


def test_chart_labels_stay_plain_text() -> None:
    fig = chart_figure({"kind": "bar", "title": '<a href="http://x">t</a>', "x": ["<b>a</b>"],
                        "series": {"<i>n</i>": [1]}, "y_label": "<br>"})
    assert "<" not in fig.layout.title.text and "<" not in fig.data[0].x[0]
    assert "<" not in fig.data[0].name and "<" not in fig.layout.yaxis.title.text
