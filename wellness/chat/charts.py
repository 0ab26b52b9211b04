"""Plotly figures from the query layer's ``chart`` dicts and from import summaries.

Why here and not in the tools: tools return small JSON (``{kind, title, x, series, y_label}``)
that the offline model and the CLI can use too; only the chat turns it into a figure.
Everything is validated, because a chart dict is model/tool output.
"""

from __future__ import annotations

import math
from typing import Any

MAX_POINTS = 400
MAX_SERIES = 6
PALETTE = ["#e0475b", "#2f80ed", "#27ae60", "#f2994a", "#9b51e0", "#56ccf2"]


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _label(v: Any, limit: int) -> str:
    """Plotly renders a subset of HTML in labels (links included): keep labels plain text."""
    return str(v)[:limit].replace("<", "‹").replace(">", "›")


def valid_chart(chart: Any) -> bool:
    """True if ``chart`` has labels and at least one series of the same length."""
    if not isinstance(chart, dict):
        return False
    x = chart.get("x")
    series = chart.get("series")
    if not isinstance(x, list) or not x or not isinstance(series, dict) or not series:
        return False
    return any(isinstance(v, list) and len(v) == len(x) for v in series.values())


def chart_figure(chart: dict[str, Any]):
    """A ``plotly.graph_objects.Figure`` for a valid chart dict (see :func:`valid_chart`)."""
    import plotly.graph_objects as go

    kind = chart.get("kind") if chart.get("kind") in ("line", "bar") else "line"
    x = [_label(v, 40) for v in chart["x"]][:MAX_POINTS]
    fig = go.Figure()
    shown = 0
    for i, (name, values) in enumerate(chart["series"].items()):
        if not isinstance(values, list) or len(values) != len(chart["x"]) or shown >= MAX_SERIES:
            continue
        ys = [_num(v) for v in values][:MAX_POINTS]
        color = PALETTE[i % len(PALETTE)]
        label = _label(name, 60)
        if kind == "bar":
            fig.add_trace(go.Bar(x=x, y=ys, name=label, marker_color=color))
        else:
            fig.add_trace(go.Scatter(x=x, y=ys, name=label, mode="lines+markers",
                                     line={"color": color, "width": 2},
                                     marker={"size": 4}, connectgaps=False))
        shown += 1
    fig.update_layout(
        title={"text": _label(chart.get("title") or "", 120)},
        yaxis_title=_label(chart.get("y_label") or "", 60),
        margin={"l": 50, "r": 20, "t": 50, "b": 40},
        height=340,
        showlegend=shown > 1,
        template="plotly_white",
        barmode="group",
    )
    return fig


def plotly_element(chart: dict[str, Any], name: str = "chart"):
    """A ``cl.Plotly`` inline element for the chart, or None when the chart is unusable."""
    if not valid_chart(chart):
        return None
    import chainlit as cl

    return cl.Plotly(name=name, figure=chart_figure(chart), display="inline", size="large")


def summary_chart(summary: dict[str, Any]) -> dict[str, Any] | None:
    """Fallback import chart from the summary alone: workouts by type, else records by type."""
    for key, title, label in (("workouts_by_type", "Workouts by type", "workouts"),
                              ("counts_by_type", "Records by type", "records")):
        data = summary.get(key)
        if isinstance(data, dict) and data:
            items = sorted(((str(k), v) for k, v in data.items() if _num(v) is not None),
                           key=lambda kv: -float(kv[1]))[:15]
            if items:
                return {"kind": "bar", "title": title, "x": [k for k, _ in items],
                        "series": {label: [v for _, v in items]}, "y_label": label}
    return None


def warm_up() -> None:
    """Import plotly and build one figure, so the first chart of a process costs ~10 ms.

    Why: the first figure pays plotly's imports and validators (~150 ms idle, near a second
    on a busy 2-core host) on the event loop, which stalled every session (chat_load lag).
    Call it in a worker thread at startup.
    """
    chart_figure({"kind": "line", "title": "", "x": ["a", "b"], "series": {"s": [1, 2]},
                  "y_label": ""}).to_json()

