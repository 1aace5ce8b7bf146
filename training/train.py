"""Train, evaluate and register the three risk models from a contract dataset.

`train_all` trains whatever the labels allow — delay needs fulfillment outcomes,
fraud needs fraud labels, returns need inspected returns — and says which models it
skipped and why. For each model: mature labelled events → time split → LightGBM with
early stopping and calibration per head → metrics on the test window beside the prior,
a logistic model on the event's own columns and (with `truth/`) the oracle → bundle →
MLflow run, registration and the promotion gate.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from models import SPECS, Bundle, RiskSpec
from models.bundle import library_versions
from models.estimator import RiskClassifier
from training import evaluate as ev
from training.featureset import FeatureSource, default_feature_source
from training.split import LabelledEvents, TimeSplit, delay_events, fraud_events, return_events, time_split
from triage.contract import Dataset
from triage.errors import NotEnoughDataError
from triage.settings import Settings

__all__ = [
    "HeadResult",
    "ModelResult",
    "TrainResult",
    "train_all",
    "train_risk",
    "class_problem",
    "Progress",
    "MIN_CLASS_EVENTS",
]

Progress = Callable[[str], None]
EstimatorFactory = Callable[[RiskSpec, str, dict], RiskClassifier]
BASELINE_MAX_ROWS = 200_000


MIN_CLASS_EVENTS = 10  # events of each class a head needs in its training window
REFERENCE_ROWS = 5_000  # training rows kept in the bundle as the monitoring reference


@dataclass
class HeadResult:
    """One head's test-window evaluation: metrics per reference and the raw material for plots."""

    target: str
    metrics: dict[str, dict[str, float]]  # "model", "prior", "logistic", "oracle", "vs_oracle"
    y_test: np.ndarray
    predictions: dict[str, np.ndarray]  # reference → test probabilities (binary: (n,), multiclass: (n, k))
    classes: list


@dataclass
class ModelResult:
    spec: RiskSpec
    bundle: Bundle
    events: LabelledEvents
    split: TimeSplit
    heads: dict[str, HeadResult]
    X_train_sample: pd.DataFrame
    X_test: pd.DataFrame
    seconds: float
    skipped_heads: dict[str, str] = field(default_factory=dict)
    # set by the registry
    run_id: str | None = None
    run_params: dict = field(default_factory=dict)  # logged with the run (e.g. the engine and cluster size)
    # scores a bundle on the whole test window, row for row with the heads' y_test (None: predict X_test);
    # the distributed engine keeps the test window on the cluster and X_test holds a sample of it
    score_test: Callable[[Bundle], pd.DataFrame] | None = None
    version: str | None = None
    promoted: bool | None = None
    gate: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.spec.name

    def summary_lines(self) -> list[str]:
        lines = []
        for t, h in self.heads.items():
            m = h.metrics["model"]
            key = "log_loss" if t == "disposition" else ("pr_auc" if t in ("fraud", "abuse") else "roc_auc")
            refs = ", ".join(
                f"{r} {h.metrics[r].get(key, float('nan')):.4f}"
                for r in ("prior", "logistic", "oracle")
                if r in h.metrics
            )
            lines.append(f"  {self.name}/{t}: test {key} {m.get(key, float('nan')):.4f} ({refs})")
        return lines


@dataclass
class TrainResult:
    cutoff: pd.Timestamp
    models: dict[str, ModelResult]  # by registered name
    skipped: dict[str, str]  # registered name → reason
    seconds: float = 0.0

    def summary(self) -> str:
        lines = [f"cutoff {self.cutoff.isoformat()}, {self.seconds:.1f}s"]
        for r in self.models.values():
            state = f"version {r.version}" if r.version else "not registered"
            if r.promoted is not None:
                state += ", promoted to champion" if r.promoted else ", stays challenger"
            lines.append(f"{r.name}: trained ({state})")
            lines += r.summary_lines()
            lines += [f"  {r.name}/{t}: skipped — {why}" for t, why in r.skipped_heads.items()]
        lines += [f"{name}: skipped — {why}" for name, why in self.skipped.items()]
        return "\n".join(lines)


@contextmanager
def _step(progress: Progress, what: str):
    """Report `what … 1.2s` when the step finishes."""
    t0 = time.perf_counter()
    yield
    progress(f"{what} … {time.perf_counter() - t0:.1f}s")


