"""The batch decision path with one idempotency key per item (`decide_events_async(...,
idempotency_keys=...)`), as the bus consumer calls it: each event keyed by its own event id,
whatever batch it arrives in."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from api.schemas import OrderEvent
from tests.api.conftest import make_services, order_body
from triage.decision.audit_flow import decide_events_async
from triage.errors import ConflictError
from triage.stores import open_store


def test_each_item_of_a_batch_is_keyed_by_its_own_event_id_across_batches(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'a.db'}")
    services = make_services()
    now = datetime(2026, 3, 1, tzinfo=UTC)
    a, b, c = (OrderEvent.model_validate(order_body()).model_dump() for _ in range(3))

    async def decide(events, keys):
        return await decide_events_async(services, store, "order", events, received_at=now, idempotency_keys=keys)

    try:
        first = asyncio.run(decide([a, b], ["ev-a", None]))
        assert [r.replayed for r in first] == [False, False]
        keys = sorted(r.idempotency_key for r in store.iter_decisions())
        assert keys == sorted(["order:key:ev-a", f"order:id:{b['order_id']}"])
        # redelivered in another batch, in another position, beside a new event
        again = asyncio.run(decide([c, b, a], [None, None, "ev-a"]))
        assert [r.replayed for r in again] == [False, True, True]
        assert again[2].decision == first[0].decision and again[1].decision == first[1].decision
        assert len(list(store.iter_decisions())) == 3
        clash = asyncio.run(decide([c], ["ev-a"]))  # an event id already used by another body
        assert isinstance(clash[0].error, ConflictError)
    finally:
        store.close()
