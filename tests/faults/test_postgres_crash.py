"""PostgreSQL (the audit store) crashes under load and comes back: the service answers 503
with Retry-After meanwhile, decides again within seconds of the database's return, and
every acknowledged decision is the one stored, once."""

from __future__ import annotations

import time

import psycopg
import pytest

from api.app import create_app
from tests.api.conftest import make_services
from tests.faults.load import Load
from tests.faults.servers import ThrowawayPostgres, UvicornThread, wait_until
from triage.keys import create_key
from triage.settings import Settings

pytestmark = pytest.mark.integration


def test_postgres_crash_mid_load_loses_no_acknowledged_decision_and_decisions_resume(tmp_path):
    pg = ThrowawayPostgres()
    try:
        pg.start()
        settings = Settings(home=tmp_path / "home", database_url=pg.url, store_retry_max_seconds=1,
                            pg_pool_timeout_seconds=1)
        key = create_key(settings, "oms", "decide,read")
        app = create_app(settings, services=make_services())
        with UvicornThread(app) as server, Load(server.base, key, threads=3) as load:
            assert wait_until(lambda: len(load.acked) >= 10, 20), f"no load before the crash: {load.statuses}"
            pg.kill()
            killed = time.monotonic()
            assert wait_until(lambda: load.statuses[503] >= 3, 10), f"no 503 while the database was down: {load.statuses}"
            pg.start()
            up = time.monotonic()
            assert wait_until(lambda: load.first_ack_after(up) is not None, 10), "decisions did not resume"
            resumed_s = load.first_ack_after(up) - up  # type: ignore[operator]
            assert wait_until(lambda: load.acks_after(up) >= 10, 20)
        print(f"\npostgres crash: outage {up - killed:.2f} s, decisions resumed {resumed_s:.2f} s after the "
              f"database accepted connections; statuses {dict(load.statuses)}; acknowledged {len(load.acked)}")
        assert resumed_s < 5.0
        assert load.no_retry_after == 0, "a 503 came without Retry-After"
        assert load.statuses[500] == 0
        with psycopg.connect(pg.url) as conn:
            rows = conn.execute("SELECT event_id, decision_id FROM decisions").fetchall()
        stored: dict[str, list[str]] = {}
        for event_id, decision_id in rows:
            stored.setdefault(event_id, []).append(decision_id)
        duplicates = {e: ids for e, ids in stored.items() if len(ids) > 1}
        assert not duplicates, f"audit rows stored twice: {duplicates}"
        lost = {e: d for e, d in load.acked.items() if stored.get(e) != [d]}
        assert not lost, f"acknowledged decisions not stored as answered: {lost}"
    finally:
        pg.close()
