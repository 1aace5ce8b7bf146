"""Audit before answer: no decision without a durable record; purge; export."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from api.app import create_app
from tests.api.conftest import make_services, order_body
from triage.errors import UnavailableError
from triage.settings import Settings
from triage.stores.migrations import SCHEMA_VERSION


class FailingStore:
    """Delegates to a real store but cannot write decisions or outcomes."""

    def __init__(self, inner):
        self._inner = inner

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def insert_decisions(self, records, *, after=None):
        raise UnavailableError("audit store is unreachable (test)")

    async def insert_decisions_async(self, records, *, after=None):
        raise UnavailableError("audit store is unreachable (test)")

    def insert_outcome(self, record):
        raise UnavailableError("audit store is unreachable (test)")

    def ping(self):
        raise UnavailableError("audit store is unreachable (test)")


def test_unwritable_audit_store_gives_503_and_no_decision(settings, store, keys, online):
    app = create_app(settings, services=make_services(online=online), store=FailingStore(store))
    with TestClient(app, raise_server_exceptions=False) as c:
        c.headers["X-API-Key"] = keys["all"]
        r = c.post("/v1/orders/decisions", json=order_body("o-lost"))
        assert r.status_code == 503
        assert r.headers["content-type"].startswith("application/problem+json")
        assert "decision_id" not in r.json() and "actions" not in r.json()
        assert r.json()["code"] == "unavailable"
        batch = c.post("/v1/orders/decisions:batch", json={"items": [order_body()]})
        assert batch.status_code == 503
        assert c.get("/readyz").status_code == 503
    assert online.observed == []  # the online state did not count an unaudited event
    assert store.find_decisions(["order:id:o-lost"]) == {}


def test_unreachable_database_at_start_gives_503(tmp_path):
    settings = Settings(home=tmp_path, database_url="postgresql://127.0.0.1:1/nothing?connect_timeout=1")
    app = create_app(settings, services=make_services())
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.post("/v1/orders/decisions", json=order_body(), headers={"X-API-Key": "trg_x"})
        assert r.status_code == 503
        ready = c.get("/readyz")
        assert ready.status_code == 503 and "audit store" in " ".join(ready.json()["problems"])
        assert c.get("/healthz").status_code == 200


def test_purge_removes_rows_received_before_the_cut(client, store):
    client.post("/v1/orders/decisions", json=order_body("o-old"))
    assert store.purge(datetime.now(UTC) - timedelta(days=1)) == {"decisions": 0, "outcomes": 0}
    assert store.purge(datetime.now(UTC) + timedelta(seconds=1))["decisions"] == 1
    assert store.find_decisions(["order:id:o-old"]) == {}


def test_schema_migration_is_idempotent(store):
    assert store.migrate() == store.migrate() == SCHEMA_VERSION
