"""Training on the distributed engine, without any process holding the data.

`train_on_engine` trains what `train_all` trains — the same labels and maturity rules, time
split, candidates, early-stopping rule, calibration, metrics and baselines, MLflow experiment
and registry, one run per model (with `engine`, `cluster`, `cluster_workers`, `cluster_threads`
and `partitions` as params) — with the rows staying in their home partitions on the workers:

- **labels** per home partition with the split's own functions; the maturity horizons (a
  quantile of every order's promise lead / every return's inspection lag) come from the whole
  data's lags, gathered as one number per event;
- **split**: the client gathers each labelled event's time and label (a few bytes an event)
  and cuts with `time_split`; each partition learns which of its rows are train, validation, test;
- **features** per home partition (`features.partitioned.feature_homes`), next to the labels:
  no shuffle to table order;
- **category maps** from value counts summed over the partitions; rows are encoded on the
  workers with the estimator's own encoder;
- **boosting** with `lightgbm.dask` (data-parallel) over the partitions where they are.
  Early stopping: `lightgbm.dask` hangs when its early-stopping callback fires on some workers
  and not others (each stops on its own share of the validation rows; LightGBM #6351, #7009),
  so the cluster boosts in chunks of trees (each chunk continues the last: `init_model`), the
  validation log loss of every tree is summed over the partitions, and the rule of
  `lightgbm.early_stopping` — stop once `early_stopping_rounds` trees pass without a lower
  loss, keep the best — is applied to that curve. Fits run one after another (concurrent
  `lightgbm.dask` fits can hang, #4942). The labels go in as numbers to `DaskLGBMRegressor`
  with the classifier's objective: the classifier infers the classes per worker and a worker
  without some class breaks the fit (`Socket recv error … code 104`);
- **calibration** on the validation rows' margins, gathered in time order (the calibration
  sample: one margin per class per validation event);
- **evaluation** on the test window: its probabilities and labels, and the logistic baseline's
  columns (at most `BASELINE_MAX_ROWS` recent training rows), are gathered; the promotion gate
  re-scores the champion on the workers (`ModelResult.score_test`).

The client ends up with the model, the metrics, and bounded samples (`X_train_sample`,
`X_test` — the most recent test rows —, the bundle's reference rows).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from features.partitioned import FEATURE_SETS, HomeFeatures, PartitionedTables, feature_homes, home_dataset
from models import SPECS, Bundle, RiskSpec
from models.estimator import RiskClassifier, category_counts
from training import evaluate as ev
from training.engine_jobs import partitioned_dataset
from training.featureset import FeatureSource, default_feature_source
from training.split import (
    LabelledEvents,
    delay_events,
    fraud_events,
    horizon,
    inspection_lags,
    promise_leads,
    return_events,
    time_split,
    too_few_events,
)
from training.train import (
    BASELINE_MAX_ROWS,
    REFERENCE_ROWS,
    ModelResult,
    TrainResult,
    _step,
    class_problem,
    finish_training,
    head_result,
    keep_trained,
    make_bundle,
)
from triage.engine import EngineError, EngineInfo
from triage.errors import NotEnoughDataError
from triage.settings import Settings

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["early_stopping_point", "train_on_engine", "TREE_CHUNK"]

NETWORK_TIMEOUT_MINUTES = 10  # LightGBM's socket time-out: a lost worker fails the fit instead of hanging it
TREE_CHUNK = 200  # trees boosted between two looks at the validation curve
TRAIN_SAMPLE_ROWS = 20_000  # X_train_sample, as train_risk keeps
_PARTS = {"train": 0, "validation": 1, "test": 2}
Progress = Callable[[str], None]


def early_stopping_point(losses: np.ndarray, patience: int) -> int:
    """The iteration (1-based) `lightgbm.early_stopping` keeps for this validation curve."""
    best, best_i = np.inf, 0
    for i, loss in enumerate(losses):
        if loss < best:
            best, best_i = loss, i
        elif i - best_i >= patience:
            break
    return best_i + 1


def _stopped(losses: np.ndarray, patience: int) -> bool:
    """Whether the callback would have stopped within this curve."""
    return len(losses) - early_stopping_point(losses, patience) >= patience


# ------------------------------------------------------------------ on the workers
def _max_event_time(tables, masters, present) -> pd.Timestamp | None:
    ds = home_dataset(tables, masters, present)
    times = [t for t in (ds["orders"]["created_at"].max(), ds["returns"]["requested_at"].max()) if pd.notna(t)]
    return max(times) if times else None


def _lags(tables, masters, present, cutoff: pd.Timestamp) -> dict[str, np.ndarray]:
    ds = home_dataset(tables, masters, present)
    out = {"delay": promise_leads(ds, cutoff).to_numpy("timedelta64[ns]"),
           "fraud_rows": np.asarray([len(ds["fraud_labels"])]),
           "inspected": np.asarray([len(ds["return_outcomes"])])}
    if ds.has("return_outcomes"):
        out["returns"] = inspection_lags(ds, cutoff).to_numpy("timedelta64[ns]")
    return out


def _labelled(tables, masters, present, risk: str, cutoff: pd.Timestamp, given: Mapping[str, Any]
              ) -> LabelledEvents | str:
    """One home partition's labelled events of a risk, with the whole data's horizons and counts."""
    ds = home_dataset(tables, masters, present)
    if risk == "delay":
        return delay_events(ds, cutoff, lead=given["lead"], min_events=0)
    if risk == "fraud":
        return fraud_events(ds, cutoff, window_days=given["window_days"], min_events=0, reported=given["fraud_rows"])
    return return_events(ds, cutoff, lag=given["lag"], min_events=0, inspected=given["inspected"])


def _label_summary(found: LabelledEvents | str) -> tuple | str:
    """What the client needs of a partition's labelled events: times (ns), labels, the window's words."""
    if isinstance(found, str):
        return found
    t = found.times.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[ns]").astype(np.int64)
    return t, found.labels, found.label_end, found.rule, found.from_review


def _labelled_frame(features: pd.DataFrame, found: LabelledEvents | str, codes: np.ndarray, names: list[str],
                    id_col: str) -> pd.DataFrame:
    """The partition's labelled rows in label order: features, `_part` (0/1/2) and `_t` (event ns)."""
    if isinstance(found, str) or not len(found.ids):
        return features.iloc[:0][names].assign(_part=np.zeros(0, np.int8), _t=np.zeros(0, np.int64))
    rows = features.drop_duplicates(id_col).set_index(id_col).reindex(found.ids)[names]
    t = found.times.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[ns]").astype(np.int64)
    return rows.reset_index(drop=True).assign(_part=np.asarray(codes, np.int8), _t=t)


