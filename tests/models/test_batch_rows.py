"""The batch row path (`encode_rows` / `predict_rows` / `explain_rows`) equals the single-row one."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models import RETURNS
from tests.models.test_bundle import _fit, fraud_bundle  # noqa: F401 - the fixture


def _rows(X) -> list[dict]:
    rows = [X.iloc[i].to_dict() for i in range(60)]
    rows[0]["channel"] = "never-seen"  # unseen category → missing
    rows[1]["channel"] = None
    rows[2]["amount"] = None
    rows[3]["velocity"] = "not a number"  # float() refuses → missing
    rows[4]["velocity"] = "2.5"  # float() accepts text
    rows[5]["gap"] = float("nan")
    rows[6]["velocity"] = True
    del rows[7]["amount"]
    rows[8]["channel"] = 3  # a number where a category is expected: matched as text
    return rows


def test_encode_rows_equals_encode_row(fraud_bundle, binary_data):  # noqa: F811
    X, _ = binary_data
    rows = _rows(X)
    est = fraud_bundle.risk_head.estimator
    want = np.vstack([est.encode_row(r) for r in rows])
    got = est.encode_rows(rows)
    np.testing.assert_array_equal(got, want)
    assert est.encode_rows([]).shape == (0, len(est.feature_names_in_))


def test_predict_and_explain_rows_equal_the_single_row_path(fraud_bundle, binary_data):  # noqa: F811
    X, _ = binary_data
    rows = _rows(X)
    enc = fraud_bundle.encode_rows(rows)
    got = fraud_bundle.predict_rows(enc)
    for r, g in zip(rows, got, strict=True):
        assert g == fraud_bundle.predict_row(r)
    for method in ("path", "shap"):
        many = fraud_bundle.explain_rows(rows, method=method, encoded=enc)
        for r, m in zip(rows, many, strict=True):
            one = fraud_bundle.explain_row(r, method=method)
            assert [(x.code, x.text) for x in m] == [(x.code, x.text) for x in one]
            assert [x.weight for x in m] == pytest.approx([x.weight for x in one], rel=1e-12, abs=1e-12)
    assert fraud_bundle.explain_rows([], method="path") == []


def test_multiclass_rows(multiclass_data, binary_data):
    X, y = multiclass_data
    Xb, yb = binary_data
    bundle = RETURNS.make_bundle(
        {"disposition": _fit(RETURNS, "disposition", X, y), "abuse": _fit(RETURNS, "abuse", Xb, yb)},
        versions={"model_name": RETURNS.name},
    )
    rows = _rows(X)
    got = bundle.predict_rows(bundle.encode_rows(rows))
    for r, g in zip(rows, got, strict=True):
        one = bundle.predict_row(r)
        assert g.keys() == one.keys()
        assert all(g[k] == one[k] or (math.isnan(g[k]) and math.isnan(one[k])) for k in g)
