"""The service shell under store trouble and heavy callers: recovery without a restart,
health vs readiness, Retry-After, the key cache, the rate limit and bounded reads.

The fault tests that kill real servers are in tests/faults/; these run in-process on SQLite.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from fastapi.testclient import TestClient

from api.app import create_app
from api.ratelimit import RateLimiter
from tests.api.conftest import make_services, order_body
from triage.errors import RateLimitedError
from triage.keys import KeyRing, create_key
from triage.settings import Settings
from triage.stores import open_store


def _wait_for(check, timeout_s: float = 8.0):
    deadline = time.monotonic() + timeout_s
    while True:
        got = check()
        if got or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def test_audit_store_down_at_start_answers_503_then_decisions_resume_by_themselves(tmp_path):
    db_dir = tmp_path / "db"
    settings = Settings(home=tmp_path / "home", database_url=f"sqlite:///{db_dir / 'triage.db'}",
                        store_retry_max_seconds=0.3)
    key = create_key(settings, "oms", "decide,read")
    away = tmp_path / "db.away"
    db_dir.rename(away)
    db_dir.write_text("not a folder")  # the store's folder cannot be made: unreachable
    with TestClient(create_app(settings, services=make_services()), raise_server_exceptions=False) as c:
        c.headers["X-API-Key"] = key
        down = c.post("/v1/orders/decisions", json=order_body())
        assert down.status_code == 503
        assert down.headers["content-type"].startswith("application/problem+json")
        assert int(down.headers["Retry-After"]) >= 1
        assert "audit" in down.json()["detail"]
        ready = c.get("/readyz")
        assert ready.status_code == 503 and "Retry-After" in ready.headers
        assert any(p.startswith("audit store:") for p in ready.json()["problems"])
        assert c.get("/healthz").status_code == 200  # it recovers by itself: no restart wanted

        db_dir.unlink()
        away.rename(db_dir)
        resumed = _wait_for(lambda: c.post("/v1/orders/decisions", json=order_body()).status_code == 200)
        assert resumed, "decisions did not resume once the store was reachable"
        assert c.get("/readyz").status_code == 200


def test_a_schema_this_build_refuses_makes_healthz_fail_so_the_process_is_restarted(tmp_path):
    settings = Settings(home=tmp_path / "home")
    open_store(settings.audit_url).close()
    with sqlite3.connect(settings.audit_url.removeprefix("sqlite:///")) as conn:
        conn.execute("INSERT INTO schema_version (version) VALUES (99)")
    with TestClient(create_app(settings, services=make_services()), raise_server_exceptions=False) as c:
        health = c.get("/healthz")
        assert health.status_code == 503
        assert "schema version 99" in health.json()["problems"][0]
        assert c.get("/readyz").status_code == 503


def test_unknown_keys_are_not_cached_and_do_not_evict_the_valid_ones(tmp_path):
    settings = Settings(home=tmp_path / "home")
    store = open_store(settings.audit_url)
    try:
        good = create_key(settings, "oms", "decide", store=store)
        ring = KeyRing(store, ttl_s=60, max_entries=50)
        assert ring.authenticate(good).name == "oms"
        assert ring.lookups == 1
        for i in range(500):  # well-formed, unknown: each is looked up, none is remembered
            try:
                ring.authenticate("trg_" + f"{i:043d}")
            except Exception as exc:  # noqa: BLE001
                assert type(exc).__name__ == "AuthenticationError"
        assert ring.lookups == 501
        for bad in ("nope", "trg_short", "x" * 5000):  # cannot be a key: no database read at all
            try:
                ring.authenticate(bad)
            except Exception as exc:  # noqa: BLE001
                assert type(exc).__name__ == "AuthenticationError"
        assert ring.lookups == 501
        assert ring.authenticate(good).name == "oms"
        assert ring.lookups == 501, "the valid key was evicted by the unknown ones"
    finally:
        store.close()


def test_a_key_above_its_rate_gets_429_problem_with_retry_after_and_others_are_not_slowed(tmp_path):
    settings = Settings(home=tmp_path / "home", rate_limit_per_second=0.5, rate_limit_burst=2)
    hot = create_key(settings, "hot", "decide")
    calm = create_key(settings, "calm", "decide")
    with TestClient(create_app(settings, services=make_services()), raise_server_exceptions=False) as c:
        codes = [c.post("/v1/orders/decisions", json=order_body(), headers={"X-API-Key": hot}).status_code
                 for _ in range(3)]
        assert codes == [200, 200, 429]
        limited = c.post("/v1/orders/decisions", json=order_body(), headers={"X-API-Key": hot})
        assert limited.status_code == 429
        assert limited.headers["content-type"].startswith("application/problem+json")
        assert limited.json()["code"] == "rate_limited"
        assert int(limited.headers["Retry-After"]) >= 1
        assert c.post("/v1/orders/decisions", json=order_body(), headers={"X-API-Key": calm}).status_code == 200


def test_rate_limiter_refills_at_its_rate():
    limiter = RateLimiter(10, 2)
    limiter.check("k", now=0.0)
    limiter.check("k", now=0.0)
    try:
        limiter.check("k", now=0.0)
        raise AssertionError("the third request at once should be refused")
    except RateLimitedError as exc:
        assert 0.09 < exc.retry_after_s <= 0.1 + 1e-9
    limiter.check("k", now=0.1)  # one token back after 1/rate seconds


def _decide(c: TestClient, n: int) -> list[str]:
    ids = []
    for _ in range(n):
        r = c.post("/v1/orders/decisions", json=order_body())
        assert r.status_code == 200, r.text
        ids.append(r.json()["decision_id"])
    return ids


def test_decisions_list_pages_through_its_window_with_a_cursor_each_once(tmp_path: Path):
    settings = Settings(home=tmp_path / "home", page_max_items=2)
    key = create_key(settings, "all", "decide,read")
    with TestClient(create_app(settings, services=make_services()), raise_server_exceptions=False) as c:
        c.headers["X-API-Key"] = key
        ids = _decide(c, 5)
        seen: list[str] = []
        url = "/v1/decisions?limit=50"  # more than page_max_items: pages of 2
        cursor = None
        for _ in range(5):
            page = c.get(url + (f"&cursor={cursor}" if cursor else ""))
            assert page.status_code == 200, page.text
            body = page.json()
            assert len(body["items"]) <= 2
            seen += [d["decision_id"] for d in body["items"]]
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert sorted(seen) == sorted(ids) and len(seen) == len(set(seen))

        wide = c.get("/v1/decisions?since=2020-01-01T00:00:00Z&until=2026-01-01T00:00:00Z")
        assert wide.status_code == 422 and "read_max_days" in wide.json()["detail"]
        bad = c.get("/v1/decisions?cursor=garbage")
        assert bad.status_code == 422 and bad.json()["detail"].startswith("cursor:")


def test_exception_summary_refuses_a_window_that_holds_more_than_read_max_rows(tmp_path):
    settings = Settings(home=tmp_path / "home", read_max_rows=2, bundle_dir=tmp_path / "none")
    key = create_key(settings, "all", "decide,read")
    with TestClient(create_app(settings, services=make_services()), raise_server_exceptions=False) as c:
        c.headers["X-API-Key"] = key
        _decide(c, 2)
        url = "/v1/exceptions/summary?since=2026-03-01T00:00:00Z"
        ok = c.get(url)
        assert ok.status_code == 200, ok.text
        assert ok.json()["window"] == {"since": "2026-03-01T00:00:00Z", "until": "2026-04-01T00:00:00Z"}
        _decide(c, 1)
        over = c.get(url)
        assert over.status_code == 422 and "read_max_rows" in over.json()["detail"]
        assert c.get("/v1/exceptions/summary?since=2025-01-01T00:00:00Z&until=2026-06-01T00:00:00Z"
                     ).status_code == 422
