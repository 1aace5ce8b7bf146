"""Probability calibrators over a booster's raw margin, chosen by held-out Brier score.

Each calibrator maps LightGBM's raw score (log-odds, or per-class margins) to
probabilities with plain numpy at predict time, so a bundle needs neither scikit-learn
nor fitting code to serve, and one row costs a few microseconds.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize, minimize_scalar
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

__all__ = [
    "BINARY_METHODS",
    "MULTICLASS_METHODS",
    "IdentityCalibrator",
    "SigmoidCalibrator",
    "IsotonicCalibrator",
    "SoftmaxCalibrator",
    "make_calibrator",
    "choose_calibration",
]

BINARY_METHODS = ("none", "sigmoid", "isotonic")
MULTICLASS_METHODS = ("none", "temperature", "vector")
# L2 pull of vector scaling towards the booster's own softmax (scale 1, bias 0), per validation row
_VECTOR_L2 = 1.0
_EPS = 1e-6


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -35.0, 35.0)))


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class IdentityCalibrator:
    """The booster's own probability: sigmoid of the margin."""

    method = "none"

    def fit(self, margin: np.ndarray, y: np.ndarray) -> IdentityCalibrator:
        return self

    def transform(self, margin: np.ndarray) -> np.ndarray:
        return _sigmoid(margin)


class SigmoidCalibrator:
    """Platt scaling: p = sigmoid(a * margin + b)."""

    method = "sigmoid"

    def fit(self, margin: np.ndarray, y: np.ndarray) -> SigmoidCalibrator:
        lr = LogisticRegression(C=1e6, max_iter=1000).fit(margin.reshape(-1, 1), y)
        self.a_ = float(lr.coef_[0, 0])
        self.b_ = float(lr.intercept_[0])
        return self

    def transform(self, margin: np.ndarray) -> np.ndarray:
        return _sigmoid(self.a_ * margin + self.b_)


class IsotonicCalibrator:
    """Isotonic regression on the margin, blended with a sliver of the raw sigmoid.

    Plain isotonic regression is a step function: it ties scores within each step and
    so loses ranking (ROC/PR-AUC). Adding `tie_break` × sigmoid(margin) keeps the
    order of the raw scores with a calibration change below 1e-3.
    """

    method = "isotonic"
    tie_break = 1e-3

    def fit(self, margin: np.ndarray, y: np.ndarray) -> IsotonicCalibrator:
        iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(margin, y)
        self.x_ = np.asarray(iso.X_thresholds_, dtype=np.float64)
        self.y_ = np.asarray(iso.y_thresholds_, dtype=np.float64)
        return self

    def transform(self, margin: np.ndarray) -> np.ndarray:
        p = np.interp(margin, self.x_, self.y_)
        p = (1.0 - self.tie_break) * p + self.tie_break * _sigmoid(margin)
        return np.clip(p, _EPS, 1.0 - _EPS)


class SoftmaxCalibrator:
    """Multiclass margins to probabilities: the booster's own softmax ("none"), temperature
    scaling (one T for every class) or vector scaling (a scale and a bias per class,
    p = softmax(a ⊙ margin + b), fitted by log loss with a light L2 pull towards a = 1,
    b = 0): vector scaling also corrects classes the booster over- or under-predicts."""

    def __init__(self, method: str = "temperature") -> None:
        self.method = method

    def fit(self, margin: np.ndarray, y: np.ndarray) -> SoftmaxCalibrator:
        self.temperature_ = 1.0
        k = margin.shape[1]
        self.scale_, self.bias_ = np.ones(k), np.zeros(k)
        if self.method == "vector":
            onehot = np.zeros_like(margin)
            onehot[np.arange(len(y)), y] = 1.0
            n, pull = max(len(y), 1), _VECTOR_L2 / max(len(y), 1)

            def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
                a, b = w[:k], w[k:]
                p = _softmax(margin * a + b)
                nll = -float(np.sum(onehot * np.log(np.clip(p, 1e-12, None)))) / n
                g = (p - onehot) / n  # d nll / d logits
                grad = np.concatenate([(g * margin).sum(axis=0) + 2 * pull * (a - 1.0), g.sum(axis=0) + 2 * pull * b])
                return nll + pull * float(np.sum((a - 1.0) ** 2) + np.sum(b**2)), grad

            res = minimize(loss, np.concatenate([np.ones(k), np.zeros(k)]), jac=True, method="L-BFGS-B")
            self.scale_, self.bias_ = np.asarray(res.x[:k], dtype=np.float64), np.asarray(res.x[k:], dtype=np.float64)
            return self
        if self.method == "temperature":

            def nll(log_t: float) -> float:
                p = _softmax(margin / np.exp(log_t))
                return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-12, None))))

            res = minimize_scalar(nll, bounds=(-2.0, 2.0), method="bounded")
            self.temperature_ = float(np.exp(res.x))
        return self

    def transform(self, margin: np.ndarray) -> np.ndarray:
        if self.method == "vector":
            return _softmax(margin * self.scale_ + self.bias_)
        return _softmax(margin / self.temperature_)


def make_calibrator(method: str, n_classes: int = 2):
    if n_classes > 2:
        if method not in MULTICLASS_METHODS:
            raise ValueError(f"multiclass calibration must be one of {MULTICLASS_METHODS}; got {method!r}")
        return SoftmaxCalibrator(method)
    return {"none": IdentityCalibrator, "sigmoid": SigmoidCalibrator, "isotonic": IsotonicCalibrator}[
        method
    ]()


def _score(p: np.ndarray, y: np.ndarray) -> float:
    """Brier score (binary) or multiclass Brier (sum over classes), lower is better."""
    if p.ndim == 1:
        return float(np.mean((p - y) ** 2))
    onehot = np.zeros_like(p)
    onehot[np.arange(len(y)), y] = 1.0
    return float(np.mean(np.sum((p - onehot) ** 2, axis=1)))


def choose_calibration(margin: np.ndarray, y: np.ndarray, n_classes: int = 2) -> tuple[str, dict[str, float]]:
    """Pick the calibration with the lowest held-out Brier score on two time-ordered halves.

    Each candidate is fitted on one half of the validation rows and scored on the
    other, both ways round; a more flexible method must beat a simpler one by a small
    margin (0.5 %) to be chosen, so a tiny validation set falls back to sigmoid or none.
    """
    methods = MULTICLASS_METHODS if n_classes > 2 else BINARY_METHODS
    half = len(y) // 2
    folds = [(slice(0, half), slice(half, None)), (slice(half, None), slice(0, half))]
    scores: dict[str, float] = {}
    for method in methods:
        total = 0.0
        for fit_idx, eval_idx in folds:
            y_fit = y[fit_idx]
            if n_classes == 2 and method != "none" and len(np.unique(y_fit)) < 2:
                total = np.inf
                break
            cal = make_calibrator(method, n_classes).fit(margin[fit_idx], y_fit)
            total += _score(cal.transform(margin[eval_idx]), y[eval_idx])
        scores[method] = total / len(folds)
    best = methods[0]
    for method in methods[1:]:  # ordered from simplest to most flexible
        if scores[method] < scores[best] * 0.995:
            best = method
    return best, scores
