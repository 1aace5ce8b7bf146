"""`triage monitor`: recent decisions against the champion's training window.

For each champion model: feature and score drift (Evidently, pinned methods), data
quality, and — where outcomes have arrived and matured — live quality against the
figures logged at training time. The result is a JSON summary, a one-screen text
summary, one HTML report per model, and an exit status a scheduler can act on.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.outcomes import fraud_labels, late_labels, return_labels
from triage.audit import outcome_rows
from triage.contract import Dataset, empty_table
from triage.mlflow_store import experiment_id
from triage.monitoring.drift import DriftResult, compute_drift
from triage.monitoring.exceptions import exception_summary
from triage.monitoring.quality import QualityResult, live_quality
from triage.progress import Progress
from triage.progress import report as report_progress
from triage.settings import Settings

__all__ = ["ModelCheck", "MonitorResult", "monitor", "audited_window", "decisions_frame", "outcome_dataset"]

EXIT_OK, EXIT_ERROR, EXIT_ALERT = 0, 1, 3

# registered model → (event kind, score column judged for quality, label name)
TARGETS: dict[str, tuple[str, str, str]] = {
    "triage-delay": ("order", "p_late", "late"),
    "triage-fraud": ("order", "p_fraud", "fraud"),
    "triage-returns": ("return", "p_abuse", "abuse"),
}


@dataclass
class ModelCheck:
    name: str
    version: str | None
    drift: DriftResult | None
    quality: QualityResult | None
    alerts: list[str] = field(default_factory=list)
    report: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.name,
            "version": self.version,
            "drift": self.drift.to_dict() if self.drift else None,
            "quality": self.quality.to_dict() if self.quality else None,
            "alerts": self.alerts,
            "report": str(self.report) if self.report else None,
        }


@dataclass
class MonitorResult:
    window: tuple[str | None, str | None]
    checks: list[ModelCheck]
    exceptions: dict[str, Any]
    thresholds: dict[str, float]
    notes: list[str] = field(default_factory=list)

    @property
    def alerts(self) -> list[str]:
        return [f"{c.name}: {a}" for c in self.checks for a in c.alerts]

    @property
    def exit_code(self) -> int:
        return EXIT_ALERT if self.alerts else EXIT_OK

    def to_dict(self) -> dict[str, Any]:
        return {
            "window": {"since": self.window[0], "until": self.window[1]},
            "thresholds": self.thresholds,
            "status": "alert" if self.alerts else "ok",
            "alerts": self.alerts,
            "models": [c.to_dict() for c in self.checks],
            "exceptions": self.exceptions,
            "notes": self.notes,
        }

    def to_text(self) -> str:
        since, until = self.window
        lines = [f"monitor window {since or 'start'} .. {until or 'now'}"]
        for c in self.checks:
            head = f"{c.name} v{c.version}"
            if c.drift is None:
                lines.append(f"{head}: no recent decisions to compare")
                continue
            judged = [d for d in c.drift.drifted if d.column not in c.drift.growing]
            drifted = ", ".join(f"{d.column} ({d.score:.2f})" for d in judged[:6]) or "none"
            lines.append(
                f"{head}: {c.drift.current_rows} decisions vs {c.drift.reference_rows} reference rows; "
                f"drifted {c.drift.share_drifted:.0%} of judged columns: {drifted}"
            )
            if c.quality and c.quality.labelled:
                m = c.quality.metrics
                shown = ", ".join(f"{k} {m[k]:.3f}" for k in ("roc_auc", "pr_auc", "brier", "ece") if k in m)
                ref = ", ".join(f"{k} {v:.3f}" for k, v in c.quality.reference.items())
                lines.append(f"  live quality on {c.quality.labelled} matured labels: {shown} (training: {ref})")
            else:
                lines.append("  live quality: no matured labels yet")
        ex = self.exceptions
        lines.append(f"exception queue: {ex.get('exceptions', 0)} open, value at stake {ex.get('value_at_stake', 0):,.0f}")
        lines += self.notes
        lines.append("ALERT: " + "; ".join(self.alerts) if self.alerts else "status: ok (within thresholds)")
        return "\n".join(lines)


def decisions_frame(records: Iterable[Any]) -> pd.DataFrame:
    """Audited decisions as one row each: ids, time, request fields, features, scores, actions."""
    rows = []
    for r in records:
        req = r.request or {}
        rows.append(
            {
                "decision_id": r.decision_id,
                "kind": r.kind,
                "event_id": r.event_id,
                "event_time": pd.Timestamp(r.event_time),
                "received_at": pd.Timestamp(r.received_at),
                "request": req,
                "features": r.features or {},
                "scores": r.scores or {},
                "actions": list(r.actions or []),
                "priority": r.priority,
                "degraded": bool(r.degraded),
                "channel": req.get("channel"),
                "fulfillment_node_id": req.get("fulfillment_node_id"),
                "carrier": req.get("carrier"),
                "promised_at": req.get("promised_at"),
                "value_at_stake": float(req.get("order_total") or req.get("refund_amount") or 0.0),
            }
        )
    return pd.DataFrame(rows)


def audited_window(
    settings: Settings, *, since: pd.Timestamp | None, until: pd.Timestamp | None
) -> tuple[pd.DataFrame, list[Any]]:
    """Decisions whose event time is in [since, until) and the outcomes posted for them."""
    from triage.stores import open_store

    store = open_store(settings.audit_url)
    try:
        records = [
            r
            for r in store.iter_decisions(since.to_pydatetime() if since is not None else None)
            if until is None or pd.Timestamp(r.event_time) < until
        ]
        decisions = decisions_frame(records)
        outcomes = list(store.iter_outcomes(set(decisions["event_id"]) if len(decisions) else set()))
    finally:
        store.close()
    return decisions, outcomes


def _ts(values: Iterable[Any]) -> pd.Series:
    return pd.to_datetime(pd.Series(list(values), dtype=object), utc=True, format="ISO8601")


def outcome_dataset(decisions: pd.DataFrame, outcomes: Iterable[Any]) -> Dataset:
    """The audited events and posted outcomes as the few contract tables labels need.

    Outcome rows are built as the export builds them (`triage.audit.outcome_rows`), so
    labels then follow the same timing rules (features.outcomes) as training.
    """
    tables = {name: empty_table(name) for name in ("orders", "returns", "fulfillment_outcomes",
                                                    "fraud_labels", "return_outcomes")}
    orders = decisions[decisions["kind"] == "order"] if len(decisions) else decisions
    if len(orders):
        tables["orders"] = pd.DataFrame(
            {
                "order_id": orders["event_id"].to_numpy(),
                "customer_id": [r.get("customer_id") for r in orders["request"]],
                "created_at": orders["event_time"].to_numpy(),
                "promised_at": _ts(r.get("promised_at") for r in orders["request"]).to_numpy(),
                "fulfillment_node_id": orders["fulfillment_node_id"].to_numpy(),
                "carrier": orders["carrier"].to_numpy(),
            }
        )
    returns = decisions[decisions["kind"] == "return"] if len(decisions) else decisions
    if len(returns):
        tables["returns"] = pd.DataFrame(
            {"return_id": returns["event_id"].to_numpy(), "requested_at": returns["event_time"].to_numpy()}
        )
    rows = outcome_rows(outcomes)
    fulfil = [{k: r[k] for k in ("order_id", "delivered_at", "cancelled", "cancelled_at")}
              for r in rows["fulfillment_outcomes"]]
    fraud = [{"order_id": r["order_id"], "reported_at": r["reported_at"]} for r in rows["fraud_labels"]]
    inspections = [{"return_id": r["return_id"], "inspected_at": r["inspected_at"],
                    "disposition": r.get("disposition"), "abuse_confirmed": bool(r.get("abuse_confirmed"))}
                   for r in rows["return_outcomes"]]
    if fulfil:
        f = pd.DataFrame(fulfil)
        f["delivered_at"], f["cancelled_at"] = _ts(f["delivered_at"]), _ts(f["cancelled_at"])
        tables["fulfillment_outcomes"] = f
    if fraud:
        f = pd.DataFrame(fraud)
        f["reported_at"] = _ts(f["reported_at"])
        tables["fraud_labels"] = f
    if inspections:
        f = pd.DataFrame(inspections)
        f["inspected_at"] = _ts(f["inspected_at"])
        tables["return_outcomes"] = f
    # the API records every outcome type it receives, so each outcome table is "present"
    return Dataset(tables=tables, present=frozenset(tables))


def _labels(name: str, ds: Dataset, as_of: pd.Timestamp, window_days: int) -> pd.Series:
    if name == "triage-delay":
        # the API hears only what is posted: an order with no delivery or cancellation posted
        # is unknown here, not late (the contract's "no row means late" is for full exports)
        labels = late_labels(ds, as_of).astype(float)
        return labels[labels.index.isin(ds["fulfillment_outcomes"]["order_id"])]
    if name == "triage-fraud":
        return fraud_labels(ds, as_of, window_days=window_days).astype(float)
    return return_labels(ds, as_of)["abuse_confirmed"].astype(float)


def _growing(kind: str) -> frozenset[str]:
    """Declared all-time counts: they rise with history by construction, so drift there is expected."""
    from features import ORDER_FEATURES, RETURN_FEATURES

    fs = ORDER_FEATURES if kind == "order" else RETURN_FEATURES
    return frozenset(a.name for a in fs.aggregations if a.window is None and a.agg in ("count", "sum", "distinct"))


def _current(decisions: pd.DataFrame, kind: str, columns: list[str]) -> pd.DataFrame:
    mine = decisions[(decisions["kind"] == kind) & ~decisions["degraded"]] if len(decisions) else decisions
    rows = [{**f, **s} for f, s in zip(mine.get("features", []), mine.get("scores", []), strict=True)]
    frame = pd.DataFrame(rows, index=mine.index if len(mine) else None)
    for c in columns:
        if c not in frame.columns:
            frame[c] = np.nan
    frame = frame[columns]
    frame.index = mine["event_id"].to_numpy() if len(mine) else frame.index
    return frame


def _cast_like(current: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
    out = current.copy()
    for c in reference.columns:
        if pd.api.types.is_numeric_dtype(reference[c].dtype) and not pd.api.types.is_bool_dtype(reference[c].dtype):
            out[c] = pd.to_numeric(out[c], errors="coerce")
        else:
            out[c] = out[c].astype(object)
    return out


def monitor(
    decisions: pd.DataFrame,
    outcomes: list[Any],
    champions: Mapping[str, Any],
    *,
    out_dir: Path,
    since: pd.Timestamp | None,
    until: pd.Timestamp | None,
    as_of: pd.Timestamp,
    drift_share_threshold: float,
    quality_drop_threshold: float,
    drift_score_threshold: float = 2.0,
    min_labels: int = 200,
    min_rows: int = 200,
    fraud_label_window_days: int = 60,
    only: str | None = None,
    progress: Progress | None = None,
) -> MonitorResult:
    """Check each champion (or `only` one) against its training reference; write the reports.

    `progress` (see `triage.progress`) hears the models checked so far."""
    out_dir.mkdir(parents=True, exist_ok=True)
    thresholds = {
        "drift_share": drift_share_threshold,
        "drift_score": drift_score_threshold,
        "quality_drop": quality_drop_threshold,
        "min_labels": min_labels,
        "min_rows": min_rows,
    }
    checks: list[ModelCheck] = []
    notes: list[str] = []
    ds = outcome_dataset(decisions, outcomes)
    todo = [name for name in TARGETS if not only or name == only]
    for name, (kind, score, _label) in TARGETS.items():
        if only and name != only:
            continue
        report_progress(progress, f"monitor: drift and quality of {name}", todo.index(name), len(todo))
        bundle = champions.get(name)
        if bundle is None:
            notes.append(f"{name}: no champion loaded — not monitored")
            continue
        version = bundle.versions.get("registry_version")
        reference = getattr(bundle, "reference", None)
        if reference is None or reference.empty:
            notes.append(f"{name}: the champion carries no training reference sample — retrain to monitor it")
            continue
        columns = list(reference.columns)
        current = _cast_like(_current(decisions, kind, columns), reference)
        if current.empty:
            checks.append(ModelCheck(name, version, None, None))
            continue
        report = out_dir / f"{name}-v{version}-drift.html"
        drift = compute_drift(reference, current, html=report, title=name, growing=_growing(kind))
        labels = _labels(name, ds, as_of, fraud_label_window_days)
        scored = current[score].dropna() if score in current else pd.Series(dtype=float)
        common = scored.index.intersection(labels.index)
        trained = bundle.metrics.get(_label, {}) if isinstance(bundle.metrics.get(_label), dict) else {}
        reference_metrics = {k: float(trained[k]) for k in ("roc_auc", "pr_auc") if k in trained}
        quality = live_quality(labels.loc[common].to_numpy(), scored.loc[common].to_numpy(), reference_metrics)
        check = ModelCheck(name, version, drift, quality, report=report)
        if len(current) < min_rows:
            notes.append(f"{name}: {len(current)} decisions — too few to judge drift (< {min_rows})")
            checks.append(check)
            continue
        judged = [d for d in drift.drifted if d.column not in drift.growing]
        if drift.share_drifted > drift_share_threshold:
            check.alerts.append(
                f"{drift.share_drifted:.0%} of judged columns drifted (threshold {drift_share_threshold:.0%}): "
                + ", ".join(d.column for d in judged[:8])
            )
        severe = [d for d in drift.judged if d.score > drift_score_threshold]
        if severe:
            check.alerts.append(
                f"strong drift (distance > {drift_score_threshold}) in "
                + ", ".join(f"{d.column} ({d.score:.1f})" for d in sorted(severe, key=lambda d: -d.score)[:8])
            )
        if quality.labelled >= min_labels and quality.positives >= min(20, min_labels):
            for metric, drop in quality.drops.items():
                if drop > quality_drop_threshold:
                    check.alerts.append(f"live {metric} dropped by {drop:.3f} (threshold {quality_drop_threshold})")
        elif quality.labelled:
            notes.append(f"{name}: {quality.labelled} matured labels — too few to judge live quality (< {min_labels})")
        checks.append(check)
    report_progress(progress, "monitor: models checked", len(todo), len(todo))
    resolved = {o.entity_id for o in outcomes}
    exceptions = exception_summary(decisions, now=as_of, resolved=resolved)
    result = MonitorResult(
        (since.isoformat() if since is not None else None, until.isoformat() if until is not None else None),
        checks, exceptions, thresholds, notes,
    )
    (out_dir / "summary.json").write_text(json.dumps(result.to_dict(), indent=2, default=str))
    return result


def log_to_mlflow(result: MonitorResult, settings: Settings) -> None:
    """Log each model's check as a run tagged with the version it judged, and tag that version.

    The registered version then shows its latest monitoring status in the MLflow UI;
    a version served from a bundle file that the registry does not know is only logged.
    """
    import os

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow
    from mlflow.exceptions import MlflowException

    tracking_uri = settings.tracking_uri
    mlflow.set_tracking_uri(tracking_uri)
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    mlflow.set_experiment(experiment_id=experiment_id(client, "triage-monitoring", settings))
    for check in result.checks:
        if check.drift is None:
            continue
        with mlflow.start_run(run_name=f"monitor {check.name} v{check.version}") as run:
            mlflow.set_tags({"model_name": check.name, "model_version": str(check.version)})
            mlflow.log_metric("drift_share", check.drift.share_drifted)
            for key, value in (check.quality.metrics if check.quality else {}).items():
                mlflow.log_metric(f"live_{key}", value)
            mlflow.log_dict(check.to_dict(), "monitor_summary.json")
            if check.report is not None:
                mlflow.log_artifact(str(check.report))
        status = "alert: " + "; ".join(check.alerts) if check.alerts else "ok"
        try:
            client.set_model_version_tag(check.name, str(check.version), "monitor_status", status[:4000])
            client.set_model_version_tag(check.name, str(check.version), "monitor_run", run.info.run_id)
        except MlflowException:
            pass  # not a registered version (served from a bundle file): the run above is the record
