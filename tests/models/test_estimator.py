"""Behaviour of the calibrated LightGBM estimator."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError

from models import RiskClassifier
from models.calibration import choose_calibration


def _fit(X, y, **kw) -> RiskClassifier:
    n = int(len(X) * 0.75)
    return RiskClassifier(min_category_count=1, **kw).fit(X.iloc[:n], y[:n], eval_set=(X.iloc[n:], y[n:]))


def test_binary_probabilities_are_in_range_and_rows_sum_to_one(binary_data):
    X, y = binary_data
    p = _fit(X, y).predict_proba(X)
    assert p.shape == (len(X), 2)
    assert np.all((p >= 0) & (p <= 1))
    np.testing.assert_allclose(p.sum(axis=1), 1.0)


def test_multiclass_probabilities_sum_to_one_over_the_classes_seen(multiclass_data):
    X, y = multiclass_data
    est = _fit(X, y)
    p = est.predict_proba(X)
    assert list(est.classes_) == sorted(set(y))
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert est.calibration_method_ in ("none", "temperature")


def test_unseen_category_scores_like_a_missing_value(binary_data):
    X, y = binary_data
    est = _fit(X, y)
    row = X.iloc[[0]].copy()
    unseen, missing = row.copy(), row.copy()
    unseen["channel"] = pd.Categorical(["kiosk-we-never-saw"])
    missing["channel"] = pd.Categorical([None], categories=["web"])
    np.testing.assert_allclose(est.predict_proba(unseen), est.predict_proba(missing))


def test_encode_row_matches_the_batch_encoding(binary_data):
    X, y = binary_data
    est = _fit(X, y)
    for i in range(5):
        values = X.iloc[i].to_dict()
        np.testing.assert_array_equal(est.encode_row(values), est.encode(X.iloc[[i]]))


def test_a_missing_feature_column_is_scored_as_all_missing(binary_data):
    X, y = binary_data
    est = _fit(X, y)
    p = est.predict_proba(X.drop(columns=["gap"]))
    expected = est.predict_proba(X.assign(gap=np.nan))
    np.testing.assert_allclose(p, expected)


def test_early_stopping_keeps_only_the_trees_up_to_the_best_iteration(binary_data):
    X, y = binary_data
    est = _fit(X, y, learning_rate=0.3, early_stopping_rounds=5)
    assert est.booster_.num_trees() == est.best_iteration_
    assert est.best_iteration_ < est.max_rounds


def test_calibration_choice_reports_held_out_brier_for_every_candidate():
    rng = np.random.default_rng(3)
    margin = rng.normal(size=4000)
    y = (rng.random(4000) < 1 / (1 + np.exp(-(2 * margin - 1)))).astype(int)  # miscalibrated margin
    method, scores = choose_calibration(margin, y)
    assert set(scores) == {"none", "sigmoid", "isotonic"}
    assert method in ("sigmoid", "isotonic")  # the raw sigmoid is visibly off
    assert scores[method] < scores["none"]


def test_predicting_before_fit_raises_not_fitted(binary_data):
    X, _ = binary_data
    with pytest.raises(NotFittedError):
        RiskClassifier().predict_proba(X)


def test_a_single_class_cannot_be_fitted(binary_data):
    X, _ = binary_data
    with pytest.raises(ValueError, match="two classes"):
        RiskClassifier().fit(X, np.zeros(len(X), dtype=bool))


def _noisy_small(seed: int, n: int) -> tuple[pd.DataFrame, np.ndarray]:
    """A weak signal among many noise columns: easy to overfit with a few hundred rows."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({f"noise_{i}": rng.normal(size=n) for i in range(20)})
    X["signal"] = rng.normal(size=n)
    y = rng.random(n) < 1 / (1 + np.exp(-(X["signal"].to_numpy() - 1.0)))
    return X, y


def test_small_data_tries_regularised_candidates_and_keeps_the_best_on_validation():
    X, y = _noisy_small(4, 1200)
    est = _fit(X, y)
    assert len(est.selection_scores_) == 4  # 7 and 31 leaves, then two regularised ones
    best = min(est.selection_scores_, key=est.selection_scores_.__getitem__)
    assert est.selection_scores_[best] == min(est.selection_scores_.values())
    assert est.num_leaves_ == int(best.split()[0])
    assert est.candidate_ == best and est.params_["num_leaves"] == est.num_leaves_
    regularised = [k for k in est.selection_scores_ if "L2" in k]
    assert all(f"min {max(20, 900 // 100)} rows a leaf" in k for k in regularised)  # 900 training rows
    assert len(_fit(X, y, regularisation="none").selection_scores_) == 2
    assert len(_fit(X, y, small_data_rows=500).selection_scores_) == 2  # above the threshold: leaves only


def test_vector_scaling_corrects_a_class_the_booster_over_predicts():
    """Check that per-class scale and bias fix a biased class that one temperature cannot."""
    from models.calibration import make_calibrator

    rng = np.random.default_rng(8)
    n, k = 6000, 4
    true = rng.normal(size=(n, k)) * 1.5
    p = np.exp(true) / np.exp(true).sum(axis=1, keepdims=True)
    y = (p.cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)
    margin = true + np.array([1.5, 0.0, 0.0, 0.0])  # class 0 over-predicted
    half = n // 2

    def nll(method: str) -> float:
        cal = make_calibrator(method, k).fit(margin[:half], y[:half])
        q = cal.transform(margin[half:])
        return float(-np.mean(np.log(q[np.arange(n - half), y[half:]])))

    assert nll("vector") < nll("temperature") - 0.05
    method, scores = choose_calibration(margin, y, k)
    assert method == "vector" and set(scores) == {"none", "temperature", "vector"}


@pytest.mark.parametrize("dtype", ["category", "object"])
def test_a_categorical_column_missing_in_every_training_row_is_scored_as_missing(binary_data, dtype):
    """A retailer's export with an empty column: no learned categories, nothing to index into."""
    X, y = binary_data
    X = X.assign(promo=pd.Series([None] * len(X), dtype=dtype))
    est = _fit(X, y)
    assert list(est.category_maps_["promo"]) == []
    filled = X.iloc[:5].assign(promo=pd.Series(["SPRING"] * 5, dtype=dtype, index=X.index[:5]))
    np.testing.assert_allclose(est.predict_proba(filled), est.predict_proba(X.iloc[:5]))
    assert np.isnan(est.encode(filled)[:, list(est.feature_names_in_).index("promo")]).all()


def test_categorical_codes_map_missing_values_to_missing_and_known_ones_to_their_code(binary_data):
    X, y = binary_data
    est = _fit(X, y)
    rows = pd.DataFrame({"channel": pd.Categorical([None, "app", "web", "kiosk"], categories=["kiosk", "web", "app"])})
    codes = est.encode(rows.reindex(columns=est.feature_names_in_))[:, list(est.feature_names_in_).index("channel")]
    cats = list(est.category_maps_["channel"])
    assert np.isnan(codes[0]) and np.isnan(codes[3])  # missing; unseen in training
    assert codes[1] == cats.index("app") and codes[2] == cats.index("web")
