"""Metrics for the three risks, and the references every metric is read against.

Binary heads (late, fraud, abuse): ROC-AUC, PR-AUC (average precision), Brier, log
loss, and for rare classes recall and precision at a review capacity (the top 1 % of
scores). Disposition: multi-class log loss, macro-F1, accuracy, multiclass Brier.
References on the same test window: the prior (training base rate), a logistic
regression on the event's own columns, and — where the data folder has the
simulator's `truth/` — the oracle's probabilities, with model/oracle ratios.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    f1_score,
    log_loss,
    roc_auc_score,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from triage.contract import Dataset

__all__ = [
    "baseline_proba",
    "binary_metrics",
    "load_oracle",
    "multiclass_metrics",
    "event_columns",
    "logistic_baseline",
    "prior_baseline",
    "ratio_metrics",
    "REVIEW_CAPACITY",
]

REVIEW_CAPACITY = 0.01  # the share of events a review team can look at


def binary_metrics(y: np.ndarray, p: np.ndarray, *, capacity: float = REVIEW_CAPACITY) -> dict[str, float]:
    y = np.asarray(y).astype(bool)
    p = np.clip(np.asarray(p, dtype=float), 1e-7, 1 - 1e-7)
    out = {"n": float(len(y)), "positive_rate": float(y.mean()) if len(y) else float("nan")}
    if len(np.unique(y)) < 2:
        return out
    out["roc_auc"] = float(roc_auc_score(y, p))
    out["pr_auc"] = float(average_precision_score(y, p))
    out["brier"] = float(brier_score_loss(y, p))
    out["log_loss"] = float(log_loss(y, p, labels=[False, True]))
    k = max(1, int(round(len(y) * capacity)))
    top = np.argsort(-p, kind="stable")[:k]
    hits = y[top].sum()
    out["precision_at_capacity"] = float(hits / k)
    out["recall_at_capacity"] = float(hits / y.sum())
    return out


def multiclass_metrics(y: np.ndarray, proba: np.ndarray, classes: list) -> dict[str, float]:
    """y: class values; proba: columns in the order of `classes`."""
    y = np.asarray(y)
    proba = np.clip(np.asarray(proba, dtype=float), 1e-7, 1)
    proba = proba / proba.sum(axis=1, keepdims=True)
    idx = pd.Index(classes).get_indexer(y)
    onehot = np.zeros_like(proba)
    onehot[np.arange(len(y)), idx] = 1
    pred = np.asarray(classes, dtype=object)[proba.argmax(axis=1)]
    return {
        "n": float(len(y)),
        "log_loss": float(log_loss(idx, proba, labels=list(range(len(classes))))),
        "macro_f1": float(
            f1_score(
                y.astype(str),
                pred.astype(str),
                average="macro",
                labels=[str(c) for c in classes if c in set(y)],
            )
        ),
        "accuracy": float(accuracy_score(y.astype(str), pred.astype(str))),
        "brier": float(np.mean(np.sum((proba - onehot) ** 2, axis=1))),
    }


def event_columns(ds: Dataset, entity: str, ids: np.ndarray) -> pd.DataFrame:
    """The event's own row — contract columns only, no history — for the simple baseline."""
    if entity == "order":
        o = ds["orders"].set_index("order_id").loc[ids]
        frame = pd.DataFrame(
            {
                "order_total": o["order_total"].to_numpy(),
                "item_count": o["item_count"].to_numpy(dtype=float),
                "promise_hours": ((o["promised_at"] - o["created_at"]).dt.total_seconds() / 3600).to_numpy(),
                "hour": o["created_at"].dt.hour.to_numpy(dtype=float),
                "card_ip_mismatch": (o["card_country"].fillna("") != o["ip_country"].fillna("")).to_numpy(
                    dtype=float
                ),
            }
        )
        for c in ("channel", "payment_method", "fulfillment_type", "service_level", "carrier"):
            frame[c] = o[c].fillna("missing").astype(str).to_numpy()
        return frame
    r = ds["returns"].set_index("return_id").loc[ids]
    frame = pd.DataFrame(
        {
            "quantity": r["quantity"].to_numpy(dtype=float),
            "refund_amount": r["refund_amount"].to_numpy(),
        }
    )
    for c in ("return_channel", "reason_code", "reported_condition"):
        frame[c] = r[c].fillna("missing").astype(str).to_numpy()
    return frame


def logistic_baseline(X_train: pd.DataFrame, y_train: np.ndarray):
    """A scaled, one-hot logistic regression (multinomial when y has several classes)."""
    cats = [c for c in X_train.columns if X_train[c].dtype == object]
    nums = [c for c in X_train.columns if c not in cats]
    pre = ColumnTransformer(
        [
            ("num", StandardScaler(), nums),
            ("cat", OneHotEncoder(handle_unknown="ignore", min_frequency=20), cats),
        ]
    )
    model = make_pipeline(pre, LogisticRegression(max_iter=500, C=1.0))
    Xn = X_train.copy()
    Xn[nums] = Xn[nums].fillna(0.0)
    return model.fit(Xn, y_train)


def baseline_proba(model, X: pd.DataFrame) -> np.ndarray:
    Xn = X.copy()
    nums = [c for c in X.columns if X[c].dtype != object]
    Xn[nums] = Xn[nums].fillna(0.0)
    return model.predict_proba(Xn)


def prior_baseline(y_train: np.ndarray, n: int, classes: list | None = None) -> np.ndarray:
    """The training base rate for every test event: (n,) for binary, (n, k) for classes."""
    if classes is None:
        return np.full(n, float(np.mean(np.asarray(y_train).astype(bool))))
    freq = pd.Series(y_train).value_counts(normalize=True).reindex(classes).fillna(0.0).to_numpy()
    return np.tile(freq, (n, 1))


def ratio_metrics(model: dict[str, float], oracle: dict[str, float]) -> dict[str, float]:
    """model/oracle for every metric both have (for losses, above 1 means worse)."""
    return {
        f"{k}_vs_oracle": model[k] / oracle[k]
        for k in model
        if k in oracle and k not in ("n", "positive_rate") and oracle[k]
    }


ORACLE_FILES = {"order": ("orders.csv", "order_id"), "return": ("returns.csv", "return_id")}


def load_oracle(truth_dir, entity: str) -> pd.DataFrame | None:
    """The simulator's oracle probabilities for an entity, indexed by event id; None if absent."""
    if truth_dir is None:
        return None
    name, key = ORACLE_FILES[entity]
    path = Path(truth_dir) / name
    if not path.exists():
        return None
    frame = pd.read_csv(path, dtype={key: str})
    return frame.set_index(key)
