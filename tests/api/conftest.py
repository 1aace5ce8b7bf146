"""Fixtures for the API tests: stores (SQLite, and PostgreSQL when reachable), fake
decision machinery, keys, and a TestClient running the app's lifespan.

The fakes stand in for the policy, the model bundles and the online store, so these
tests pin the service shell (auth, audit, idempotency, errors, metrics) whatever the
models do.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from tests.pg import fresh_pg_schema
from triage.decision.service import DecisionService
from triage.keys import create_key
from triage.settings import Settings
from triage.stores import Store, open_store

# ---- fakes ------------------------------------------------------------------------


@dataclass(frozen=True)
class FakeDecision:
    kind: str
    actions: tuple[str, ...]
    scores: Mapping[str, Any]
    degraded: bool
    model_versions: Mapping[str, str]
    reasons: tuple[dict, ...] = ()
    policy_version: str = "fake-1"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "actions": list(self.actions),
            "scores": dict(self.scores),
            "reasons": list(self.reasons),
            "priority": 1.5,
            "priority_band": "low",
            "policy_version": self.policy_version,
            "model_versions": dict(self.model_versions),
            "degraded": self.degraded,
        }


def fake_decide(kind: str):
    def decide(event, scores, policy, *, explanations=(), model_versions=None, degraded=False):
        p = scores.get("p_fraud") if kind == "order" else scores.get("p_abuse")
        if (degraded and p is None) or (p is not None and p > 0.5):
            actions = ("hold_for_review",) if kind == "order" else ("manual_review",)
        else:
            actions = ("release",) if kind == "order" else ("instant_refund", "dc_restock")
        reasons = [{"source": "rule", "code": "fake.rule", "text": f"{kind} rule"}]
        reasons += [{"source": "model", "code": e.code, "text": e.text} for e in explanations]
        return FakeDecision(
            kind=kind,
            actions=actions,
            scores=dict(scores),
            degraded=degraded,
            model_versions=dict(model_versions or {}),
            reasons=tuple(reasons),
            policy_version=getattr(policy, "policy_version", "fake-1"),
        )

    return decide


@dataclass
class FakePolicy:
    policy_version: str = "fake-1"


@dataclass
class FakeReason:
    code: str
    text: str
    weight: float


@dataclass
class FakeBundle:
    name: str = "triage-fraud"
    entity: str = "order"
    score: str = "p_fraud"
    value: float = 0.9
    fail: bool = False
    versions: dict = field(default_factory=lambda: {"version": "7"})

    @property
    def output_columns(self) -> list[str]:
        return [self.score]

    def encode_row(self, values):
        return self.encode_rows([values])

    def predict_row(self, values, encoded=None):
        return {self.score: self.value}

    def encode_rows(self, rows):
        if self.fail:
            raise RuntimeError("model exploded")
        return {"risk": np.array([[r.get("velocity", 0.0)] for r in rows], dtype=np.float64)}

    def predict_rows(self, encoded):
        return [{self.score: self.value} for _ in range(len(encoded["risk"]))]

    def explain_row(self, values, *, k=3, encoded=None, method="path"):
        return [FakeReason("velocity", "many orders lately", 0.7)]

    def explain_rows(self, values, *, k=3, method="path", encoded=None):
        return [self.explain_row(v, k=k, method=method) for v in values]


@dataclass
class FakeOnline:
    """`triage.decision.interfaces.OnlineStateProtocol` in a list: fixed features, observations kept."""

    fail: bool = False
    observed: list = field(default_factory=list)
    outcomes: list = field(default_factory=list)
    lagging: bool = False
    lag_marks: int = 0
    bootstrap_problem: str | None = None
    log: Any = None

    def features(self, kind, event):
        if self.fail:
            raise ConnectionError("online store down")
        return {"velocity": 3.0, "kind": kind}

    def features_many(self, kind, events, *, concurrent=False):
        return [self.features(kind, e) for e in events]

    def observe(self, kind, event):
        self.observed.append((kind, event))

    def observe_many(self, kind, events):
        for e in events:
            self.observe(kind, e)

    def append_many(self, kind, events):
        self.observe_many(kind, events)

    def observe_outcome(self, type_, row):
        self.outcomes.append((type_, row))

    def describe(self) -> str:
        return "FakeOnline"

    def ping(self) -> None:
        return None

    def close(self) -> None:
        return None


def make_services(
    *, bundles: list[Any] | None = None, online: Any = None, version: str = "fake-1", problems=()
) -> DecisionService:
    by_kind: dict[str, list[Any]] = {"order": [], "return": []}
    for b in bundles if bundles is not None else [FakeBundle()]:
        by_kind[b.entity].append(b)
    return DecisionService(
        policy=FakePolicy(version),  # type: ignore[arg-type]  # the fake decide functions read only its version
        decide_order=fake_decide("order"),
        decide_return=fake_decide("return"),
        bundles=by_kind,
        online=online if online is not None else FakeOnline(),
        problems=list(problems),
    )


# ---- events -----------------------------------------------------------------------


def order_body(order_id: str | None = None, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "order_id": order_id or f"o-{uuid.uuid4().hex[:10]}",
        "customer_id": "c-1",
        "created_at": "2026-03-01T14:05:00Z",
        "channel": "web",
        "order_total": 120.5,
        "item_count": 2,
        "payment_method": "card",
        "card_country": "DE",
        "ip_country": "DE",
        "device_id": None,
        "email_hash": "e3b0c442",
        "billing_postcode": "01234",
        "shipping_postcode": "01234",
        "ship_lat": 52.5,
        "ship_lon": 13.4,
        "fulfillment_node_id": "dc-1",
        "fulfillment_type": "ship_from_dc",
        "carrier": "dhl",
        "service_level": "standard",
        "promised_at": "2026-03-04T18:00:00Z",
        "lines": [
            {"line_no": 1, "sku": "sku-1", "quantity": 1, "unit_price": 100.0},
            {"line_no": 2, "sku": "sku-2", "quantity": 1, "unit_price": 20.5},
        ],
    }
    body.update(overrides)
    return body


def return_body(return_id: str | None = None, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "return_id": return_id or f"r-{uuid.uuid4().hex[:10]}",
        "order_id": "o-1",
        "sku": "sku-1",
        "customer_id": "c-1",
        "requested_at": "2026-03-10T09:00:00+01:00",
        "quantity": 1,
        "return_channel": "mail",
        "reason_code": "wrong_size",
        "reason_text": None,
        "reported_condition": "unopened",
        "refund_amount": 100.0,
    }
    body.update(overrides)
    return body


# ---- stores -----------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_schema_url() -> Iterator[str]:
    """A fresh schema in the local PostgreSQL for this run, dropped afterwards."""
    with fresh_pg_schema() as url:
        yield url


def _truncate(store: Store) -> None:
    with store._tx() as cur:  # type: ignore[attr-defined]
        for table in ("decisions", "outcomes", "api_keys", "meta"):
            cur.execute(f"DELETE FROM {table}")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def store_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'triage.db'}"
    url = request.getfixturevalue("pg_schema_url")
    s = open_store(url)
    _truncate(s)
    s.close()
    return url


@pytest.fixture
def settings(tmp_path, store_url) -> Settings:
    return Settings(home=tmp_path / "home", database_url=store_url, max_batch_items=5, max_body_bytes=20_000)


@pytest.fixture
def store(settings) -> Iterator[Store]:
    s = open_store(settings.audit_url)
    yield s
    s.close()


ALL_SCOPES = "decide,outcomes,read,admin"


@pytest.fixture
def keys(settings, store) -> dict[str, str]:
    return {
        "all": create_key(settings, "all", ALL_SCOPES, store=store),
        "decide": create_key(settings, "decider", "decide", store=store),
        "read": create_key(settings, "reader", "read", store=store),
    }


@pytest.fixture
def online() -> FakeOnline:
    return FakeOnline()


@pytest.fixture
def services(online) -> DecisionService:
    return make_services(online=online)


@pytest.fixture
def client(settings, services, store, keys) -> Iterator[TestClient]:
    app = create_app(settings, services=services, store=store)
    with TestClient(app, raise_server_exceptions=False) as c:
        c.headers["X-API-Key"] = keys["all"]
        yield c
