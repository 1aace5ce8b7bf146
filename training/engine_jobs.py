"""Feature building and batch scoring on the distributed engine (`--engine dask`).

Inputs are contract folders of Parquet tables (files or folders of parts, local or any fsspec
URL); outputs are partitioned Parquet folders whose part names sort in row order:
`OUT/order_features/`, `OUT/return_features/` (row for row the single-process
`order_features.parquet` / `return_features.parquet`), and `OUT/order_scores/`,
`OUT/return_scores/` (the `--scores-only` columns of `triage score`, one row per event in
table order). The scoring models are the same champion bundles, sent once to every worker.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from features.partitioned import FEATURE_SETS, PartitionedTables, build_features, partition_tables
from models import Bundle
from training.score import ORDER_SCORE_COLUMNS, RETURN_SCORE_COLUMNS
from triage.engine import read_tables, write_parquet

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["EngineRun", "partitioned_dataset", "write_features", "score_partitioned", "default_partitions"]

Progress = Callable[[str], None]
_SCORES = {"order_features": ("order_scores", ORDER_SCORE_COLUMNS, "order"),
           "return_features": ("return_scores", RETURN_SCORE_COLUMNS, "return")}


@dataclass
class EngineRun:
    """What a job wrote: output folder → rows."""

    outputs: dict[str, int]
    seconds: float


def default_partitions(client: Client) -> int:
    """Two partitions per worker thread: enough to balance, few enough to keep tasks large."""
    threads = sum(w.get("nthreads", 1) for w in client.scheduler_info()["workers"].values())
    return max(2, 2 * int(threads))


def partitioned_dataset(client: Client, data: str, *, partitions: int | None = None) -> PartitionedTables:
    tables, present = read_tables(str(data))
    return partition_tables(client, tables, present, partitions=partitions or default_partitions(client))


def _say(progress: Progress | None) -> Progress:
    return progress or (lambda _m: None)


def write_features(
    client: Client, data: str, out: str, *, since: pd.Timestamp | None = None, partitions: int | None = None,
    progress: Progress | None = None,
) -> EngineRun:
    """OUT/order_features/ and OUT/return_features/ from the contract folder `data`, on the cluster."""
    from triage.engine import path_join

    say = _say(progress)
    t0 = time.perf_counter()
    parts = partitioned_dataset(client, data, partitions=partitions)
    say(f"tables partitioned by order into {parts.n} partitions … {time.perf_counter() - t0:.1f}s")
    outputs = {}
    for name in FEATURE_SETS:
        t1 = time.perf_counter()
        frame = build_features(client, parts, name, since=since)
        path = write_parquet(frame.parts, path_join(str(out), name))
        rows = _rows_written(path)
        outputs[path] = rows
        say(f"{name}: {rows} rows in {path} … {time.perf_counter() - t1:.1f}s")
    return EngineRun(outputs=outputs, seconds=time.perf_counter() - t0)


def _rows_written(path: str) -> int:
    import pyarrow.dataset as pads

    return int(pads.dataset(path, format="parquet").count_rows())


def _score_partition(frame: pd.DataFrame, bundles: Mapping[str, Bundle | None], kind: str,
                     columns: list[str]) -> pd.DataFrame:
    """The score columns of one partition: NaN where a model has no champion."""
    key = columns[0]
    out = pd.DataFrame({key: frame[key].to_numpy()})
    for c in columns[1:]:
        out[c] = np.nan
    if not len(frame):
        return out
    for bundle in bundles.values():
        if bundle is None or bundle.entity != kind:
            continue
        pred = bundle.predict_frame(frame.reset_index(drop=True))
        for c in pred.columns:
            if c in out.columns:
                out[c] = pred[c].to_numpy()
    return out


def score_partitioned(
    client: Client, data: str, out: str, bundles: Mapping[str, Bundle | None], *,
    since: pd.Timestamp | None = None, partitions: int | None = None, progress: Progress | None = None,
) -> EngineRun:
    """OUT/order_scores/ and OUT/return_scores/: every event at or after `since`, in table order."""
    from dask import delayed

    from triage.engine import path_join

    say = _say(progress)
    t0 = time.perf_counter()
    parts = partitioned_dataset(client, data, partitions=partitions)
    shared = client.scatter([dict(bundles)], broadcast=True)[0]
    outputs = {}
    for name, (folder, columns, kind) in _SCORES.items():
        t1 = time.perf_counter()
        features = build_features(client, parts, name, since=since)
        scores = [delayed(_score_partition)(part, shared, kind, list(columns)) for part in features.parts]
        path = write_parquet(scores, path_join(str(out), folder))
        rows = _rows_written(path)
        outputs[path] = rows
        say(f"{folder}: {rows} rows in {path} … {time.perf_counter() - t1:.1f}s")
    return EngineRun(outputs=outputs, seconds=time.perf_counter() - t0)
