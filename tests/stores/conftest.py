"""Online state under test: the `OnlineStore`s (reference `MemoryStore`, the service's
`IndexedStore`) and the logs that share it between workers (SQLite, and Redis at
127.0.0.1:6379 when reachable).

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
def redis_log() -> Iterator[object]:
    require_redis()
    from triage.stores.online_redis import RedisLog

    log = RedisLog(REDIS_URL, prefix=f"triage-test-{uuid.uuid4().hex[:8]}:")
    try:
        yield log
    finally:
        log.clear()
        log.close()


@pytest.fixture(params=["memory", "indexed"])
def online_store(request) -> Iterator[object]:
    """Each OnlineStore implementation, empty."""
    if request.param == "memory":
        yield MemoryStore()
    else:
        from triage.stores.online_index import IndexedStore

        yield IndexedStore()


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.integration)])
def online_log(request, tmp_path) -> Iterator[object]:
    """Each shared log (the online state's source of truth), empty."""
    if request.param == "sqlite":
        from triage.stores.online_sqlite import SqliteLog

        log = SqliteLog(tmp_path / "online.db")
        yield log
        log.close()
    else:
        yield request.getfixturevalue("redis_log")