def _default_truth(ds: Dataset) -> Path | None:
    if ds.source is not None and (Path(ds.source) / "truth").is_dir():
        return Path(ds.source) / "truth"
    return None


def train_all(
    ds: Dataset,
    *,
    cutoff: pd.Timestamp | str | None = None,
    experiment: str = "triage",
    fraud_label_window_days: int = 60,
    settings: Settings | None = None,
    truth_dir: str | Path | None = None,
    progress: Progress = print,
    register: bool = True,
    feature_source: FeatureSource | None = None,
    estimator_params: dict | None = None,
    make_estimator: EstimatorFactory | None = None,
    run_params: dict | None = None,
) -> TrainResult:
    """Train every model the labels allow; evaluate; log, register and gate in MLflow.

    `cutoff` (default: the latest event time) is where training stands: events before
    it, outcomes known before it. `register=False` skips MLflow (tests, benchmarks).
    `make_estimator(spec, target, params)` makes each head's estimator (default
    `spec.new_estimator`; `training.engine_train` boosts on a cluster); `run_params` are
    logged with every run.
    """
    t0 = time.perf_counter()
    at: pd.Timestamp = pd.Timestamp(cutoff) if cutoff is not None else ds.max_event_time
    if at.tzinfo is None:
        raise ValueError(f"cutoff must carry a time zone (e.g. 2026-03-01T00:00:00Z); got {at}")
    cutoff = at.tz_convert("UTC")
    truth_dir = Path(truth_dir) if truth_dir is not None else _default_truth(ds)
    source = feature_source or default_feature_source()

    events: dict[str, LabelledEvents] = {}
    skipped: dict[str, str] = {}
    with _step(progress, "labels: maturity and time windows"):
        for risk, found in (
            ("delay", delay_events(ds, cutoff)),
            ("fraud", fraud_events(ds, cutoff, window_days=fraud_label_window_days)),
            ("returns", return_events(ds, cutoff)),
        ):
            if isinstance(found, str):
                skipped[SPECS[risk].name] = found
            else:
                events[risk] = found
    for name, why in skipped.items():
        progress(f"{name}: skipped — {why}")

    frames: dict[str, pd.DataFrame] = {}
    for entity in sorted({SPECS[r].entity for r in events}):
        with _step(progress, f"{entity} features"):
            frames[entity] = source.build(ds, entity)

    results: dict[str, ModelResult] = {}
    for risk, evs in events.items():
        spec = SPECS[risk]
        reviewed = f"; {evs.from_review} labelled by manual reviews" if evs.from_review else ""
        progress(
            f"{spec.name}: {len(evs.ids)} labelled events until {evs.label_end.isoformat()} ({evs.rule}){reviewed}"
        )
        keep_trained(spec.name, partial(
            train_risk, spec, evs, frames[spec.entity], ds, source=source, truth_dir=truth_dir, progress=progress,
            estimator_params=estimator_params, make_estimator=make_estimator,
        ), run_params=dict(run_params or {}), results=results, skipped=skipped, progress=progress)
    return finish_training(results, skipped, cutoff=cutoff, t0=t0, register=register, settings=settings,
                           experiment=experiment, progress=progress)


def keep_trained(name: str, train: Callable[[], ModelResult], *, run_params: dict, results: dict[str, ModelResult],
                 skipped: dict[str, str], progress: Progress) -> None:
    """Train one risk (`train()`) and keep its result under `name` with `run_params`, its summary
    printed; or, when it has too little data (e.g. a single class in the training window), why
    it was skipped (`train_all` and the engine's `training.engine_train.train_engine`)."""
    try:
        result = train()
    except NotEnoughDataError as exc:
        skipped[name] = exc.message
        progress(f"{name}: skipped — {exc.message}")
        return
    result.run_params = run_params
    results[name] = result
    for line in result.summary_lines():
        progress(line)


def finish_training(results: dict[str, ModelResult], skipped: dict[str, str], *, cutoff: pd.Timestamp, t0: float,
                    register: bool, settings: Settings | None, experiment: str, progress: Progress) -> TrainResult:
    """Register the trained models (when `register`) and sum the run up (`t0`: its
    `time.perf_counter()` start)."""
    if register and results:
        from training.registry import register_results

        register_results(results, settings=settings or Settings(), experiment=experiment, progress=progress)
    return TrainResult(cutoff=cutoff, models=results, skipped=skipped, seconds=time.perf_counter() - t0)


