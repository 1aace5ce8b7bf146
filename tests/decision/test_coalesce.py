"""The coalescer: single decisions that arrive together are decided as one group, each
keeping its own idempotency, audit record and result — and they never see each other."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from api.schemas import OrderEvent
from tests.api.conftest import make_services, order_body
from tests.api.test_online_store import _master
from triage.decision.coalesce import Coalescer
from triage.errors import ConflictError, UnavailableError
from triage.settings import Settings
from triage.stores import open_store
from triage.stores.online import load_online, open_online

NOW = datetime(2026, 3, 1, 15, 0, tzinfo=UTC)


def _event(**overrides: Any) -> dict[str, Any]:
    return OrderEvent.model_validate(order_body(**overrides)).model_dump()


@pytest.fixture
def store(tmp_path):
    s = open_store(f"sqlite:///{tmp_path / 'triage.db'}")
    yield s
    s.close()


async def _together(co: Coalescer, services, store, calls: list[tuple[dict, str | None, str]]):
    """Submit every call in the same loop turn, as a burst of requests would arrive."""
    return await asyncio.gather(*(
        co.decide(services, store, "order", ev, received_at=NOW, idempotency_header=h, api_key=k)
        for ev, h, k in calls), return_exceptions=True)


def test_requests_arriving_together_are_decided_as_one_group_with_their_own_records(store):
    co, services = Coalescer(), make_services()
    events = [_event() for _ in range(5)]
    results = asyncio.run(_together(co, services, store, [(e, None, f"key-{i}") for i, e in enumerate(events)]))
    assert (co.groups, co.events) == (1, 5)
    for i, (ev, r) in enumerate(zip(events, results, strict=True)):
        assert r.error is None and not r.replayed
        assert r.decision["event_id"] == ev["order_id"]
        stored = store.get_decision(r.decision["decision_id"])
        assert stored is not None and stored.api_key == f"key-{i}" and stored.event_id == ev["order_id"]


def test_a_larger_burst_is_split_into_groups_of_at_most_max_group(store):
    co = Coalescer(max_group=4)
    results = asyncio.run(_together(co, make_services(), store, [(_event(), None, "k") for _ in range(10)]))
    assert all(r.error is None for r in results)
    assert (co.groups, co.events) == (3, 10)


def test_the_same_idempotency_key_twice_in_a_group_replays_or_conflicts(store):
    co, services = Coalescer(), make_services()
    a = _event()
    other = _event(order_total=999.0)
    first, again, clash = asyncio.run(_together(co, services, store, [
        (a, "idem-1", "k"), (dict(a), "idem-1", "k"), (other, "idem-1", "k")]))
    assert first.error is None and not first.replayed
    assert again.replayed and again.decision == first.decision
    assert isinstance(clash.error, ConflictError)


def test_a_request_already_decided_before_is_replayed_from_the_audit(store):
    co, services = Coalescer(), make_services()
    ev = _event()
    (first,) = asyncio.run(_together(co, services, store, [(ev, None, "k")]))
    (again,) = asyncio.run(_together(co, services, store, [(dict(ev), None, "k")]))
    assert again.replayed and again.decision["decision_id"] == first.decision["decision_id"]


def test_a_failing_audit_store_fails_every_request_of_the_group_and_decides_nothing(store, monkeypatch):
    co, services = Coalescer(), make_services()

    async def down(self, records, after=None):
        raise UnavailableError("audit store down")

    monkeypatch.setattr(type(store), "insert_decisions_async", down)
    results = asyncio.run(_together(co, services, store, [(_event(), None, "k") for _ in range(3)]))
    assert all(isinstance(r, UnavailableError) for r in results)
    assert services.online.observed == []


def test_members_of_a_group_do_not_see_each_other_as_if_each_was_decided_alone(tmp_path, store):
    settings = Settings(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'triage.db'}")
    load_online(settings, _master(tmp_path))
    online = open_online(settings)
    try:
        services = make_services(online=online, bundles=[])
        early = _event(created_at="2026-03-01T10:00:00Z", device_id="d-1")
        late = _event(created_at="2026-03-01T11:00:00Z", device_id="d-1")
        alone = online.features("order", late)
        co = Coalescer()
        results = asyncio.run(_together(co, services, store, [(early, None, "k"), (late, None, "k")]))
        assert co.groups == 1
        audited = store.get_decision(results[1].decision["decision_id"])
        assert audited is not None and audited.features["cust_orders_24h"] == alone["cust_orders_24h"] == 0.0
        # once both are audited, the next order of the customer sees them both
        after = online.features("order", _event(created_at="2026-03-01T12:00:00Z"))
        assert after["cust_orders_24h"] == 2.0
    finally:
        online.close()
