"""MLflow: the model review place, the registry and the promotion gate.

Per trained model, one run in the experiment: params (estimator settings, data window,
row counts, maturity rule), metrics (model, prior, logistic baseline, oracle, ratios),
plots, an Evidently data summary of the training features, a model card, and the
model itself — a pyfunc that returns probabilities, with signature and input example,
carrying the bundle file. The model is registered as `triage-<risk>`; the new version
gets alias `challenger`, and becomes `champion` only if the gate passes: on the new
test window, every head's gate metric is at least as good as the current champion's,
re-scored on the same rows. The first version becomes champion.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import pandas as pd

from models import save_bundle
from models.registry import CHALLENGER, CHAMPION, champion_version, configure, load_registered_bundle
from training.card import model_card
from triage.mlflow_store import experiment_id
from triage.settings import Settings

__all__ = ["register_results", "gate", "promote", "mlflow_ui_command"]

EVIDENTLY_SAMPLE = 5_000


def _flat_metrics(result) -> dict[str, float]:
    out = {}
    for t, head in result.heads.items():
        for ref, metrics in head.metrics.items():
            for k, v in metrics.items():
                if isinstance(v, float) and math.isfinite(v):
                    out[f"{t}_{k}" if ref == "model" else f"{t}_{ref}_{k}"] = v
    return out


def _params(result) -> dict[str, object]:
    p: dict[str, object] = {
        "model_name": result.name,
        "cutoff": result.events.cutoff.isoformat(),
        "label_end": result.events.label_end.isoformat(),
        "maturity_rule": result.events.rule[:480],
        "feature_set_version": result.bundle.versions.get("feature_set_version", ""),
        "n_features": len(result.bundle.feature_names),
        **result.split.describe(),
        **getattr(result, "run_params", {}),
    }
    for t, head in result.bundle.heads.items():
        est = head.estimator
        p[f"{t}_best_iteration"] = est.best_iteration_
        p[f"{t}_num_leaves_chosen"] = est.num_leaves_
        p[f"{t}_trees_chosen"] = getattr(est, "candidate_", f"{est.num_leaves_} leaves")[:480]
        p[f"{t}_calibration"] = est.calibration_method_
        for k, v in est.get_params().items():
            p[f"{t}_{k}"] = v
    for t, why in result.skipped_heads.items():
        p[f"{t}_skipped"] = why[:480]
    return p


def _evidently_html(frame: pd.DataFrame, path: Path) -> None:
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataSummaryPreset

    df = frame.sample(min(len(frame), EVIDENTLY_SAMPLE), random_state=0).copy()
    cat = [c for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])]
    for c in cat:
        df[c] = df[c].astype(object).where(df[c].notna(), None)
    num = [c for c in df.columns if c not in cat]
    definition = DataDefinition(numerical_columns=num, categorical_columns=cat)
    snapshot = Report([DataSummaryPreset()]).run(
        current_data=Dataset.from_pandas(df, data_definition=definition)
    )
    snapshot.save_html(str(path))


def _input_example(X: pd.DataFrame) -> pd.DataFrame:
    ex = X.head(5).reset_index(drop=True).copy()
    for c in ex.columns:
        if not pd.api.types.is_numeric_dtype(ex[c]):
            ex[c] = ex[c].astype(object).where(ex[c].notna(), None).astype(str)
        else:
            ex[c] = ex[c].astype(float)
    return ex


def _log_model(result, bundle_path: Path, tmp: Path):
    import mlflow
    from mlflow.models import infer_signature

    from models.mlflow_model import BUNDLE_ARTIFACT, BundleModel

    example = _input_example(result.X_test)
    output = result.bundle.predict_frame(example)
    lib = result.bundle.versions["libraries"]
    root = Path(__file__).resolve().parents[1]
    return mlflow.pyfunc.log_model(
        name="model",
        python_model=BundleModel(),
        artifacts={BUNDLE_ARTIFACT: str(bundle_path)},
        signature=infer_signature(example, output),
        input_example=example,
        code_paths=[str(root / "models"), str(root / "triage")],
        pip_requirements=[
            f"lightgbm=={lib['lightgbm']}",
            f"scikit-learn=={lib['scikit-learn']}",
            f"numpy=={lib['numpy']}",
            f"pandas=={lib['pandas']}",
            "joblib",
            "scipy",
        ],
    )


def register_results(
    results: dict, *, settings: Settings, experiment: str = "triage", progress=print
) -> None:
    """Log, register and gate every trained model; fills run_id/version/promoted/gate on each result."""
    import time

    import mlflow

    client = configure(settings)
    exp_id = experiment_id(client, experiment, settings)
    for result in results.values():
        t0 = time.perf_counter()
        with (
            tempfile.TemporaryDirectory() as d,
            mlflow.start_run(
                experiment_id=exp_id, run_name=f"{result.spec.risk}-{result.events.cutoff:%Y%m%dT%H%M}"
            ) as run,
        ):
            tmp = Path(d)
            mlflow.log_params({k: (str(v) if v is None else v) for k, v in _params(result).items()})
            mlflow.log_metrics(_flat_metrics(result))
            _log_figures(result)
            try:
                _evidently_html(result.X_train_sample, tmp / "training_features_summary.html")
                mlflow.log_artifact(str(tmp / "training_features_summary.html"), "reports")
            except Exception as exc:  # a report failure must not lose the model
                progress(f"{result.name}: Evidently report failed ({type(exc).__name__}: {exc})")
            bundle_path = save_bundle(result.bundle, tmp / "bundle.joblib")
            info = _log_model(result, bundle_path, tmp)
            mv = mlflow.register_model(info.model_uri, result.name)
            result.run_id, result.version = run.info.run_id, str(mv.version)
            client.set_registered_model_alias(result.name, CHALLENGER, mv.version)
            client.update_registered_model(result.name, description=result.spec.description)
            result.gate = gate(result, client)
            result.promoted = result.gate["promoted"]
            if result.promoted:
                client.set_registered_model_alias(result.name, CHAMPION, mv.version)
            mlflow.log_dict(result.gate, "gate.json")
            mlflow.set_tags(
                {"gate.rule": result.gate["rule"][:4900], "gate.outcome": result.gate["outcome"][:4900]}
            )
            client.set_model_version_tag(
                result.name, mv.version, "gate.outcome", result.gate["outcome"][:4900]
            )
            mlflow.log_text(model_card(result), "model_card.md")
        state = "champion" if result.promoted else "challenger"
        progress(
            f"{result.name}: logged run {result.run_id[:8]}, registered version {result.version} as {state} — "
            f"{result.gate['outcome']} … {time.perf_counter() - t0:.1f}s"
        )


def _log_figures(result) -> None:
    import matplotlib.pyplot as plt
    import mlflow

    from training.plots import head_figures, importance_figure, shap_summary_figure

    figs = {}
    for t, head in result.heads.items():
        figs.update(head_figures(head))
        est = result.bundle.heads[t].estimator
        figs[f"plots/{t}_importance.png"] = importance_figure(est, t)
        figs[f"plots/{t}_shap_summary.png"] = shap_summary_figure(est, result.X_test, t)
    for path, fig in figs.items():
        mlflow.log_figure(fig, path)
        plt.close(fig)


def _better_or_equal(new: float, old: float, higher_is_better: bool) -> bool:
    if not math.isfinite(old):
        return True
    if not math.isfinite(new):
        return False
    return new >= old if higher_is_better else new <= old


def gate(result, client) -> dict:
    """Compare the new version with the current champion on the new version's test window.

    Rule: the challenger becomes champion when, for every head the champion serves, its
    gate metric (late: ROC-AUC, fraud and abuse: PR-AUC, disposition: log loss) on the
    challenger's test rows is at least as good as the champion's on the same rows. No
    champion yet: the first version becomes champion.
    """
    from training import evaluate as ev

    spec = result.spec
    window = result.split.windows["test"]
    parts = [
        f"{h.target} {h.gate_metric} {'≥' if h.higher_is_better else '≤'} champion's"
        for h in spec.heads
        if h.target in result.heads
    ]
    rule = (
        f"challenger becomes champion when, on its test window {window[0].isoformat()} → {window[1].isoformat()} "
        f"({len(result.split.test)} events), every head is at least as good as the current champion "
        f"re-scored on the same events: {'; '.join(parts)}. First version becomes champion."
    )
    champion = champion_version(client, spec.name)
    if champion is None:
        return {
            "rule": rule,
            "promoted": True,
            "champion_version": None,
            "comparisons": {},
            "outcome": "first version: champion",
        }
    old = load_registered_bundle(client, spec.name, champion)
    old_scores = result.score_test(old) if result.score_test is not None else old.predict_frame(result.X_test)
    comparisons, ok = {}, True
    for h in spec.heads:
        if h.target not in result.heads and h.target not in old.heads:
            continue
        head = result.heads.get(h.target)
        new_v = head.metrics["model"].get(h.gate_metric, float("nan")) if head else float("nan")
        old_v = float("nan")
        if head is not None and h.target in old.heads:
            y = head.y_test
            if h.is_binary:
                old_v = ev.binary_metrics(y, old_scores[h.columns[0]].to_numpy()).get(
                    h.gate_metric, float("nan")
                )
            else:
                p = old_scores[list(h.columns)].to_numpy()
                old_v = ev.multiclass_metrics(y, p, list(h.classes)).get(h.gate_metric, float("nan"))
        passed = _better_or_equal(new_v, old_v, h.higher_is_better)
        ok &= passed
        comparisons[h.target] = {
            "metric": h.gate_metric,
            "challenger": new_v,
            "champion": old_v,
            "passed": passed,
        }
    detail = ", ".join(
        f"{t} {c['metric']} {c['challenger']:.4f} vs {c['champion']:.4f}" for t, c in comparisons.items()
    )
    outcome = f"{'promoted' if ok else 'not promoted'} over champion v{champion} ({detail})"
    return {
        "rule": rule,
        "promoted": ok,
        "champion_version": champion,
        "comparisons": comparisons,
        "outcome": outcome,
    }


def promote(name: str, version: str | int, *, settings: Settings, reason: str = "promoted by hand") -> None:
    """Point `champion` at a version by hand (the gate is not consulted); recorded on the version."""
    client = configure(settings)
    client.get_model_version(name, str(version))  # raises if absent
    client.set_registered_model_alias(name, CHAMPION, str(version))
    client.set_model_version_tag(name, str(version), "promotion", reason)


def mlflow_ui_command(settings: Settings, *, host: str = "127.0.0.1", port: int = 5000) -> list[str]:
    """The `mlflow ui` command line for the configured store (one worker: starts in seconds, not a minute)."""
    import sys

    return [
        sys.executable, "-m", "mlflow", "ui",
        "--backend-store-uri", settings.tracking_uri,
        "--host", host, "--port", str(port), "--workers", "1",
    ]  # fmt: skip