def train_risk(
    spec: RiskSpec,
    events: LabelledEvents,
    frame: pd.DataFrame,
    ds: Dataset,
    *,
    source: FeatureSource,
    truth_dir: Path | None = None,
    progress: Progress = print,
    estimator_params: dict | None = None,
    make_estimator: EstimatorFactory | None = None,
) -> ModelResult:
    """Fit, calibrate and evaluate every head of one risk on its time split."""
    t0 = time.perf_counter()
    split = time_split(events.times)
    names = [c for c in source.names(spec.entity) if c in frame.columns]
    X = frame.reindex(events.ids)[names]
    parts = {p: X.iloc[getattr(split, p)] for p in ("train", "validation", "test")}
    desc = split.describe()
    progress(
        f"{spec.name}: train {desc['train_rows']} / validation {desc['validation_rows']} / test {desc['test_rows']} "
        f"(test {str(desc['test_start'])[:10]} → {str(desc['test_end'])[:10]})"
    )
    oracle = ev.load_oracle(truth_dir, spec.entity)
    test_ids = events.ids[split.test]
    own_cols = ev.event_columns(ds, spec.entity, events.ids)

    estimators, heads, skipped_heads = {}, {}, {}
    for hs in spec.heads:
        y = events.labels[hs.target].to_numpy()
        y_tr, y_va, y_te = (y[getattr(split, p)] for p in ("train", "validation", "test"))
        why = class_problem(hs.target, {"training": y_tr, "validation": y_va, "test": y_te}, split)
        if why is not None:
            if len(spec.heads) == 1:
                raise NotEnoughDataError(why)
            skipped_heads[hs.target] = why
            progress(f"{spec.name}/{hs.target}: skipped — {why}")
            continue
        with _step(progress, f"{spec.name}/{hs.target}: fit + calibrate"):
            est = (make_estimator(spec, hs.target, estimator_params or {}) if make_estimator is not None
                   else spec.new_estimator(hs.target, **(estimator_params or {})))
            est.fit(parts["train"], y_tr, eval_set=(parts["validation"], y_va))
        progress(
            f"{spec.name}/{hs.target}: {est.best_iteration_} trees of {est.candidate_}, calibration {est.calibration_method_} "
            f"(held-out Brier {', '.join(f'{k} {v:.5f}' for k, v in est.calibration_scores_.items())})"
        )
        estimators[hs.target] = est
        with _step(progress, f"{spec.name}/{hs.target}: evaluate vs baselines"):
            heads[hs.target] = _evaluate_head(
                hs, est, parts["test"], y_tr, y_te, own_cols, split, oracle, test_ids
            )
    if not estimators:
        raise NotEnoughDataError("no head could be trained: " + "; ".join(skipped_heads.values()))

    bundle = make_bundle(spec, estimators, source, names, events, desc, heads)
    sample = parts["train"].sample(min(len(parts["train"]), 20_000), random_state=0).sort_index()
    # the most recent labelled events: warm-up rows (little history yet) would make every
    # history feature look drifted against any later window
    reference = pd.concat(list(parts.values())).iloc[-REFERENCE_ROWS:][bundle.feature_names]
    bundle.reference = pd.concat([reference, bundle.predict_frame(reference)], axis=1)
    return ModelResult(
        spec=spec,
        bundle=bundle,
        events=events,
        split=split,
        heads=heads,
        X_train_sample=sample,
        X_test=parts["test"],
        seconds=time.perf_counter() - t0,
        skipped_heads=skipped_heads,
    )


def make_bundle(spec: RiskSpec, estimators: dict, source: FeatureSource, names: list[str], events: LabelledEvents,
                desc: dict, heads: dict[str, HeadResult]) -> Bundle:
    """The bundle of the fitted heads with its versions (training window, feature set, libraries) and metrics."""
    return spec.make_bundle(
        estimators,
        reason_templates={n: source.reason_templates.get(n) for n in names},
        versions={
            "model_name": spec.name,
            "registry_version": None,
            "training_window": {
                "cutoff": events.cutoff.isoformat(),
                "label_end": events.label_end.isoformat(),
                "labels_from_reviews": events.from_review,
                **{k: v for k, v in desc.items() if k.endswith(("_start", "_end"))},
            },
            "feature_set_version": source.version,
            "libraries": library_versions(),
            "trained_at": pd.Timestamp.now(tz="UTC").isoformat(),
        },
        metrics={t: h.metrics["model"] for t, h in heads.items()},
    )


