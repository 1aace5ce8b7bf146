"""Small labelled frames with a known signal, for the estimator and bundle tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def make_frame(seed: int, n: int = 3000, *, multiclass: bool = False) -> tuple[pd.DataFrame, np.ndarray]:
    """Features with mixed types (a category, a number with gaps) and a label drawn from them."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "amount": rng.lognormal(3, 1, n),
            "velocity": rng.poisson(1.0, n).astype(float),
            "gap": np.where(rng.random(n) < 0.2, np.nan, rng.normal(size=n)),
            "channel": pd.Categorical(rng.choice(["web", "app", "store"], n)),
        }
    )
    z = -2 + 0.8 * X["velocity"] + 0.5 * np.log(X["amount"] / 20) + 1.2 * (X["channel"] == "app")
    if not multiclass:
        y = rng.random(n) < 1 / (1 + np.exp(-z.to_numpy()))
        return X, y
    classes = np.array(["restock", "refurbish", "liquidate"])
    logits = np.column_stack([z, -z, np.nan_to_num(X["gap"].to_numpy())])
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = classes[(p.cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)]
    return X, y


@pytest.fixture
def binary_data():
    return make_frame(0)


@pytest.fixture
def multiclass_data():
    return make_frame(1, multiclass=True)
