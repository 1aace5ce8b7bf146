"""The model bundle: everything scoring needs, in one joblib file.

A bundle is the hand-over between training and serving. It carries, per model head
(delay: `late`; fraud: `fraud`; returns: `disposition` and `abuse`), the fitted
`RiskClassifier` — feature list and order, category maps, the booster trimmed to its
best iteration, the calibrator — plus the explainer table for reason codes, the
features' reason templates, and versions (model name, registry version, training
window, feature-set version, library versions). Loading needs this package, LightGBM
and numpy; not MLflow, not the training code.
"""

from __future__ import annotations

import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import joblib
import lightgbm as lgb
import numpy as np
import pandas as pd
import sklearn

from models.estimator import RiskClassifier
from models.explain import PathExplainer, Reason, reasons, shap_contributions

__all__ = ["Head", "Bundle", "save_bundle", "load_bundle", "library_versions", "BUNDLE_FORMAT"]

BUNDLE_FORMAT = 1


def library_versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "lightgbm": lgb.__version__,
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
    }


@dataclass
class Head:
    """One fitted classifier and the score columns it fills.

    Binary: one column, P(positive class). Multiclass: one column per declared class,
    0 for a class the training data never showed.
    """

    target: str
    estimator: RiskClassifier
    columns: list[str]
    classes: list
    explainer: PathExplainer | None = None

    def __post_init__(self) -> None:
        est_classes = list(self.estimator.classes_)
        self._index = [est_classes.index(c) if c in est_classes else -1 for c in self.classes]
        if self.explainer is None:
            self.explainer = PathExplainer(self.estimator.booster_)

    @property
    def is_binary(self) -> bool:
        return self.estimator.n_classes_ == 2

    def from_proba(self, proba: np.ndarray) -> np.ndarray:
        out = np.zeros((len(proba), len(self.columns)))
        for j, i in enumerate(self._index):
            if i >= 0:
                out[:, j] = proba[:, i]
        if not self.is_binary:  # renormalise when a declared class was never seen
            s = out.sum(axis=1, keepdims=True)
            out = np.divide(out, s, out=np.full_like(out, 1.0 / out.shape[1]), where=s > 0)
        return out


def _explainer(head: Head) -> PathExplainer:
    """The head's path explainer (set by __post_init__; None only if cleared since)."""
    if head.explainer is None:  # what calling .contributions on None would raise
        raise AttributeError(f"head {head.target!r} has no explainer; use method='shap'")
    return head.explainer


