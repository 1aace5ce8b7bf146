"""API keys: 401 without or with an unknown key, 403 for the wrong scope, open health routes."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from tests.api.conftest import make_services, order_body
from triage.errors import ConflictError, ContractError, NotFoundError
from triage.keys import create_key, hash_key, list_keys, revoke_key


def _status(r, status, code):
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == code


def test_missing_key_is_401(client):
    r = client.post("/v1/orders/decisions", json=order_body(), headers={"X-API-Key": ""})
    _status(r, 401, "unauthorized")
    assert "X-API-Key" in r.json()["detail"]
    assert r.headers["www-authenticate"].startswith("ApiKey")


def test_unknown_key_is_401(client):
    _status(
        client.post("/v1/orders/decisions", json=order_body(), headers={"X-API-Key": "trg_nope"}),
        401,
        "unauthorized",
    )


def test_auth_is_checked_before_the_body(client):
    r = client.post("/v1/orders/decisions", json={"junk": 1}, headers={"X-API-Key": "trg_nope"})
    _status(r, 401, "unauthorized")


@pytest.mark.parametrize(
    ("method", "path", "key", "allowed"),
    [
        ("post", "/v1/orders/decisions", "read", False),
        ("post", "/v1/orders/decisions", "decide", True),
        ("get", "/v1/models", "decide", False),
        ("get", "/v1/models", "read", True),
        ("post", "/v1/outcomes", "decide", False),
        ("post", "/v1/admin/reload", "read", False),
    ],
)
def test_scopes(client, keys, method, path, key, allowed):
    kwargs = {"json": order_body()} if method == "post" else {}
    r = getattr(client, method)(path, headers={"X-API-Key": keys[key]}, **kwargs)
    if allowed:
        assert r.status_code == 200, r.text
    else:
        _status(r, 403, "forbidden")
        assert "lacks scope" in r.json()["detail"]


def test_revoked_key_is_refused(settings, store, services):
    settings = settings.model_copy(update={"key_cache_seconds": 0})
    key = create_key(settings, "temp", "decide", store=store)
    app = create_app(settings, services=services, store=store)
    with TestClient(app, raise_server_exceptions=False) as c:
        assert (
            c.post("/v1/orders/decisions", json=order_body(), headers={"X-API-Key": key}).status_code == 200
        )
        revoke_key(settings, "temp", store=store)
        _status(
            c.post("/v1/orders/decisions", json=order_body(), headers={"X-API-Key": key}), 401, "unauthorized"
        )


def test_without_any_key_decisions_are_401_and_the_log_says_how(settings, store, caplog):
    app = create_app(settings, services=make_services(), store=store)
    with (
        caplog.at_level(logging.WARNING, logger="triage.api"),
        TestClient(app, raise_server_exceptions=False) as c,
    ):
        _status(c.post("/v1/orders/decisions", json=order_body()), 401, "unauthorized")
        assert c.get("/healthz").status_code == 200
        assert c.get("/readyz").status_code == 200
        assert c.get("/metrics").status_code == 200
    assert any("triage keys create" in rec.getMessage() for rec in caplog.records)


def test_metrics_can_require_a_read_key(settings, store, keys):
    settings = settings.model_copy(update={"metrics_open": False})
    app = create_app(settings, services=make_services(), store=store)
    with TestClient(app, raise_server_exceptions=False) as c:
        _status(c.get("/metrics"), 401, "unauthorized")
        assert c.get("/metrics", headers={"X-API-Key": keys["read"]}).status_code == 200


def test_only_the_hash_is_stored(settings, store):
    key = create_key(settings, "hashed", ["read"], store=store)
    assert key.startswith("trg_") and len(key) > 40
    rec = next(k for k in list_keys(settings, store=store) if k.name == "hashed")
    assert rec.key_hash == hash_key(key) and key not in repr(rec)


def test_key_names_scopes_and_revocation_are_checked(settings, store):
    create_key(settings, "dup", "read", store=store)
    with pytest.raises(ConflictError):
        create_key(settings, "dup", "read", store=store)
    with pytest.raises(ContractError, match="scopes must be"):
        create_key(settings, "x", "decide,root", store=store)
    with pytest.raises(ContractError, match="key name"):
        create_key(settings, "bad name!", "read", store=store)
    with pytest.raises(NotFoundError):
        revoke_key(settings, "never-made", store=store)
    revoke_key(settings, "dup", store=store)
    create_key(settings, "dup", "read", store=store)  # the name is free again


def test_keys_work_through_settings_alone(tmp_path):
    """`triage keys create` and `triage serve` meet in the same database through the settings."""
    from triage.settings import Settings

    settings = Settings(home=tmp_path / "h")
    key = create_key(settings, "cli", "decide")
    assert [k.name for k in list_keys(settings)] == ["cli"]
    assert (tmp_path / "h" / "triage.db").exists() and key
