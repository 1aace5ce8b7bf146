"""Live model quality on labels that have matured since the decisions were made."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

__all__ = ["QualityResult", "live_quality", "expected_calibration_error"]


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Weighted mean |observed rate − mean score| over equal-width score bins."""
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        mask = idx == b
        if mask.any():
            total += mask.sum() * abs(y[mask].mean() - p[mask].mean())
    return float(total / len(y)) if len(y) else 0.0


@dataclass(frozen=True)
class QualityResult:
    labelled: int
    positives: int
    metrics: dict[str, float]
    reference: dict[str, float]
    drops: dict[str, float]  # reference − live, for metrics where higher is better

    def to_dict(self) -> dict:
        return {
            "labelled": self.labelled,
            "positives": self.positives,
            "metrics": self.metrics,
            "reference": self.reference,
            "drops": self.drops,
        }


def live_quality(y: np.ndarray, p: np.ndarray, reference: dict[str, float] | None = None) -> QualityResult:
    """ROC-AUC, PR-AUC, Brier and calibration error of scores p against matured labels y.

    AUCs need both classes; with one class only they are left out rather than invented.
    """
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    metrics: dict[str, float] = {}
    if len(y):
        metrics["brier"] = float(brier_score_loss(y, p))
        metrics["ece"] = expected_calibration_error(y, p)
        metrics["mean_score"] = float(p.mean())
        metrics["observed_rate"] = float(y.mean())
    if len(np.unique(y)) == 2:
        metrics["roc_auc"] = float(roc_auc_score(y, p))
        metrics["pr_auc"] = float(average_precision_score(y, p))
    reference = dict(reference or {})
    drops: dict[str, float] = {
        m: reference[m] - metrics[m] for m in ("roc_auc", "pr_auc") if m in reference and m in metrics
    }
    return QualityResult(int(len(y)), int(y.sum()), metrics, reference, drops)
