"""Redis (the online-state log) crashes under load and comes back empty: decisions go on
rules-only and flagged `degraded`, then recover by themselves, and the online state
catches up with every decision made meanwhile (re-appended from the audit store)."""

from __future__ import annotations

import time

import httpx
import pytest

from api.app import create_app
from tests.api.conftest import order_body
from tests.faults.load import Load
from tests.faults.servers import ThrowawayRedis, UvicornThread, wait_until
from triage.keys import create_key
from triage.settings import Settings

pytestmark = pytest.mark.integration


def test_redis_crash_degrades_decisions_then_the_online_state_catches_up(tmp_path):
    redis = ThrowawayRedis()
    try:
        redis.start()
        (tmp_path / "no-bundles").mkdir()
        settings = Settings(home=tmp_path / "home", redis_url=redis.url, bundle_dir=tmp_path / "no-bundles",
                            redis_prefix="fault:", store_retry_max_seconds=0.5, coalesce_max=0)
        key = create_key(settings, "oms", "decide,read")
        with UvicornThread(create_app(settings)) as server:
            with Load(server.base, key, threads=2) as load:
                assert wait_until(lambda: len(load.acked) >= 8, 20), f"no load before the crash: {load.statuses}"
                assert not any(load.degraded.values())
                redis.kill()
                killed = time.monotonic()
                assert wait_until(lambda: sum(load.degraded.values()) >= 5, 15), "no degraded decision while Redis was down"
                time.sleep(max(0.0, killed + 1.0 - time.monotonic()))  # a second of outage at least
                redis.start()
                up = time.monotonic()

                def healthy_after_up() -> bool:
                    return any(not d for o, d in list(load.degraded.items())[-3:])

                assert wait_until(lambda: load.acks_after(up) >= 3 and healthy_after_up(), 10), "decisions stayed degraded"
                recovered_s = time.monotonic() - up
            degraded = sum(load.degraded.values())
            with httpx.Client(base_url=server.base, headers={"X-API-Key": key}, timeout=10) as c:
                def caught_up() -> bool:
                    problems = c.get("/readyz").json()["problems"]
                    return not any("online store" in p for p in problems)

                assert wait_until(caught_up, 10), c.get("/readyz").json()
                probe = c.post("/v1/orders/decisions", json=order_body(
                    customer_id=load.customer, created_at="2026-03-02T10:00:00Z"))
                assert probe.status_code == 200, probe.text
                assert probe.json()["degraded"] is False
                features = c.get(f"/v1/decisions/{probe.json()['decision_id']}").json()["features"]
        print(f"\nredis crash: outage {up - killed:.2f} s, {degraded} of {len(load.acked)} decisions degraded, "
              f"healthy again {recovered_s:.2f} s after Redis restarted; statuses {dict(load.statuses)}")
        # every order decided for this customer, during the outage too, is in the online state once
        assert features["cust_prior_orders"] == len(load.acked)
        assert load.statuses[500] == 0 and load.statuses[503] == 0
    finally:
        redis.close()