@dataclass
class Bundle:
    name: str  # registered model name, e.g. "triage-fraud"
    entity: str  # "order" or "return": which feature frame it reads
    heads: dict[str, Head]
    reason_templates: dict[str, str | None] = field(default_factory=dict)
    versions: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    format: int = BUNDLE_FORMAT
    # a sample of the training window's features and scores: what monitoring compares
    # recent decisions with (drift), so the served model carries its own reference
    reference: pd.DataFrame | None = None

    def __repr__(self) -> str:
        v = self.versions
        return (
            f"Bundle({self.name!r}, version={v.get('registry_version')!r}, heads={list(self.heads)}, "
            f"features={len(self.feature_names)}, trained_at={v.get('trained_at')!r})"
        )

    @property
    def feature_names(self) -> list[str]:
        names: list[str] = []
        for head in self.heads.values():
            names += [str(c) for c in head.estimator.feature_names_in_ if c not in names]
        return names

    @property
    def output_columns(self) -> list[str]:
        return [c for head in self.heads.values() for c in head.columns]

    @property
    def risk_head(self) -> Head:
        """The head reasons explain: the first binary one (late, fraud, abuse)."""
        for head in self.heads.values():
            if head.is_binary:
                return head
        return next(iter(self.heads.values()))

    # ------------------------------------------------------------------ batch
    def predict_frame(self, features: pd.DataFrame) -> pd.DataFrame:
        """Score a feature frame: one column per output, same index."""
        parts = {}
        for head in self.heads.values():
            p = head.from_proba(head.estimator.predict_proba(features))
            for j, col in enumerate(head.columns):
                parts[col] = p[:, j]
        return pd.DataFrame(parts, index=features.index)

    # ------------------------------------------------------------- single row
    def encode_row(self, values: Mapping[str, object]) -> dict[str, np.ndarray]:
        """Encode one event's feature values once per head: (1, n) float64 rows."""
        return {t: h.estimator.encode_row(values) for t, h in self.heads.items()}

    def predict_row(
        self, values: Mapping[str, object], encoded: dict[str, np.ndarray] | None = None
    ) -> dict[str, float]:
        """Scores for one event from its feature values (name → value): the API's fast path."""
        encoded = encoded or self.encode_row(values)
        out: dict[str, float] = {}
        for t, head in self.heads.items():
            p = head.from_proba(head.estimator.predict_proba_matrix(encoded[t]))[0]
            out.update(zip(head.columns, (float(x) for x in p), strict=True))
        return out

    def encode_rows(self, rows: Sequence[Mapping[str, object]]) -> dict[str, np.ndarray]:
        """Many events' feature values encoded once per head: (n, k) float64 matrices (row i is
        `encode_row(rows[i])`)."""
        return {t: h.estimator.encode_rows(rows) for t, h in self.heads.items()}

    def predict_rows(self, encoded: dict[str, np.ndarray]) -> list[dict[str, float]]:
        """Scores for many encoded events: ONE booster predict per head for them all."""
        n = len(next(iter(encoded.values()))) if encoded else 0
        out: list[dict[str, float]] = [{} for _ in range(n)]
        for t, head in self.heads.items():
            p = head.from_proba(head.estimator.predict_proba_matrix(encoded[t]))
            for d, row in zip(out, p.tolist(), strict=True):
                d.update(zip(head.columns, row, strict=True))
        return out

    def explain_rows(
        self,
        values: Sequence[Mapping[str, object]],
        *,
        k: int = 3,
        method: str = "shap",
        encoded: dict[str, np.ndarray] | None = None,
    ) -> list[list[Reason]]:
        """`explain_row` for many events: one attribution call (the compiled forest's leaf
        sums, or pred_contrib) for them all, then each row's top-k reasons."""
        if not values:
            return []
        head = self.risk_head
        x = encoded[head.target] if encoded else head.estimator.encode_rows(values)
        booster = head.estimator.booster_
        if method == "shap":
            contrib = shap_contributions(booster, x)
        else:
            contrib = _explainer(head).contributions(head.estimator.forest_, x)
        names = [str(c) for c in head.estimator.feature_names_in_]
        return [reasons(contrib[i], names, v, self.reason_templates, k=k) for i, v in enumerate(values)]

    def explain_row(
        self,
        values: Mapping[str, object],
        *,
        k: int = 3,
        method: str = "shap",
        encoded: dict[str, np.ndarray] | None = None,
    ) -> list[Reason]:
        """Top-k features that raised the risk head's score for this event."""
        head = self.risk_head
        x = encoded[head.target] if encoded else head.estimator.encode_row(values)
        booster = head.estimator.booster_
        if method == "shap":
            contrib = shap_contributions(booster, x)[0]
        else:
            contrib = _explainer(head).contributions(head.estimator.forest_, x)[0]
        names = [str(c) for c in head.estimator.feature_names_in_]
        return reasons(contrib, names, values, self.reason_templates, k=k)


def save_bundle(bundle: Bundle, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(bundle, path, compress=3)
    return path


def load_bundle(path: str | Path) -> Bundle:
    """Load a bundle file; refuses anything that is not a bundle of a known format."""
    obj = joblib.load(Path(path))
    if not isinstance(obj, Bundle):
        raise TypeError(f"{path} does not hold a model bundle; got {type(obj).__name__}")
    if obj.format != BUNDLE_FORMAT:
        raise ValueError(f"{path}: bundle format {obj.format}; this version reads format {BUNDLE_FORMAT}")
    return obj