def _train_counts(frame: pd.DataFrame, names: list[str]) -> dict[str, pd.Series]:
    return category_counts(frame.loc[frame["_part"].to_numpy() == 0, names])


def _encode(frame: pd.DataFrame, est: RiskClassifier, y_idx: np.ndarray) -> dict[str, np.ndarray]:
    """The partition's rows as the booster's matrices, per part (labels as class indices)."""
    part = frame["_part"].to_numpy()
    X = est._encode(frame)
    out = {}
    for code in _PARTS.values():
        keep = part == code
        out[f"X{code}"], out[f"y{code}"] = X[keep], np.asarray(y_idx, np.float64)[keep]
    out["cat_seen"] = np.array([bool(np.isfinite(out["X0"][:, j]).any()) for j in range(X.shape[1])])
    return out


def _get(enc: Mapping[str, np.ndarray], key: str) -> np.ndarray:
    return enc[key]


def _loss_sums(enc: Mapping[str, np.ndarray], booster: lgb.Booster) -> np.ndarray:
    """Sum over this partition's validation rows of the log loss after each tree."""
    X, y = enc["X1"], enc["y1"].astype(np.int64)
    trees = booster.current_iteration()
    sums = np.zeros(trees)
    if not len(y):
        return sums
    margin: np.ndarray | None = None
    for i in range(trees):
        step = np.asarray(booster.predict(X, start_iteration=i, num_iteration=1, raw_score=True))
        margin = step if margin is None else margin + step
        sums[i] = _log_loss_sum(margin, y)
    return sums


