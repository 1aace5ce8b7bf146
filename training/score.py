"""Batch scoring of a contract dataset with the champion bundles.

One row per order created (and per return requested) at or after `since`; features
use all history in the dataset before each event. A model that is not trained (its
bundle is None or absent) leaves its columns empty (NaN).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from models import DELAY, FRAUD, RETURNS, Bundle
from training.featureset import FeatureSource, default_feature_source
from triage.contract import Dataset

__all__ = ["score_dataset", "write_scores", "ORDER_SCORE_COLUMNS", "RETURN_SCORE_COLUMNS"]

ORDER_SCORE_COLUMNS = ["order_id", *DELAY.output_columns, *FRAUD.output_columns]
RETURN_SCORE_COLUMNS = ["return_id", *RETURNS.output_columns]


def _events(ds: Dataset, entity: str, since: pd.Timestamp | None) -> pd.Series:
    table, key, tcol = (
        ("orders", "order_id", "created_at")
        if entity == "order"
        else ("returns", "return_id", "requested_at")
    )
    frame = ds[table]
    if since is not None:
        frame = frame[frame[tcol] >= since]
    return frame[key].reset_index(drop=True)


def score_dataset(
    ds: Dataset,
    *,
    since: pd.Timestamp | str | None = None,
    bundles: Mapping[str, Bundle | None],
    feature_source: FeatureSource | None = None,
    progress=None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(order_scores, return_scores) with the score columns of every model; NaN where not trained.

    `bundles` maps registered name ("triage-delay", …) to a Bundle or None.
    """
    say = progress or (lambda _msg: None)
    since = pd.Timestamp(since) if since is not None else None
    if since is not None and since.tzinfo is None:
        raise ValueError(f"since must carry a time zone (e.g. 2026-03-01T00:00:00Z); got {since}")
    source = None
    out = []
    for entity, specs, columns in (
        ("order", (DELAY, FRAUD), ORDER_SCORE_COLUMNS),
        ("return", (RETURNS,), RETURN_SCORE_COLUMNS),
    ):
        ids = _events(ds, entity, since)
        key = columns[0]
        scores = pd.DataFrame({key: ids.to_numpy()})
        for c in columns[1:]:
            scores[c] = np.nan
        present = [b for s in specs if (b := bundles.get(s.name)) is not None]
        if present and len(ids):
            source = source or feature_source or default_feature_source()
            t0 = time.perf_counter()
            frame = source.build(ds, entity, since=since)
            say(f"{entity} features: {len(frame)} rows … {time.perf_counter() - t0:.1f}s")
            t0 = time.perf_counter()
            for bundle in present:
                pred = bundle.predict_frame(frame)
                pos = pd.Index(pred.index).get_indexer(scores[key])
                found = pos >= 0
                for c in pred.columns:
                    col = np.full(len(scores), np.nan)
                    col[found] = pred[c].to_numpy()[pos[found]]
                    scores[c] = col
            say(f"{entity} scores: {len(scores)} rows … {time.perf_counter() - t0:.1f}s")
        out.append(scores[columns])
    return out[0], out[1]


def write_scores(
    order_scores: pd.DataFrame, return_scores: pd.DataFrame, out_dir: str | Path
) -> dict[str, Path]:
    """Write OUT/order_scores.csv and OUT/return_scores.csv (empty cells for missing scores)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"orders": out / "order_scores.csv", "returns": out / "return_scores.csv"}
    order_scores.to_csv(paths["orders"], index=False, float_format="%.6g")
    return_scores.to_csv(paths["returns"], index=False, float_format="%.6g")
    return paths
