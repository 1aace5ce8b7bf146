"""The shell with the real policy and no trained models: rules-only, not degraded."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.app import create_app
from tests.api.conftest import order_body, return_body
from triage.keys import create_key


def test_default_policy_decides_without_models(tmp_path):
    from triage.settings import Settings

    settings = Settings(home=tmp_path / "home", bundle_dir=tmp_path / "no-bundles")
    (tmp_path / "no-bundles").mkdir()
    key = create_key(settings, "ops", "decide,read")
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        c.headers["X-API-Key"] = key
        order = c.post("/v1/orders/decisions", json=order_body())
        assert order.status_code == 200, order.text
        body = order.json()
        assert body["scores"] == {"p_late": None, "p_fraud": None} and body["degraded"] is False
        assert body["actions"] and body["policy_version"] == c.get("/v1/models").json()["policy_version"]
        ret = c.post("/v1/returns/decisions", json=return_body())
        assert ret.status_code == 200, ret.text
        assert c.get("/readyz").json()["status"] == "ready"


def test_unloadable_bundle_is_degraded_and_reported(tmp_path):
    from triage.settings import Settings

    bundles = tmp_path / "bundles"
    bundles.mkdir()
    (bundles / "triage-fraud.joblib").write_bytes(b"not a bundle")
    settings = Settings(home=tmp_path / "home", bundle_dir=bundles)
    key = create_key(settings, "ops", "decide,read")
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        c.headers["X-API-Key"] = key
        body = c.post("/v1/orders/decisions", json=order_body()).json()
        assert body["degraded"] is True
        assert any(r["code"] == "policy.degraded_default" for r in body["reasons"]), body
        ready = c.get("/readyz").json()
        assert ready["status"] == "degraded" and "triage-fraud" in ready["problems"][0]
        # returns have no failed model: not degraded
        assert c.post("/v1/returns/decisions", json=return_body()).json()["degraded"] is False