def _log_loss_sum(margin: np.ndarray, y: np.ndarray) -> float:
    eps = 1e-15
    if margin.ndim == 1:
        p = np.clip(1.0 / (1.0 + np.exp(-margin)), eps, 1 - eps)
        return float(-np.sum(y * np.log(p) + (1 - y) * np.log(1 - p)))
    z = margin - margin.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    return float(-np.sum(np.log(np.clip(p[np.arange(len(y)), y], eps, 1.0))))


def _margins(enc: Mapping[str, np.ndarray], est: RiskClassifier, code: int) -> np.ndarray:
    return est._margin(enc[f"X{code}"])


def _test_proba(enc: Mapping[str, np.ndarray], est: RiskClassifier) -> np.ndarray:
    return est.predict_proba_matrix(enc["X2"])


def _rows(frame: pd.DataFrame, code: int | None, names: list[str], *, last: int | None = None,
          sample: int | None = None) -> pd.DataFrame:
    """A part's rows (`_t` kept): all, the `last` most recent, or a seeded sample."""
    rows = frame if code is None else frame[frame["_part"].to_numpy() == code]
    if last is not None:
        rows = rows.sort_values("_t", kind="stable").iloc[-last:]
    if sample is not None:
        rows = rows.sample(min(len(rows), sample), random_state=0)
    return rows[[*names, "_t"]]


def _own_columns(tables, masters, present, found: LabelledEvents | str, codes: np.ndarray, entity: str,
                 since_ns: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The baseline's columns (the event's own row) of the recent training rows and of the test rows."""
    if isinstance(found, str) or not len(found.ids):
        return pd.DataFrame(), pd.DataFrame()
    ds = home_dataset(tables, masters, present)
    t = found.times.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[ns]").astype(np.int64)
    out = []
    for keep in ((codes == 0) & (t >= since_ns), codes == 2):
        own = ev.event_columns(ds, entity, found.ids[keep]).reset_index(drop=True)
        out.append(pd.concat([own, found.labels[keep].reset_index(drop=True).add_prefix("_y_")], axis=1)
                   .assign(_t=t[keep]))
    return out[0], out[1]


def _score_rows(frame: pd.DataFrame, bundle: Bundle) -> pd.DataFrame:
    rows = frame[frame["_part"].to_numpy() == 2].sort_values("_t", kind="stable")
    return bundle.predict_frame(rows.reset_index(drop=True)).assign(_t=rows["_t"].to_numpy())


# ------------------------------------------------------------------ on the client
def _by_time(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True).sort_values("_t", kind="stable").reset_index(drop=True)


class _Risk:
    """One risk's labelled events on the cluster: per home partition, and what the client keeps of them."""

    def __init__(self, spec: RiskSpec, found: list[Any], summaries: list[tuple]) -> None:
        self.spec = spec
        self.found = found  # persisted LabelledEvents per home partition
        self.counts = np.array([len(s[0]) for s in summaries], dtype=np.int64)
        self.times = np.concatenate([s[0] for s in summaries])
        self.labels = pd.concat([s[1] for s in summaries], ignore_index=True)
        first = summaries[int(np.argmax(self.counts))]
        self.label_end, self.rule = first[2], first[3]
        self.from_review = int(sum(s[4] for s in summaries))
        self.split = time_split(pd.Series(pd.to_datetime(self.times, utc=True)))
        self.codes = np.full(len(self.times), -1, np.int8)
        for part, code in _PARTS.items():
            self.codes[getattr(self.split, part)] = code
        self.offsets = np.concatenate([[0], np.cumsum(self.counts)])

    def part_codes(self, i: int) -> np.ndarray:
        return self.codes[self.offsets[i]:self.offsets[i + 1]]

    def in_time_order(self, part: str) -> np.ndarray:
        """Positions of a part's events sorted by time (how the gathered rows of a part are ordered)."""
        pos = getattr(self.split, part)
        order = np.argsort(self.times[pos], kind="stable")
        # rows gathered per partition come in partition order; sort them by (time, partition order) too
        return pos[order]

    def events(self, cutoff: pd.Timestamp) -> LabelledEvents:
        """The window's description (the events themselves stay on the cluster)."""
        return LabelledEvents(ids=np.empty(0, dtype=object), times=pd.Series([], dtype="datetime64[ns, UTC]"),
                              labels=pd.DataFrame(), label_end=self.label_end, cutoff=cutoff, rule=self.rule,
                              from_review=self.from_review)


