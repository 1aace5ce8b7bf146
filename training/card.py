"""A short markdown model card: what it predicts, on which data, how well, and its limits."""

from __future__ import annotations

__all__ = ["model_card"]

_KEYS = {
    "late": ("roc_auc", "pr_auc", "brier", "log_loss"),
    "fraud": ("pr_auc", "roc_auc", "recall_at_capacity", "precision_at_capacity", "brier", "log_loss"),
    "abuse": ("pr_auc", "roc_auc", "recall_at_capacity", "precision_at_capacity", "brier", "log_loss"),
    "disposition": ("log_loss", "macro_f1", "accuracy", "brier"),
}


def _fmt(v) -> str:
    return "—" if v is None or v != v else f"{v:.4f}"


def model_card(result) -> str:
    b, spec, d = result.bundle, result.spec, result.split.describe()
    lines = [
        f"# {spec.name}" + (f" — version {result.version}" if result.version else ""),
        "",
        f"**Predicts:** {spec.description}",
        f"**Event:** one {spec.entity}, scored at its own time with features known strictly before it.",
        f"**Score columns:** {', '.join(b.output_columns)}",
        "",
        "## Data",
        f"- cut-off {result.events.cutoff.isoformat()}; labelled events end {result.events.label_end.isoformat()}",
        f"- maturity rule: {result.events.rule}",
        f"- train {d['train_rows']} ({d['train_start'][:10]} → {d['train_end'][:10]}), "
        f"validation {d['validation_rows']} ({d['validation_start'][:10]} → {d['validation_end'][:10]}), "
        f"test {d['test_rows']} ({d['test_start'][:10]} → {d['test_end'][:10]}); split by time, no shuffling",
        f"- feature set {b.versions.get('feature_set_version', '')}, {len(b.feature_names)} features",
        "",
        "## Model",
    ]
    for t, head in b.heads.items():
        est = head.estimator
        lines.append(
            f"- `{t}`: LightGBM, {est.best_iteration_} trees (early stopping on validation log loss), "
            f"learning rate {est.learning_rate}, {getattr(est, 'candidate_', f'{est.num_leaves_} leaves')} (validation log loss by candidate: {est.selection_scores_}); calibration `{est.calibration_method_}` "
            f"chosen by held-out Brier on validation ({', '.join(f'{k} {v:.5f}' for k, v in est.calibration_scores_.items())})"
        )
    lines += ["", "## Test-window metrics", ""]
    for t, head in result.heads.items():
        keys = _KEYS.get(t, ())
        refs = [r for r in ("model", "prior", "logistic", "oracle") if r in head.metrics]
        lines += [f"### {t}", "", "| metric | " + " | ".join(refs) + " |", "|---" * (len(refs) + 1) + "|"]
        for k in keys:
            lines.append(f"| {k} | " + " | ".join(_fmt(head.metrics[r].get(k)) for r in refs) + " |")
        if "vs_oracle" in head.metrics:
            ratios = head.metrics["vs_oracle"]
            lines.append("")
            lines.append(
                "model / oracle: " + ", ".join(f"{k} {v:.3f}" for k, v in ratios.items() if k[:-10] in keys)
            )
        lines.append("")
    for t, why in result.skipped_heads.items():
        lines.append(f"- `{t}` not trained: {why}")
    if result.gate:
        lines += [
            "## Promotion",
            "",
            f"- rule: {result.gate['rule']}",
            f"- outcome: {result.gate['outcome']}",
            "",
        ]
    lines += [
        "## Known limits",
        "- Probabilities are calibrated on the validation window just before the test window; a change in base "
        "rate after training (season, promotion, new fraud pattern) shifts them until the next training.",
        "- Labels near the cut-off are excluded until mature, so the newest weeks of behaviour are not learnt yet "
        "(for fraud, the whole label window).",
        "- Unseen or rare category values are treated as missing.",
        "- 'prior' is the training base rate; 'logistic' a logistic regression on the event's own columns "
        "(no history); 'oracle' exists only for simulated data.",
    ]
    return "\n".join(lines) + "\n"
