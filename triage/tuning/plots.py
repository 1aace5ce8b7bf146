"""Interactive plots (plotly) for the backtest and `policy tune` reports.

Pages are self-contained: plotly.js is written into the page from the installed package
(no CDN; the report opens on a machine without internet), once per page. Figures are
built from the report objects and nothing else; the reports know nothing of plotting
(`backtest_page(report, path)`, `tune_page(result, path)`).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from triage.tuning.report import BacktestReport
from triage.tuning.tune import TuneResult

if TYPE_CHECKING:
    from plotly.graph_objects import Figure

__all__ = ["backtest_page", "tune_page", "backtest_figures", "tune_figures", "write_page"]


def _days(index: pd.Index) -> list:
    return list(pd.DatetimeIndex(index).tz_localize(None) if pd.DatetimeIndex(index).tz else pd.DatetimeIndex(index))


def backtest_figures(report: BacktestReport) -> list[Figure]:
    """Order (and return) reviews per day vs capacity, actions per day, cost by part."""
    import plotly.graph_objects as go

    figs = []
    for kind, capacity in (("order", report.capacity.order_reviews_per_day),
                           ("return", report.capacity.return_reviews_per_day)):
        fig = go.Figure()
        for r in report.runs:
            series = r.order_reviews if kind == "order" else r.return_reviews
            if series is None or series.empty or r.name == "no automation":
                continue
            fig.add_scatter(x=_days(series.index), y=series.to_numpy(), mode="lines+markers", name=r.name)
        if not fig.data:
            continue
        fig.add_hline(y=capacity, line_dash="dash", line_color="red", annotation_text=f"capacity {capacity:g}/day")
        fig.update_layout(title=f"{kind.capitalize()} reviews per day vs capacity", xaxis_title="day",
                          yaxis_title="reviews")
        figs.append(fig)

    t = report.table()
    per_day = [i for i in t.index if str(i).endswith(" / day")]
    fig = go.Figure()
    for run in t.columns:
        fig.add_bar(y=per_day, x=t.loc[per_day, run].to_numpy(), name=run, orientation="h")
    fig.add_vline(x=report.capacity.order_reviews_per_day, line_dash="dash", line_color="red",
                  annotation_text="order review capacity")
    fig.update_layout(title="Actions per day (mean over the window) vs review capacity", barmode="group",
                      xaxis_title="per day", height=max(400, 28 * len(per_day) * max(1, len(t.columns)) // 2))
    figs.append(fig)

    parts = [p for p in ("fraud cost", "delay cost", "returns cost") if p in t.index]
    fig = go.Figure()
    for part in parts:
        fig.add_bar(x=list(t.columns), y=t.loc[part].to_numpy(), name=part)
    fig.update_layout(title="Realised cost by part (lower is better)", barmode="stack", yaxis_title="cost")
    figs.append(fig)
    return figs


def tune_figures(result: TuneResult) -> list[Figure]:
    """The fraud cost curve over the hold threshold with the chosen one and the review capacity; the delay curve."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    figs = []
    if not result.fraud_curve.empty:  # empty when the fraud thresholds were kept (no mature label)
        figs.append(_fraud_figure(result, make_subplots))
    delay = result.delay_curve
    if not delay.empty:
        best = delay.sort_values("cost").groupby("expedite_threshold", as_index=False).first()
        best = best.sort_values("expedite_threshold")
        fig = go.Figure()
        fig.add_scatter(x=best["expedite_threshold"], y=best["cost"], mode="lines+markers", name="best cost")
        chosen = result.thresholds.get("delay_expedite")
        if chosen is not None:
            fig.add_vline(x=chosen, line_color="black", annotation_text=f"chosen expedite {chosen:.4f}")
        fig.update_layout(title="Delay: expected cost by expedite threshold (best notify threshold for each)",
                          xaxis_title="expedite threshold (p_late)", yaxis_title="cost")
        figs.append(fig)
    return figs


def _fraud_figure(result: TuneResult, make_subplots) -> Figure:
    curve = result.hold_curve()
    capacity = result.policy.capacity.order_reviews_per_day
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    feasible = curve[curve["feasible"].astype(bool)]
    over = curve[~curve["feasible"].astype(bool)]
    fig.add_scatter(x=curve["hold_threshold"], y=curve["cost"], mode="lines", name="best cost", line_color="#1f77b4")
    fig.add_scatter(x=over["hold_threshold"], y=over["cost"], mode="markers", name="over capacity",
                    marker={"color": "red", "symbol": "x"})
    fig.add_scatter(x=feasible["hold_threshold"], y=feasible["cost"], mode="markers", name="within capacity",
                    marker={"color": "#1f77b4", "size": 4})
    fig.add_scatter(x=curve["hold_threshold"], y=curve["reviews_per_day"], mode="lines", name="reviews / day",
                    line={"color": "#2ca02c", "dash": "dot"}, secondary_y=True)
    fig.add_hline(y=capacity, line_dash="dash", line_color="green", secondary_y=True,
                  annotation_text=f"review capacity {capacity:g}/day")
    chosen = result.thresholds.get("fraud_hold")
    if chosen is not None:
        fig.add_vline(x=chosen, line_color="black", annotation_text=f"chosen hold {chosen:.4f}")
    fig.update_layout(title="Fraud: expected cost by hold threshold (best verify threshold for each)",
                      xaxis_title="hold threshold (p_fraud)")
    fig.update_yaxes(title_text="cost", secondary_y=False)
    fig.update_yaxes(title_text="reviews / day", secondary_y=True)
    return fig


def write_page(path: str | Path, title: str, intro: str, figures: Sequence[Figure], table_html: str = "") -> Path:
    """One HTML file: a heading, a paragraph, an optional table, the figures; plotly.js inline once."""
    parts = [
        fig.to_html(full_html=False, include_plotlyjs=(i == 0), config={"displaylogo": False})
        for i, fig in enumerate(figures)
    ]
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child{text-align:left}"
        f"</style></head><body><h1>{html.escape(title)}</h1><p>{html.escape(intro)}</p>{table_html}"
        + "".join(parts) + "</body></html>"
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


def backtest_page(report: BacktestReport, path: str | Path) -> Path:
    """A self-contained HTML page: the table and interactive plots (plotly.js inline, no CDN)."""
    cols, body = report.cells()
    head = "".join(f"<th>{html.escape(c)}</th>" for c in ["metric", *cols])
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in body)
    notes = "".join(f"<p>{html.escape(n)}</p>" for n in report.notes)
    return write_page(path, "triage backtest", report.header(), backtest_figures(report),
                      f"{notes}<table><tr>{head}</tr>{rows}</table>")


def tune_page(result: TuneResult, path: str | Path) -> Path:
    """A self-contained page with the interactive cost curves (plotly.js inline, no CDN)."""
    text = html.escape(result.to_text().split("hold threshold →")[0])
    return write_page(path, "triage policy tune", result.to_text().splitlines()[0], tune_figures(result),
                      f"<pre>{text}</pre>")