def _gather_by_time(client: Client, tasks: list[Any]) -> pd.DataFrame:
    import dask

    return _by_time(dask.compute(*tasks))


def _concat_parts(arrays: Sequence[np.ndarray]) -> np.ndarray:
    arrays = [a for a in arrays if len(a)]
    return np.concatenate(arrays) if arrays else np.zeros(0)


def _boost(client: Client, enc: list[Any], n_rows: list[int], params: dict, cats: list[int], names: list[str],
           max_rounds: int, patience: int, say: Progress) -> tuple[lgb.Booster, np.ndarray]:
    """One candidate boosted on the cluster in chunks, stopped by the callback's rule on the summed curve."""
    import dask
    import dask.array as da
    from dask import delayed

    n_features = len(names)
    xs = [da.from_delayed(delayed(_get)(e, "X0"), shape=(n, n_features), dtype=np.float64)
          for e, n in zip(enc, n_rows, strict=True) if n]
    ys = [da.from_delayed(delayed(_get)(e, "y0"), shape=(n,), dtype=np.float64)
          for e, n in zip(enc, n_rows, strict=True) if n]
    dX, dy = da.concatenate(xs), da.concatenate(ys)
    native = {k: v for k, v in params.items() if k not in ("metric", "num_threads")}
    booster: lgb.Booster | None = None
    n_validation = None
    while True:
        done = 0 if booster is None else booster.current_iteration()
        model = lgb.DaskLGBMRegressor(client=client, n_estimators=min(TREE_CHUNK, max_rounds - done),
                                      tree_learner="data", time_out=NETWORK_TIMEOUT_MINUTES, **native)
        model.fit(dX, dy, categorical_feature=cats, feature_name=names, init_model=booster)
        booster = model.booster_
        shared = client.scatter(booster, broadcast=True)
        sums = dask.compute(*[delayed(_loss_sums)(e, shared) for e in enc])
        if n_validation is None:
            n_validation = sum(int(c) for c in dask.compute(*[delayed(_count)(e, "y1") for e in enc]))
        losses = np.sum(np.vstack(sums), axis=0) / max(n_validation, 1)
        if _stopped(losses, patience) or booster.current_iteration() >= max_rounds:
            break
        say(f"  {booster.current_iteration()} trees, best {early_stopping_point(losses, patience)}: boosting on")
    return booster, losses


def _count(enc: Mapping[str, np.ndarray], key: str) -> int:
    return len(enc[key])


