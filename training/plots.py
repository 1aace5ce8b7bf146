"""The figures a reviewer looks at for one trained model (matplotlib, no display).

ROC and PR curves against the baselines and oracle, reliability curves, a confusion
matrix for dispositions, gain importance, a SHAP summary from LightGBM's own
`pred_contrib` on a sample, and score distributions by outcome.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.calibration import calibration_curve  # noqa: E402
from sklearn.metrics import confusion_matrix, precision_recall_curve, roc_curve  # noqa: E402

from models.estimator import RiskClassifier  # noqa: E402
from models.explain import shap_contributions  # noqa: E402

__all__ = ["head_figures", "importance_figure", "shap_summary_figure"]

SHAP_SAMPLE = 2000
_REFS = ("model", "logistic", "oracle")


def _roc_pr(head) -> plt.Figure:
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.5))
    y = head.y_test.astype(bool)
    for ref in _REFS:
        if ref not in head.predictions:
            continue
        p = head.predictions[ref]
        m = head.metrics[ref]
        fpr, tpr, _ = roc_curve(y, p)
        a1.plot(fpr, tpr, label=f"{ref} (AUC {m.get('roc_auc', float('nan')):.3f})")
        prec, rec, _ = precision_recall_curve(y, p)
        a2.plot(rec, prec, label=f"{ref} (AP {m.get('pr_auc', float('nan')):.3f})")
    a1.plot([0, 1], [0, 1], "k:", lw=0.8)
    a2.axhline(y.mean(), color="k", ls=":", lw=0.8, label=f"prior {y.mean():.3f}")
    a1.set(xlabel="false positive rate", ylabel="true positive rate", title=f"ROC — {head.target}")
    a2.set(xlabel="recall", ylabel="precision", title=f"Precision-recall — {head.target}")
    a1.legend(loc="lower right")
    a2.legend(loc="upper right")
    fig.tight_layout()
    return fig


def _reliability(head) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(5.5, 5))
    if head.classes == [True]:
        series = [
            (ref, head.y_test.astype(bool), head.predictions[ref]) for ref in _REFS if ref in head.predictions
        ]
    else:  # one curve per class, model only
        p = head.predictions["model"]
        series = [(str(c), head.y_test == c, p[:, j]) for j, c in enumerate(head.classes)]
    for label, y, p in series:
        if len(np.unique(y)) < 2:
            continue
        frac, mean = calibration_curve(y, p, n_bins=10, strategy="quantile")
        ax.plot(mean, frac, marker="o", ms=3, label=label)
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set(
        xlabel="mean predicted probability", ylabel="observed frequency", title=f"Reliability — {head.target}"
    )
    ax.legend()
    fig.tight_layout()
    return fig


def _confusion(head) -> plt.Figure:
    classes = [str(c) for c in head.classes]
    pred = np.asarray(classes, dtype=object)[head.predictions["model"].argmax(axis=1)]
    cm = confusion_matrix(head.y_test.astype(str), pred.astype(str), labels=classes)
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, rotation=35, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=8)
    ax.set(xlabel="predicted (argmax)", ylabel="actual", title="Disposition confusion matrix (test)")
    fig.tight_layout()
    return fig


def _distribution(head) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(6.5, 4))
    if head.classes == [True]:
        p, y = head.predictions["model"], head.y_test.astype(bool)
        bins = np.linspace(0, max(1e-3, float(np.quantile(p, 0.999))), 50).tolist()
        ax.hist(p[~y], bins=bins, alpha=0.6, density=True, label="negative")
        ax.hist(p[y], bins=bins, alpha=0.6, density=True, label="positive")
        ax.set(
            xlabel=f"P({head.target})",
            ylabel="density",
            title=f"Score distribution by outcome — {head.target}",
        )
    else:
        p = head.predictions["model"]
        for j, c in enumerate(head.classes):
            ax.hist(p[:, j], bins=40, histtype="step", density=True, label=str(c))
        ax.set(xlabel="probability", ylabel="density", title="Disposition probability distributions")
    ax.legend()
    fig.tight_layout()
    return fig


def head_figures(head) -> dict[str, plt.Figure]:
    """Every figure for one head, by artifact file name."""
    t = head.target
    figs = {f"plots/{t}_reliability.png": _reliability(head), f"plots/{t}_scores.png": _distribution(head)}
    if head.classes == [True]:
        figs[f"plots/{t}_roc_pr.png"] = _roc_pr(head)
    else:
        figs[f"plots/{t}_confusion.png"] = _confusion(head)
    return figs


def importance_figure(est: RiskClassifier, target: str, top: int = 25) -> plt.Figure:
    imp = est.feature_importance("gain").head(top)[::-1]
    fig, ax = plt.subplots(figsize=(7, 0.28 * len(imp) + 1.2))
    ax.barh(imp.index, imp.to_numpy())
    ax.set(xlabel="total gain", title=f"Feature importance (gain) — {target}")
    fig.tight_layout()
    return fig


def shap_summary_figure(est: RiskClassifier, X: pd.DataFrame, target: str, top: int = 20) -> plt.Figure:
    """Mean |SHAP| bar and a dot summary (colour = feature value rank) on a sample of rows."""
    X = X.sample(min(len(X), SHAP_SAMPLE), random_state=0)
    Xm = est.encode(X)
    contrib = shap_contributions(est.booster_, Xm, 0)  # multiclass: the first class's margin
    if est.n_classes_ > 2:
        target = f"{target} (class {est.classes_[0]})"
    names = list(est.feature_names_in_)
    order = np.argsort(-np.abs(contrib).mean(axis=0))[:top][::-1]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(13, 0.3 * len(order) + 1.5), sharey=True)
    a1.barh([names[j] for j in order], np.abs(contrib[:, order]).mean(axis=0))
    a1.set(xlabel="mean |SHAP| (log-odds)", title=f"SHAP importance — {target}")
    rng = np.random.default_rng(0)
    for row, j in enumerate(order):
        v = Xm[:, j]
        rank = pd.Series(v).rank(pct=True).to_numpy()
        a2.scatter(
            contrib[:, j],
            row + rng.uniform(-0.3, 0.3, len(v)),
            c=np.nan_to_num(rank, nan=0.5),
            cmap="coolwarm",
            s=3,
        )
    a2.axvline(0, color="k", lw=0.6)
    a2.set(
        xlabel="SHAP value (log-odds; colour: low → high feature value)",
        title=f"SHAP summary ({len(X)} test rows)",
    )
    fig.tight_layout()
    return fig
