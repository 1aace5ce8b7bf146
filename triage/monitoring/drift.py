"""Feature and score drift between a reference window and recent decisions (Evidently).

The drift methods are pinned (Wasserstein distance for numbers, Jensen-Shannon for
categories, both with threshold 0.1) so a drift score means the same thing whatever
the sample size; Evidently's default switches method at 1,000 rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["ColumnDrift", "DriftResult", "compute_drift", "data_quality"]

NUM_METHOD, CAT_METHOD, THRESHOLD = "wasserstein", "jensenshannon", 0.1


@dataclass(frozen=True)
class ColumnDrift:
    column: str
    kind: str  # "num" or "cat"
    method: str
    score: float
    drifted: bool


@dataclass
class DriftResult:
    columns: list[ColumnDrift]
    reference_rows: int
    current_rows: int
    quality: dict[str, dict] = field(default_factory=dict)

    # columns that grow with the length of history (all-time counts): reported, but their
    # drift is expected and does not count towards the share that raises an alert
    growing: frozenset[str] = frozenset()

    @property
    def drifted(self) -> list[ColumnDrift]:
        return sorted((c for c in self.columns if c.drifted), key=lambda c: -c.score)

    @property
    def judged(self) -> list[ColumnDrift]:
        return [c for c in self.columns if c.column not in self.growing]

    @property
    def share_drifted(self) -> float:
        judged = self.judged
        return sum(c.drifted for c in judged) / len(judged) if judged else 0.0

    def to_dict(self) -> dict:
        return {
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "share_drifted": round(self.share_drifted, 4),
            "drifted_columns": [c.column for c in self.drifted],
            "not_judged": sorted(self.growing & {c.column for c in self.columns}),
            "columns": {
                c.column: {"kind": c.kind, "method": c.method, "score": round(c.score, 6), "drifted": c.drifted}
                for c in self.columns
            },
            "quality": self.quality,
        }


def _kinds(reference: pd.DataFrame, columns: list[str]) -> tuple[list[str], list[str]]:
    num, cat = [], []
    for c in columns:
        dtype = reference[c].dtype
        if pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_numeric_dtype(dtype):
            cat.append(c)
        else:
            num.append(c)
    return num, cat


def _prepare(frame: pd.DataFrame, num: list[str], cat: list[str]) -> pd.DataFrame:
    frame = frame.reset_index(drop=True)  # Evidently plots against a numeric index
    out = pd.DataFrame(index=frame.index)
    for c in num:
        out[c] = pd.to_numeric(frame[c], errors="coerce").astype(float)
    for c in cat:
        out[c] = frame[c].astype(object).where(frame[c].notna(), "(missing)").astype(str)
    return out


def data_quality(reference: pd.DataFrame, current: pd.DataFrame, num: list[str], cat: list[str]) -> dict[str, dict]:
    """Missing share, unseen categories and out-of-range share per column of the current window."""
    quality: dict[str, dict] = {}
    for c in num + cat:
        entry: dict = {"missing_share": float(current[c].isna().mean()) if len(current) else 0.0}
        if c in cat:
            seen = set(reference[c].dropna().astype(str))
            unseen = current[c].dropna().astype(str)
            unseen = unseen[~unseen.isin(seen)]
            entry["unseen_values"] = sorted(unseen.unique().tolist())[:10]
            entry["unseen_share"] = float(len(unseen) / len(current)) if len(current) else 0.0
        else:
            ref = pd.to_numeric(reference[c], errors="coerce")
            cur = pd.to_numeric(current[c], errors="coerce")
            lo, hi = ref.min(), ref.max()
            outside = ((cur < lo) | (cur > hi)).mean() if len(cur) and pd.notna(lo) else 0.0
            entry["out_of_range_share"] = float(outside)
        quality[c] = entry
    return quality


def compute_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    columns: list[str] | None = None,
    html: Path | None = None,
    title: str = "",
    growing: frozenset[str] = frozenset(),
) -> DriftResult:
    """Per-column drift of current vs reference, plus data quality; optionally the Evidently HTML."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset, DataSummaryPreset

    columns = [c for c in (columns or list(reference.columns)) if c in current.columns]
    num, cat = _kinds(reference, columns)
    ref, cur = _prepare(reference, num, cat), _prepare(current, num, cat)
    # a column that is entirely empty on one side cannot be compared by a distance
    usable = [c for c in columns if ref[c].notna().any() and cur[c].notna().any()]
    num, cat = [c for c in num if c in usable], [c for c in cat if c in usable]
    definition = DataDefinition(numerical_columns=num, categorical_columns=cat)
    report = Report(
        [
            DataDriftPreset(
                columns=usable,
                num_method=NUM_METHOD,
                cat_method=CAT_METHOD,
                num_threshold=THRESHOLD,
                cat_threshold=THRESHOLD,
            ),
            DataSummaryPreset(columns=usable),
        ]
    )
    snapshot = report.run(
        current_data=Dataset.from_pandas(cur[usable], data_definition=definition),
        reference_data=Dataset.from_pandas(ref[usable], data_definition=definition),
    )
    if html is not None:
        html.parent.mkdir(parents=True, exist_ok=True)
        snapshot.save_html(str(html))
    results = []
    for metric in snapshot.dict()["metrics"]:
        config = metric.get("config", {})
        if config.get("type") != "evidently:metric_v2:ValueDrift":
            continue
        column, score = config["column"], float(metric["value"])
        if not np.isfinite(score):
            score = 0.0
        kind = "num" if column in num else "cat"
        results.append(ColumnDrift(column, kind, config["method"], score, score >= config["threshold"]))
    return DriftResult(results, len(reference), len(current), data_quality(reference, current, num, cat), growing)