def class_problem(target: str, parts: dict[str, np.ndarray], split: TimeSplit) -> str | None:
    """Why a head cannot be trained and judged on these windows, or None when it can.

    The training window needs at least `MIN_CLASS_EVENTS` events of each of two classes
    (binary: both; dispositions: at least two classes), validation and test at least one of
    each (validation: early stopping and calibration; test: the metric the gate judges).
    """
    counts = {part: pd.Series(y).value_counts() for part, y in parts.items()}
    train = counts["training"]
    if (train >= MIN_CLASS_EVENTS).sum() < 2:
        n = int(train.sum())
        if set(train.index) <= {True, False}:
            pos, neg = int(train.get(True, 0)), int(train.get(False, 0))
            return (
                f"{target}: {pos} positive and {neg} negative labelled events in the training window; "
                f"need at least {MIN_CLASS_EVENTS} of each"
            )
        shown = ", ".join(f"{k} {v}" for k, v in train.items())
        return (
            f"{target}: fewer than two classes with {MIN_CLASS_EVENTS}+ events among the {n} labelled "
            f"in the training window ({shown}); need at least two"
        )
    for part in ("validation", "test"):
        if len(counts[part]) < 2:
            start, end = split.windows[part]
            shown = ", ".join(f"{k} {v}" for k, v in counts[part].items()) or "no events"
            purpose = "stop early and calibrate" if part == "validation" else "judge the model"
            return (
                f"{target}: one class only in the {part} window {str(start)[:10]} → {str(end)[:10]} "
                f"({shown}); need two to {purpose}"
            )
    return None


def _evaluate_head(hs, est, X_test, y_train, y_test, own_cols, split, oracle, test_ids) -> HeadResult:
    own_train = own_cols.iloc[split.train]
    ytr = y_train
    if len(own_train) > BASELINE_MAX_ROWS:  # the most recent rows: a baseline, not a second model
        own_train, ytr = own_train.iloc[-BASELINE_MAX_ROWS:], y_train[-BASELINE_MAX_ROWS:]
    return head_result(hs, est.predict_proba(X_test), list(est.classes_), y_train, y_test,
                       (own_train, ytr, own_cols.iloc[split.test]), oracle, test_ids)


def head_result(hs, proba, est_classes, y_train, y_test, baseline, oracle, test_ids) -> HeadResult:
    """A head's metrics on the test window beside the prior, the logistic baseline and the oracle.

    `proba`: the model's test probabilities (columns in `est_classes` order); `baseline`: the
    logistic model's (training rows, their labels, test rows) of the events' own columns.
    """
    classes = list(hs.classes)
    multiclass = not hs.is_binary
    idx = [
        est_classes.index(c) if c in est_classes else -1
        for c in (classes if multiclass else [True])
    ]
    if multiclass:
        p_model = np.column_stack([proba[:, i] if i >= 0 else np.zeros(len(proba)) for i in idx])
    else:
        p_model = proba[:, idx[0]]
    preds = {
        "model": p_model,
        "prior": ev.prior_baseline(y_train, len(y_test), classes if multiclass else None),
    }

    own_train, ytr, own_test = baseline
    base = ev.logistic_baseline(own_train, ytr)
    pb = ev.baseline_proba(base, own_test)
    bc = list(base.classes_)
    if multiclass:
        preds["logistic"] = np.column_stack(
            [pb[:, bc.index(c)] if c in bc else np.zeros(len(pb)) for c in classes]
        )
    else:
        preds["logistic"] = pb[:, bc.index(True)]

    if oracle is not None:
        cols = hs.columns
        o = oracle.reindex(test_ids)
        if all(c in o.columns for c in cols) and o[list(cols)].notna().all().all():
            preds["oracle"] = o[list(cols)].to_numpy() if multiclass else o[cols[0]].to_numpy()

    metrics = {}
    for ref, p in preds.items():
        metrics[ref] = (
            ev.multiclass_metrics(y_test, p, classes) if multiclass else ev.binary_metrics(y_test, p)
        )
    if "oracle" in metrics:
        metrics["vs_oracle"] = ev.ratio_metrics(metrics["model"], metrics["oracle"])
    return HeadResult(target=hs.target, metrics=metrics, y_test=y_test, predictions=preds, classes=classes)
