"""`triage consume` against the machine's NATS JetStream and RabbitMQ (no mocks): events in,
decided through the API's write path (audited before the ack), decisions out; poison to the
dead letter; redelivery after a crash gives the stored decision; SIGTERM drains.

The consumer runs in the test's event loop where the case allows (cheaper), and as a real
`triage consume` process where the case is about the process (killed, signalled). Decisions
come from the real policy and online state, with no model bundles (rules-only).
"""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest

from tests.api.conftest import order_body, return_body
from tests.bus.peers import Peer, audited, consumer, require_broker, total, unique_config
from triage.stores import open_store

pytestmark = pytest.mark.integration
SCHEMES = ["nats", "amqp"]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_orders_returns_and_outcomes_from_the_bus_are_decided_audited_and_published(scheme, settings):
    url = require_broker(scheme)
    config = unique_config()

    async def run() -> None:
        async with Peer(scheme, config) as peer, consumer(settings, url, config) as c:
            order, ret = order_body(), return_body()
            await peer.publish("orders", order, message_id="ev-order-1", correlation_id="corr-1",
                               nats_msg_id=True)
            await peer.publish("returns", ret)
            await peer.publish("outcomes", {"type": "delivery", "order_id": order["order_id"],
                                            "shipped_at": "2026-03-02T10:00:00Z",
                                            "delivered_at": "2026-03-03T10:00:00Z"})
            got = sorted(await peer.wait_for("decisions", 2), key=lambda d: d["kind"])
            by_kind = {d["kind"]: d for d in got}
            assert by_kind["order"]["event_id"] == "ev-order-1"
            assert by_kind["order"]["correlation_id"] == "corr-1"
            assert by_kind["order"]["decision"]["event_id"] == order["order_id"]
            assert by_kind["return"]["event_id"] == ret["return_id"]  # no message id: the event's own id
            assert by_kind["return"]["correlation_id"] == ret["return_id"]
            assert not any(d["replayed"] for d in got)
            for _ in range(100):  # the outcome's loop runs beside the decisions'
                if total(c.metrics.outcomes):
                    break
                await asyncio.sleep(0.05)
            assert total(c.metrics.outcomes, type="delivery") == 1
            assert total(c.metrics.decided) == 2
            assert peer.got["deadletter"] == []
            stored = {r.kind: r for r in audited(settings)}
            assert stored["order"].response == by_kind["order"]["decision"]  # the HTTP body, as audited
            assert stored["order"].idempotency_key == "order:key:ev-order-1"
            assert stored["return"].idempotency_key == f"return:id:{ret['return_id']}"
            assert stored["order"].api_key == f"bus:{scheme}"
            assert stored["order"].response["policy_version"] == c.services.policy_version
        store = open_store(settings.audit_url)
        try:
            assert [o.entity_id for o in store.iter_outcomes()] == [order["order_id"]]
        finally:
            store.close()

    asyncio.run(run())


@pytest.mark.parametrize("scheme", SCHEMES)
def test_poison_messages_go_to_the_dead_letter_with_their_problem_and_the_stream_goes_on(scheme, settings):
    url = require_broker(scheme)
    config = unique_config(ack_wait_seconds=0.5)

    async def run() -> None:
        async with Peer(scheme, config) as peer, consumer(settings, url, config) as c:
            first = order_body()
            await peer.publish("orders", first, message_id="ev-1")
            await peer.wait_for("decisions", 1)
            await peer.publish("orders", b"{not json", message_id="ev-2")
            await peer.publish("orders", order_body(order_total="lots"), message_id="ev-3")
            await peer.publish("orders", order_body(), message_id="ev-1")  # the same event id, another body
            await peer.publish("outcomes", {"type": "delivery", "order_id": "o-1"})  # no time it became known
            after = order_body()
            await peer.publish("orders", after, message_id="ev-4")
            dead = {d["event_id"]: d for d in await peer.wait_for("deadletter", 4)}
            decisions = await peer.wait_for("decisions", 2)
            assert decisions[1]["decision"]["event_id"] == after["order_id"]  # not blocked by the poison
            assert dead["ev-2"]["problem"]["status"] == 400 and dead["ev-2"]["payload"] == "{not json"
            assert dead["ev-3"]["problem"]["status"] == 422
            assert dead["ev-3"]["problem"]["errors"][0]["field"] == "order_total"
            assert dead["ev-3"]["problem"]["detail"].startswith(f"{config.name('orders')}: order_total")
            assert dead["ev-1"]["problem"]["status"] == 409  # never a second decision for an event id
            outcome = next(d for k, d in dead.items() if d["source"] == config.name("outcomes"))
            assert outcome["problem"]["status"] == 422, outcome
            for d in dead.values():
                assert d["problem"]["type"].startswith("urn:triage:problem:")
            assert total(c.metrics.dead_lettered) == 4
            assert total(c.metrics.dead_lettered, reason="conflict") == 1
            await asyncio.sleep(config.ack_wait_seconds * 1.5)  # everything was acked: nothing comes back
            assert len(peer.got["deadletter"]) == 4 and len(peer.got["decisions"]) == 2
        assert len(audited(settings)) == 2

    asyncio.run(run())


@pytest.mark.parametrize("scheme", SCHEMES)
def test_messages_waiting_together_are_decided_as_batches_through_the_batch_path(scheme, settings):
    url = require_broker(scheme)
    config = unique_config(batch_max=8, max_in_flight=8)
    n = 20

    async def run() -> None:
        async with Peer(scheme, config) as peer:
            bodies = [order_body(f"o-batch-{i:02d}", created_at=f"2026-03-01T14:{i:02d}:00Z") for i in range(n)]
            for b in bodies:
                await peer.publish("orders", b)
            async with consumer(settings, url, config) as c:
                got = await peer.wait_for("decisions", n)
                sizes = c.metrics.batch_size.collect()[0].samples
                count = next(s.value for s in sizes if s.name.endswith("_count"))
                assert count < n  # some messages were decided together
                assert max(s.labels.get("le") == "8.0" and s.value for s in sizes) >= 1
            assert sorted(d["decision"]["event_id"] for d in got) == sorted(b["order_id"] for b in bodies)
            assert len(audited(settings)) == n

    asyncio.run(run())


def test_the_stream_is_created_if_absent_and_metrics_are_served_on_their_own_port(settings):
    url = require_broker("nats")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = unique_config()

    async def run() -> None:
        async with consumer(settings, url, config) as c, Peer("nats", config, create_stream=False) as peer:
            info = await peer._nc.jetstream().stream_info(config.stream)  # created by the consumer
            assert info.config.subjects == [f"{config.prefix}.>"] and info.config.max_age == 168 * 3600
            c.metrics.serve("127.0.0.1", port)
            await peer.publish("orders", b"[]")
            await peer.publish("orders", order_body())
            await peer.wait_for("decisions", 1)
            await asyncio.sleep(0.5)  # a lag reading
            async with httpx.AsyncClient() as client:
                text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
        for line in ('triage_bus_consumed_total{source="orders"} 2.0', 'triage_bus_decided_total{kind="order"} 1.0',
                     'triage_bus_dead_lettered_total{reason="validation"} 1.0', 'triage_bus_lag{source="orders"} 0.0'):
            assert line in text, text
        p99 = next(line for line in text.splitlines() if line.startswith("triage_bus_decide_seconds_p99 "))
        assert float(p99.split()[1]) > 0

    asyncio.run(run())