def _fit_head(client: Client, risk: _Risk, target: str, frames: list[Any], names: list[str],
              est: RiskClassifier, say: Progress) -> RiskClassifier:
    """`RiskClassifier.fit`, its steps on the cluster: same schema, candidates, stopping rule, calibration."""
    import dask
    from dask import delayed

    t0 = time.perf_counter()
    y = risk.labels[target].to_numpy()
    y_tr, y_va = y[risk.split.train], y[risk.split.validation]
    counts: dict[str, pd.Series] = {}
    for part in dask.compute(*[delayed(_train_counts)(f, names) for f in frames]):
        for col, c in part.items():
            counts[col] = c if col not in counts else counts[col].add(c, fill_value=0).astype(np.int64)
    est._set_schema(names, np.unique(np.concatenate([y_tr, y_va])), counts)
    y_idx = np.searchsorted(est.classes_, y)
    shared_est = client.scatter(est, broadcast=True)
    enc = client.persist([delayed(_encode)(f, shared_est, y_idx[risk.offsets[i]:risk.offsets[i + 1]])
                          for i, f in enumerate(frames)])
    n_rows = [int((risk.part_codes(i) == 0).sum()) for i in range(len(frames))]
    seen = np.any(np.vstack(dask.compute(*[delayed(_get)(e, "cat_seen") for e in enc])), axis=0)
    # an all-missing categorical feature kills a distributed fit (code 104, LightGBM 4.7); it is never
    # split on, so leaving it numeric does not change the model
    cats = [j for j, c in enumerate(est.feature_names_in_) if c in est.category_maps_ and seen[j]]
    params = est._lgb_params(len(y_tr))
    candidates = est._candidates(len(y_tr), np.searchsorted(est.classes_, y_tr))
    est.selection_scores_ = {}
    best: tuple[float, dict, lgb.Booster] | None = None
    for label, over in candidates:
        booster, losses = _boost(client, enc, n_rows, {**params, **over}, cats, [str(c) for c in names],
                                 est.max_rounds, est.early_stopping_rounds, say)
        it = early_stopping_point(losses, est.early_stopping_rounds)
        booster.best_iteration = it
        loss = float(losses[it - 1])
        est.selection_scores_[label] = loss
        if best is None or loss < best[0]:
            best = (loss, over, booster)
    if best is None:
        raise TypeError("num_leaves names no candidates to fit")
    _, chosen, booster = best
    est._keep(booster, candidates, chosen, params)
    est.train_seconds_ = time.perf_counter() - t0
    shared_est = client.scatter(est, broadcast=True)
    margin = _concat_parts(dask.compute(*[delayed(_margins)(e, shared_est, 1) for e in enc]))
    margin = margin.reshape(len(y_va), -1) if est.n_classes_ > 2 else margin
    order = np.argsort(risk.times[risk.split.validation], kind="stable")  # the calibration's halves are in time
    est._calibrate(margin[order], np.searchsorted(est.classes_, y_va)[order])
    est.n_train_, est.n_validation_ = len(y_tr), len(y_va)
    est._engine_enc = enc  # type: ignore[attr-defined]  # (dropped before the bundle is built)
    return est


