"""The compiled forest (`models._forest`) scores and explains exactly as LightGBM does."""

from __future__ import annotations

import pickle

import lightgbm as lgb
import numpy as np
import pytest

from models._forest import Forest, LeafTable
from models.estimator import RiskClassifier
from tests.models.conftest import make_frame


def _booster(seed: int, *, classes: int = 2, rounds: int = 60, **params: object) -> tuple[lgb.Booster, np.ndarray]:
    """A booster over numbers with gaps and zeros and two categorical columns, and rows to score."""
    rng = np.random.default_rng(seed)
    n = 2000
    X = np.column_stack([
        rng.normal(size=n),
        np.where(rng.random(n) < 0.3, np.nan, rng.normal(size=n)),  # NaN-missing
        np.where(rng.random(n) < 0.4, 0.0, rng.exponential(size=n)),  # zero-heavy
        rng.integers(0, 40, n).astype(float),  # categorical, many levels (bitsets over 32 bits)
        np.where(rng.random(n) < 0.2, np.nan, rng.integers(0, 5, n)).astype(float),  # categorical with gaps
    ])
    z = X[:, 0] + np.nan_to_num(X[:, 1]) + (X[:, 3] % 7 == 0) * 1.5 - (X[:, 4] == 2) + X[:, 2]
    y = np.digitize(z, np.quantile(z, np.linspace(0, 1, classes + 1)[1:-1])) if classes > 2 else z > 0.3
    objective = {"objective": "multiclass", "num_class": classes} if classes > 2 else {"objective": "binary"}
    data = lgb.Dataset(X, y.astype(int), categorical_feature=[3, 4], params={"verbose": -1})
    booster = lgb.train({**objective, "num_leaves": 15, "min_data_in_leaf": 5, "verbose": -1, "seed": seed,
                         "max_cat_to_onehot": 4, **params}, data, num_boost_round=rounds)
    test = np.column_stack([
        rng.normal(size=n),
        np.where(rng.random(n) < 0.3, np.nan, rng.normal(size=n)),
        np.where(rng.random(n) < 0.3, 0.0, rng.exponential(size=n)),
        rng.integers(-2, 70, n).astype(float),  # negative and unseen codes
        np.where(rng.random(n) < 0.3, np.nan, rng.integers(-1, 8, n)).astype(float),
    ])
    test[rng.random(test.shape) < 0.05] = 1e-36  # below LightGBM's zero threshold: read as 0
    test[rng.random(test.shape) < 0.05] = np.nan
    return booster, np.ascontiguousarray(test)


@pytest.mark.parametrize("classes", [2, 4])
def test_raw_scores_and_leaves_are_lightgbms_bit_for_bit(classes):
    booster, X = _booster(classes, classes=classes)
    forest = Forest(booster.model_to_string())
    raw = forest.raw(X)
    want = booster.predict(X, raw_score=True)
    np.testing.assert_array_equal(raw[:, 0] if classes == 2 else raw, want)
    np.testing.assert_array_equal(forest.leaves(X), booster.predict(X, pred_leaf=True))
    one = X[3:4].copy()
    np.testing.assert_array_equal(forest.raw(one).ravel(), np.ravel(booster.predict(one, raw_score=True)))


def test_one_leaf_trees_score_their_leaf():
    # no split can satisfy min_data_in_leaf: every tree is a single leaf
    booster, X = _booster(7, rounds=3, min_data_in_leaf=5000)
    forest = Forest(booster.model_to_string())
    np.testing.assert_array_equal(forest.raw(X)[:, 0], booster.predict(X, raw_score=True))
    assert (forest.leaves(X) == 0).all()


def test_leaf_sums_add_the_reached_leaves_rows_in_tree_order():
    booster, X = _booster(3, classes=3)
    forest = Forest(booster.model_to_string())
    leaves = booster.predict(X, pred_leaf=True)
    n_leaves = [int(t["num_leaves"]) for t in booster.dump_model()["tree_info"]]
    offsets = np.concatenate([[0], np.cumsum(n_leaves)[:-1]])
    rng = np.random.default_rng(0)
    table = np.where(rng.random((sum(n_leaves), 6)) < 0.6, 0.0, rng.normal(size=(sum(n_leaves), 6)))
    sparse = LeafTable(table)
    for k in range(3):
        trees = np.arange(k, len(n_leaves), 3)
        rows = leaves[:, trees] + offsets[trees]
        np.testing.assert_allclose(forest.leaf_sums(X, sparse, k), table[rows].sum(axis=1), rtol=0, atol=1e-12)
        in_order = np.zeros((len(X), 6))
        for j in range(rows.shape[1]):  # whole rows added tree by tree: the same doubles
            in_order += table[rows[:, j]]
        np.testing.assert_array_equal(forest.leaf_sums(X, sparse, k), in_order)
    with pytest.raises(ValueError, match="rows; the forest has"):
        forest.leaf_sums(X, LeafTable(table[:-1]))
    with pytest.raises(ValueError, match="columns; the forest reads 5"):
        forest.raw(X[:, :4].copy())


def test_estimator_scores_with_the_forest_and_pickles_without_it():
    X, y = make_frame(4, n=1500)
    est = RiskClassifier(num_leaves=15, max_rounds=80, early_stopping_rounds=10, calibration="none").fit(X, y)
    Xm = est.encode(X)
    np.testing.assert_array_equal(est._margin(Xm), est.booster_.predict(Xm, raw_score=True))
    assert "_forest" in est.__dict__
    again = pickle.loads(pickle.dumps(est))
    assert "_forest" not in again.__dict__  # rebuilt from the booster at first use
    np.testing.assert_array_equal(again.predict_proba_matrix(Xm), est.predict_proba_matrix(Xm))


def test_encode_row_is_the_frame_encoding():
    """The compiled row encoder gives each row exactly what `encode` (the pandas path) gives."""
    X, y = make_frame(5, n=1500)
    est = RiskClassifier(num_leaves=7, max_rounds=20, early_stopping_rounds=5, calibration="none").fit(X, y)
    part = X.iloc[:300].copy()
    part.loc[part.index[:5], "channel"] = np.nan
    part["channel"] = part["channel"].cat.add_categories(["kiosk"])
    part.loc[part.index[5:9], "channel"] = "kiosk"  # unseen in training: missing
    want = est.encode(part)
    rows = [{k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()}
            for r in part.astype(object).to_dict("records")]
    got = np.vstack([est.encode_row(r) for r in rows])
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(est.encode_rows(rows), want)
