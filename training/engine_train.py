"""Training on the distributed engine: the features built on the cluster, each booster fitted there.

`train_on_engine` is `train_all` — same labels, time split, calibration, baselines, MLflow
experiment and registry, one run per model — with two parts moved to the cluster:

- the feature frames come from `features.partitioned` (row for row the single-process ones);
- each LightGBM candidate is boosted data-parallel on the workers with `lightgbm.dask`.

Early stopping: `lightgbm.dask` hangs when its early-stopping callback fires on some workers
and not others (each stops on its own share of the validation rows; LightGBM issues #6351,
#7009), so the cluster boosts `max_rounds` trees without it, and the stopping rule of
`lightgbm.early_stopping` — stop once `early_stopping_rounds` trees pass without a lower
validation log loss, keep the best — is applied to the validation curve of those trees
(the same rule on the same curve). The kept trees are the best iteration's, as in one process.
Fits run one after another: concurrent `lightgbm.dask` fits can hang too (#4942).

Labels, split, calibration and evaluation run in the calling process on the loaded dataset
and the gathered feature rows of the labelled events.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import lightgbm as lgb
import numpy as np
import pandas as pd

from features.partitioned import build_features
from models import RiskSpec
from models.estimator import RiskClassifier
from training.engine_jobs import partitioned_dataset
from training.featureset import FeatureSource, default_feature_source
from training.train import TrainResult, train_all
from triage.contract import load_dataset
from triage.engine import EngineInfo

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["EngineRiskClassifier", "engine_estimator_factory", "early_stopping_point", "train_on_engine"]

NETWORK_TIMEOUT_MINUTES = 10  # LightGBM's socket time-out: a lost worker fails the fit instead of hanging it


def early_stopping_point(losses: np.ndarray, patience: int) -> int:
    """The iteration (1-based) `lightgbm.early_stopping` keeps for this validation curve."""
    best, best_i = np.inf, 0
    for i, loss in enumerate(losses):
        if loss < best:
            best, best_i = loss, i
        elif i - best_i >= patience:
            break
    return best_i + 1


def _log_loss(margin: np.ndarray, y: np.ndarray) -> float:
    eps = 1e-15
    if margin.ndim == 1:
        p = np.clip(1.0 / (1.0 + np.exp(-margin)), eps, 1 - eps)
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    z = margin - margin.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y.astype(np.int64)], eps, 1.0))))


def validation_curve(booster: lgb.Booster, X: np.ndarray, y: np.ndarray, patience: int) -> np.ndarray:
    """Validation log loss after each tree (stops `patience` trees past the best, as the callback does)."""
    margin: np.ndarray | None = None
    losses: list[float] = []
    best, best_i = np.inf, 0
    for i in range(booster.current_iteration()):
        step = np.asarray(booster.predict(X, start_iteration=i, num_iteration=1, raw_score=True))
        margin = step if margin is None else margin + step
        losses.append(_log_loss(margin, y))
        if losses[-1] < best:
            best, best_i = losses[-1], i
        elif i - best_i >= patience:
            break
    return np.asarray(losses)


def _shards(client: Client, X: np.ndarray, y: np.ndarray):
    """One shard of the rows per worker, every class in every shard (as dask arrays).

    LightGBM's Dask interface lets each worker infer the classes from its own shard; a shard
    missing a class makes the workers disagree on the model's shape and the fit dies
    (`Socket recv error ... code 104`). So the rows of each class are dealt round-robin.
    """
    import dask.array as da

    workers = sorted(client.scheduler_info()["workers"])
    _, y_codes = np.unique(y, return_inverse=True)
    counts = np.bincount(y_codes)
    n = max(1, min(len(workers), int(counts.min())))
    rank = np.empty(len(y), dtype=np.int64)
    for c in range(len(counts)):  # position of each row within its class
        idx = np.flatnonzero(y_codes == c)
        rank[idx] = np.arange(len(idx))
    shard = rank % n
    xs, ys = [], []
    for i in range(n):
        rows = np.flatnonzero(shard == i)
        fx, fy = client.scatter([X[rows], y[rows]], workers=[workers[i]])
        xs.append(da.from_delayed(fx, shape=(len(rows), X.shape[1]), dtype=X.dtype))
        ys.append(da.from_delayed(fy, shape=(len(rows),), dtype=y.dtype))
    return da.concatenate(xs), da.concatenate(ys)


class EngineRiskClassifier(RiskClassifier):
    """A `RiskClassifier` whose boosting runs on a Dask cluster (set `engine_client` before fit).

    After `fit` it is turned back into a plain `RiskClassifier` (same fitted attributes), so the
    bundle is served without Dask or the cluster.
    """

    engine_client: Client | None = None

    def _boost(self, params: dict, dtrain: lgb.Dataset, dval: lgb.Dataset) -> lgb.Booster:
        client = self.engine_client
        if client is None:
            raise RuntimeError("EngineRiskClassifier needs engine_client set before fit")
        X, y = np.asarray(dtrain.data), np.asarray(dtrain.label)
        Xv, yv = np.asarray(dval.data), np.asarray(dval.label)
        # an all-missing categorical feature kills a distributed fit (code 104, LightGBM 4.7, tried here);
        # it is never split on, so leaving it numeric does not change the model
        cats = [int(c) for c in (dtrain.categorical_feature or []) if not np.isnan(X[:, int(c)]).all()]
        dX, dy = _shards(client, X, y)
        # LightGBM's Dask interface sets the threads per worker itself and the objective from the labels
        native = {k: v for k, v in params.items() if k not in ("objective", "num_class", "metric", "num_threads")}
        model = lgb.DaskLGBMClassifier(client=client, n_estimators=self.max_rounds, tree_learner="data",
                                       time_out=NETWORK_TIMEOUT_MINUTES, **native)
        model.fit(dX, dy, categorical_feature=cats,
                  feature_name=list(dtrain.feature_name))
        booster = model.booster_
        losses = validation_curve(booster, Xv, yv, self.early_stopping_rounds)
        best = early_stopping_point(losses, self.early_stopping_rounds)
        booster.best_iteration = best
        booster.best_score = {"validation": {params.get("metric", "log_loss"): float(losses[best - 1])}}
        return booster

    def fit(self, X, y, *, eval_set=None):  # type: ignore[override]
        super().fit(X, y, eval_set=eval_set)
        self.__dict__.pop("engine_client", None)
        self.__class__ = RiskClassifier  # type: ignore[assignment]  # the bundle needs no cluster
        return self


def engine_estimator_factory(client: Client) -> Callable[[RiskSpec, str, dict], RiskClassifier]:
    def make(spec: RiskSpec, target: str, overrides: dict) -> RiskClassifier:
        est = EngineRiskClassifier(**{**spec.head(target).params, **overrides})
        est.engine_client = client
        return est

    return make


def engine_feature_source(client: Client, data: str, *, partitions: int | None = None,
                          progress: Callable[[str], None] | None = None) -> FeatureSource:
    """The default feature source, its frames built on the cluster (once per entity)."""
    say = progress or (lambda _m: None)
    parts = partitioned_dataset(client, data, partitions=partitions)
    cache: dict[tuple, pd.DataFrame] = {}

    def builder(name: str):
        def build(_ds, *, since=None) -> pd.DataFrame:
            if (name, since) not in cache:
                t0 = time.perf_counter()
                cache[(name, since)] = build_features(client, parts, name, since=since).compute().reset_index(drop=True)
                say(f"{name} on the engine: {len(cache[(name, since)])} rows … {time.perf_counter() - t0:.1f}s")
            return cache[(name, since)]

        return build

    base = default_feature_source()
    base.build_orders = builder("order_features")
    base.build_returns = builder("return_features")
    return base


def train_on_engine(
    client: Client, info: EngineInfo, data: str, *, partitions: int | None = None, progress=print, **kwargs
) -> TrainResult:
    """`train_all` with the features and the boosting on the cluster; `kwargs` as `train_all`'s."""
    ds = load_dataset(data, quarantine=kwargs.pop("quarantine", None))
    source = engine_feature_source(client, data, partitions=partitions, progress=progress)
    return train_all(ds, feature_source=source, make_estimator=engine_estimator_factory(client),
                     run_params={**info.params(), "partitions": partitions or "default"}, progress=progress,
                     **kwargs)
