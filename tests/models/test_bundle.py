"""The bundle: round trip, single-row fast path, reasons."""

from __future__ import annotations

import numpy as np
import pytest

from models import FRAUD, RETURNS, load_bundle, save_bundle
from models.explain import shap_contributions


def _fit(spec, target, X, y):
    n = int(len(X) * 0.75)
    return spec.new_estimator(target, min_category_count=1).fit(
        X.iloc[:n], y[:n], eval_set=(X.iloc[n:], y[n:])
    )


@pytest.fixture
def fraud_bundle(binary_data):
    X, y = binary_data
    templates = {"velocity": "{value:.0f} orders from this device in 24h", "channel": "ordered via {value}"}
    return FRAUD.make_bundle(
        {"fraud": _fit(FRAUD, "fraud", X, y)},
        reason_templates=templates,
        versions={"model_name": FRAUD.name, "feature_set_version": "test"},
    )


def test_bundle_round_trip_gives_identical_predictions(tmp_path, fraud_bundle, binary_data):
    X, _ = binary_data
    path = save_bundle(fraud_bundle, tmp_path / "b" / "triage-fraud.joblib")
    loaded = load_bundle(path)
    np.testing.assert_array_equal(
        loaded.predict_frame(X).to_numpy(), fraud_bundle.predict_frame(X).to_numpy()
    )
    row = X.iloc[7].to_dict()
    assert loaded.predict_row(row) == fraud_bundle.predict_row(row)
    assert loaded.versions == fraud_bundle.versions
    assert loaded.feature_names == fraud_bundle.feature_names


def test_single_row_path_equals_batch_scoring(fraud_bundle, binary_data):
    X, _ = binary_data
    batch = fraud_bundle.predict_frame(X.iloc[:20])
    for i in range(20):
        assert fraud_bundle.predict_row(X.iloc[i].to_dict())["p_fraud"] == pytest.approx(
            batch["p_fraud"].iloc[i]
        )


def test_returns_bundle_fills_every_disposition_column_and_they_sum_to_one(multiclass_data, binary_data):
    X, y = multiclass_data  # three of the five dispositions only
    Xa, ya = binary_data
    bundle = RETURNS.make_bundle(
        {"disposition": _fit(RETURNS, "disposition", X, y), "abuse": _fit(RETURNS, "abuse", Xa, ya)}
    )
    scores = bundle.predict_frame(X)
    assert list(scores.columns) == list(RETURNS.output_columns)
    disp = scores[[c for c in scores.columns if c != "p_abuse"]]
    np.testing.assert_allclose(disp.sum(axis=1), 1.0)
    assert (scores["p_return_to_vendor"] == 0).all()  # never seen in training


def test_path_contributions_add_up_to_the_margin(fraud_bundle, binary_data):
    X, _ = binary_data
    head = fraud_bundle.risk_head
    Xm = head.estimator.encode(X.iloc[:200])
    contrib = head.explainer.contributions(head.estimator.forest_, Xm)
    margin = head.estimator.booster_.predict(Xm, raw_score=True)
    np.testing.assert_allclose(head.explainer.bias[0] + contrib.sum(axis=1), margin, atol=1e-9)
    shap = shap_contributions(head.estimator.booster_, Xm)
    assert shap.shape == contrib.shape


@pytest.mark.parametrize("method", ["path", "shap"])
def test_reasons_name_features_that_raised_the_score_with_their_template(fraud_bundle, binary_data, method):
    X, _ = binary_data
    row = X.assign(velocity=6.0, channel="app").iloc[0].to_dict()
    reasons = fraud_bundle.explain_row(row, k=3, method=method)
    assert 1 <= len(reasons) <= 3
    assert all(r.weight > 0 for r in reasons)
    assert [r.weight for r in reasons] == sorted((r.weight for r in reasons), reverse=True)
    by_code = {r.code: r.text for r in reasons}
    assert by_code.get("velocity") == "6 orders from this device in 24h"


def test_load_bundle_refuses_a_file_that_is_not_a_bundle(tmp_path):
    import joblib

    joblib.dump({"not": "a bundle"}, tmp_path / "x.joblib")
    with pytest.raises(TypeError, match="does not hold a model bundle"):
        load_bundle(tmp_path / "x.joblib")