def train_on_engine(
    client: Client, info: EngineInfo, data: str, *, partitions: int | None = None, progress: Progress = print,
    cutoff: pd.Timestamp | str | None = None, experiment: str = "triage", fraud_label_window_days: int = 60,
    settings: Settings | None = None, truth_dir: str | None = None, register: bool = True,
    estimator_params: dict | None = None, quarantine: str | None = None,
    feature_source: FeatureSource | None = None,
) -> TrainResult:
    """`train_all` on the cluster (see the module's docstring); the same keyword arguments."""
    import dask
    from dask import delayed

    if quarantine is not None:
        raise EngineError("--quarantine is not supported with --engine dask: each partition is checked by the "
                          "contract's column rules and a broken row stops the job (run `triage validate` first)")
    t0 = time.perf_counter()
    source = feature_source or default_feature_source()
    parts = partitioned_dataset(client, data, partitions=partitions)
    home = [(h, parts.masters, parts.present) for h in parts.home]
    if cutoff is None:
        found_times = [t for t in dask.compute(*[delayed(_max_event_time)(*h) for h in home]) if t is not None]
        at = max(found_times)
    else:
        at = pd.Timestamp(cutoff)
    if at.tzinfo is None:
        raise ValueError(f"cutoff must carry a time zone (e.g. 2026-03-01T00:00:00Z); got {at}")
    at = at.tz_convert("UTC")

    risks: dict[str, _Risk] = {}
    skipped: dict[str, str] = {}
    with _step(progress, "labels on the engine: maturity and time windows"):
        lags = dask.compute(*[delayed(_lags)(*h, at) for h in home])
        given = {
            "lead": horizon(pd.Series(np.concatenate([g["delay"] for g in lags]))),
            "lag": horizon(pd.Series(np.concatenate([g.get("returns", np.zeros(0, "timedelta64[ns]"))
                                                     for g in lags]))),
            "fraud_rows": int(sum(int(g["fraud_rows"][0]) for g in lags)),
            "inspected": int(sum(int(g["inspected"][0]) for g in lags)),
            "window_days": fraud_label_window_days,
        }
        for kind in ("delay", "fraud", "returns"):
            found = client.persist([delayed(_labelled)(*h, kind, at, given) for h in home])
            summaries = dask.compute(*[delayed(_label_summary)(f) for f in found])
            real = [s for s in summaries if not isinstance(s, str)]
            if not real:
                skipped[SPECS[kind].name] = str(summaries[0])
                continue
            filled = [s if not isinstance(s, str) else _empty_summary(real[0]) for s in summaries]
            n = sum(len(s[0]) for s in filled)
            why = too_few_events(n, real[0][2])
            if why is not None:
                skipped[SPECS[kind].name] = why
                continue
            risks[kind] = _Risk(SPECS[kind], found, filled)
    for name, why in skipped.items():
        progress(f"{name}: skipped — {why}")

    features: dict[str, HomeFeatures] = {}
    for entity in sorted({SPECS[r].entity for r in risks}):
        with _step(progress, f"{entity} features on the engine"):
            features[entity] = feature_homes(client, parts, f"{entity}_features")

    results: dict[str, ModelResult] = {}
    for risk in risks.values():
        spec = risk.spec
        progress(f"{spec.name}: {len(risk.times)} labelled events until {risk.label_end.isoformat()} ({risk.rule})")
        keep_trained(spec.name, partial(
            _train_risk, client, parts, risk, features[spec.entity], source, at, progress, estimator_params, truth_dir,
        ), run_params={**info.params(), "partitions": parts.n}, results=results, skipped=skipped, progress=progress)
    return finish_training(results, skipped, cutoff=at, t0=t0, register=register, settings=settings,
                           experiment=experiment, progress=progress)


def _empty_summary(like: tuple) -> tuple:
    return np.zeros(0, np.int64), like[1].iloc[:0], like[2], like[3], 0


