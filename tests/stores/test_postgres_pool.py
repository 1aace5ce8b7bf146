"""The PostgreSQL audit store's connection pool: bounded, and checked on checkout, so a
burst cannot open connections without limit and connections the server dropped cost no
request a failure."""

from __future__ import annotations

import threading
import uuid

import psycopg
import pytest

from tests.pg import PG_URL, fresh_pg_schema
from triage.stores import open_store

pytestmark = pytest.mark.integration


def _connections(app: str) -> int:
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (app,)).fetchone()[0]


def test_a_burst_waits_for_the_pool_instead_of_opening_more_connections():
    app = f"triage-pool-{uuid.uuid4().hex[:8]}"
    with fresh_pg_schema() as url:
        store = open_store(f"{url}&application_name={app}", pool_size=2, pool_timeout_s=10)
        try:
            peak = 0
            errors: list[BaseException] = []

            def slow() -> None:
                try:
                    with store._tx() as cur:  # type: ignore[attr-defined]
                        cur.execute("SELECT pg_sleep(0.15)")
                except BaseException as exc:  # noqa: BLE001
                    errors.append(exc)

            threads = [threading.Thread(target=slow) for _ in range(8)]
            for t in threads:
                t.start()
            while any(t.is_alive() for t in threads):
                peak = max(peak, _connections(app))
            for t in threads:
                t.join()
            assert not errors
            assert 1 <= peak <= 2
        finally:
            store.close()


def test_connections_the_server_dropped_fail_no_request():
    app = f"triage-pool-{uuid.uuid4().hex[:8]}"
    with fresh_pg_schema() as url:
        store = open_store(f"{url}&application_name={app}", pool_size=2)
        try:
            store.ping()
            with psycopg.connect(PG_URL, autocommit=True) as admin:
                killed = admin.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                       "WHERE application_name = %s", (app,)).fetchone()[0]
            assert killed >= 1
            for _ in range(5):  # each checkout is checked: the dead connections are replaced, not used
                store.ping()
        finally:
            store.close()
