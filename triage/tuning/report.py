"""The backtest report: side-by-side metrics per policy, as a terminal table and an HTML page."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from triage.policy.model import Capacity

__all__ = ["PolicyRun", "BacktestReport"]

_MONEY = ("value", "cost", "refunds")


@dataclass(frozen=True)
class PolicyRun:
    """One policy (or reference) replayed: named metrics and reviews per day."""

    name: str
    policy_version: str
    metrics: dict[str, float]
    order_reviews: pd.Series
    return_reviews: pd.Series | None = None


@dataclass(frozen=True)
class BacktestReport:
    runs: tuple[PolicyRun, ...]
    capacity: Capacity
    n_orders: int
    n_returns: int
    n_days: int
    start: pd.Timestamp
    end: pd.Timestamp
    notes: tuple[str, ...] = ()  # what was left out of the judgement, and why

    def table(self) -> pd.DataFrame:
        """Metrics (rows) by run (columns), in the order they were computed."""
        rows = list(dict.fromkeys(k for r in self.runs for k in r.metrics))
        return pd.DataFrame(
            {r.name: [r.metrics.get(k, float("nan")) for k in rows] for r in self.runs}, index=rows
        )

    def run(self, name: str) -> PolicyRun:
        return next(r for r in self.runs if r.name == name)

    def header(self) -> str:
        versions = ", ".join(f"{r.name} = {r.policy_version}" for r in self.runs if r.policy_version != "-")
        return (
            f"Backtest {self.start:%Y-%m-%d} .. {self.end:%Y-%m-%d} ({self.n_days} days): "
            f"{self.n_orders} orders, {self.n_returns} returns; {versions}. "
            f"Capacity: {self.capacity.order_reviews_per_day:g} order reviews/day, "
            f"{self.capacity.return_reviews_per_day:g} return reviews/day."
        )

    def cells(self) -> tuple[list[str], list[list[str]]]:
        t = self.table()
        cols = list(t.columns)
        body = []
        for metric, row in t.iterrows():
            fmt = "{:,.0f}" if any(w in str(metric) for w in _MONEY) else "{:,.1f}"
            cells = ["-" if v != v else fmt.format(v) for v in row]
            if str(metric).endswith("reviews / day"):
                cap = (
                    self.capacity.order_reviews_per_day
                    if metric.startswith("order")
                    else self.capacity.return_reviews_per_day
                )
                cells = [c + (" !" if v > cap else "") for c, v in zip(cells, row, strict=True)]
            body.append([str(metric), *cells])
        return cols, body

    def to_text(self) -> str:
        """A readable terminal table; ``!`` marks reviews per day above capacity."""
        cols, body = self.cells()
        widths = [max(len(r[0]) for r in body)] + [
            max(len(c), *(len(r[i + 1]) for r in body)) for i, c in enumerate(cols)
        ]
        line = "  ".join(["".ljust(widths[0])] + [c.rjust(w) for c, w in zip(cols, widths[1:], strict=True)])
        out = [self.header(), *self.notes, "", line, "-" * len(line)]
        for r in body:
            out.append(
                "  ".join(
                    [r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)]
                )
            )
        out.append("")
        out.append(
            "Costs are realised with labels, priced by the policy's cost table; lower is better. '!' = over capacity."
        )
        return "\n".join(out)