def _train_risk(client: Client, parts: PartitionedTables, risk: _Risk, homes: HomeFeatures, source: FeatureSource,
                cutoff: pd.Timestamp, progress: Progress, estimator_params: dict | None,
                truth_dir: str | None) -> ModelResult:
    import dask
    from dask import delayed

    t0 = time.perf_counter()
    spec = risk.spec
    fs = FEATURE_SETS[f"{spec.entity}_features"]
    names = [c for c in source.names(spec.entity) if c in homes.meta.columns]
    frames = client.persist([delayed(_labelled_frame)(homes.part(i), risk.found[i], risk.part_codes(i), names,
                                                      fs.id_col) for i in range(parts.n)])
    desc = risk.split.describe()
    progress(
        f"{spec.name}: train {desc['train_rows']} / validation {desc['validation_rows']} / test {desc['test_rows']} "
        f"(test {str(desc['test_start'])[:10]} → {str(desc['test_end'])[:10]})"
    )
    train_times = risk.times[risk.split.train]
    since_ns = int(np.sort(train_times)[-BASELINE_MAX_ROWS]) if len(train_times) > BASELINE_MAX_ROWS else \
        np.iinfo(np.int64).min
    own = dask.compute(*[delayed(_own_columns)(*h_args, risk.found[i], risk.part_codes(i), spec.entity, since_ns)
                         for i, h_args in enumerate((h, parts.masters, parts.present) for h in parts.home)])
    own_train, own_test = _by_time([o[0] for o in own]), _by_time([o[1] for o in own])
    oracle = ev.load_oracle(truth_dir, spec.entity) if truth_dir is not None else None

    estimators, heads, skipped_heads = {}, {}, {}
    for hs in spec.heads:
        y = risk.labels[hs.target].to_numpy()
        y_tr, y_va, y_te = (y[getattr(risk.split, p)] for p in ("train", "validation", "test"))
        why = class_problem(hs.target, {"training": y_tr, "validation": y_va, "test": y_te}, risk.split)
        if why is not None:
            if len(spec.heads) == 1:
                raise NotEnoughDataError(why)
            skipped_heads[hs.target] = why
            progress(f"{spec.name}/{hs.target}: skipped — {why}")
            continue
        with _step(progress, f"{spec.name}/{hs.target}: fit + calibrate on the engine"):
            est = spec.new_estimator(hs.target, **(estimator_params or {}))
            est = _fit_head(client, risk, hs.target, frames, names, est, progress)
        progress(
            f"{spec.name}/{hs.target}: {est.best_iteration_} trees of {est.candidate_}, calibration "
            f"{est.calibration_method_} (held-out Brier "
            f"{', '.join(f'{k} {v:.5f}' for k, v in est.calibration_scores_.items())})"
        )
        enc = est.__dict__.pop("_engine_enc")
        with _step(progress, f"{spec.name}/{hs.target}: evaluate vs baselines"):
            shared = client.scatter(est, broadcast=True)
            proba = dask.compute(*[delayed(_test_proba)(e, shared) for e in enc])
            proba = np.vstack([p for p in proba if len(p)]) if any(len(p) for p in proba) else np.zeros((0, 2))
            # rows came in partition order; put them (and their labels) in time order
            order = np.argsort(risk.times[risk.split.test], kind="stable")
            p_test, y_test = proba[order], y_te[order]
            y_own = own_train[f"_y_{hs.target}"].to_numpy()
            baseline = (_own_frame(own_train), y_own, _own_frame(own_test))
            test_ids = None
            if oracle is not None:
                test_ids = _test_ids(risk)
            heads[hs.target] = head_result(hs, p_test, list(est.classes_), y_tr, y_test, baseline, oracle, test_ids)
        estimators[hs.target] = est
    if not estimators:
        raise NotEnoughDataError("no head could be trained: " + "; ".join(skipped_heads.values()))

    bundle = make_bundle(spec, estimators, source, names, risk.events(cutoff), desc, heads)
    n_train = len(risk.split.train)
    sample = _gather_by_time(client, [
        delayed(_rows)(f, 0, names, sample=int(np.ceil(TRAIN_SAMPLE_ROWS * (risk.part_codes(i) == 0).sum()
                                                         / max(n_train, 1))))
        for i, f in enumerate(frames)])
    recent = _gather_by_time(client, [delayed(_rows)(f, 2, names, last=REFERENCE_ROWS) for f in frames])
    recent = recent.iloc[-REFERENCE_ROWS:].reset_index(drop=True)
    reference = recent[bundle.feature_names]
    bundle.reference = pd.concat([reference, bundle.predict_frame(reference)], axis=1)

    def score_test(other: Bundle) -> pd.DataFrame:
        scored = _by_time(dask.compute(*[delayed(_score_rows)(f, other) for f in frames]))
        return scored.drop(columns="_t")

    return ModelResult(spec=spec, bundle=bundle, events=risk.events(cutoff), split=risk.split, heads=heads,
                       X_train_sample=sample.drop(columns="_t").iloc[:TRAIN_SAMPLE_ROWS],
                       X_test=recent.drop(columns="_t"), seconds=time.perf_counter() - t0,
                       skipped_heads=skipped_heads, score_test=score_test)


def _own_frame(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[[c for c in frame.columns if not c.startswith("_")]]


def _test_ids(risk: _Risk) -> np.ndarray:
    """The test window's event ids in time order (for the oracle)."""
    import dask
    from dask import delayed

    ids = dask.compute(*[delayed(_part_ids)(f, risk.part_codes(i)) for i, f in enumerate(risk.found)])
    all_ids = np.concatenate([i for i in ids if len(i)]) if any(len(i) for i in ids) else np.zeros(0, object)
    return all_ids[np.argsort(risk.times[risk.split.test], kind="stable")]


def _part_ids(found: LabelledEvents | str, codes: np.ndarray) -> np.ndarray:
    if isinstance(found, str):
        return np.zeros(0, dtype=object)
    return found.ids[codes == 2]
