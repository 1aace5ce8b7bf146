"""Online stores under test: memory, SQLite, and Redis at 127.0.0.1:6379 when reachable.

Redis tests are skipped with the reason when no server answers, except under CI
(`CI=true`), where an unreachable server fails the run. `TRIAGE_TEST_REDIS_URL`
points them elsewhere.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from features.online import MemoryStore

REDIS_URL = os.environ.get("TRIAGE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def redis_problem() -> str | None:
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=1).ping()
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        return f"{type(exc).__name__}: {exc}".strip()


def require_redis() -> None:
    problem = redis_problem()
    if problem is not None:
        message = f"Redis not reachable at {REDIS_URL} ({problem})"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message}; CI=true requires it", pytrace=False)
        pytest.skip(f"{message}; start it or set TRIAGE_TEST_REDIS_URL to run these tests")


@pytest.fixture
def redis_store() -> Iterator[object]:
    require_redis()
    from triage.stores.online_redis import RedisOnlineStore

    store = RedisOnlineStore(REDIS_URL, prefix=f"triage-test-{uuid.uuid4().hex[:8]}:")
    try:
        yield store
    finally:
        store.clear()
        store.close()


@pytest.fixture(params=["memory", "sqlite", pytest.param("redis", marks=pytest.mark.integration)])
def online_store(request, tmp_path) -> Iterator[object]:
    """Each OnlineStore implementation, empty."""
    if request.param == "memory":
        yield MemoryStore()
    elif request.param == "sqlite":
        from triage.stores.online_sqlite import SqliteOnlineStore

        store = SqliteOnlineStore(tmp_path / "online.db")
        yield store
        store.close()
    else:
        yield request.getfixturevalue("redis_store")
