"""The review store (claims, resolutions, history) on SQLite and PostgreSQL: the same tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.pg import fresh_pg_schema
from triage.errors import ConfigError
from triage.stores import open_store
from triage.stores.reviews import REVIEW_SCHEMA_VERSION, Resolution, ReviewStore

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
IDLE = timedelta(minutes=30)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def db(request, tmp_path) -> Iterator[object]:
    if request.param == "sqlite":
        store = open_store(f"sqlite:///{tmp_path / 'triage.db'}")
        yield store
        store.close()
    else:
        with fresh_pg_schema() as url:
            store = open_store(url)
            yield store
            store.close()


@pytest.fixture
def reviews(db) -> ReviewStore:
    r = ReviewStore(db)
    r.migrate()
    return r


def _res(resolution: str, key: str = "ana", at: datetime = T0, decision_id: str = "d1") -> Resolution:
    return Resolution(decision_id=decision_id, event_id="o-1", kind="order", resolution=resolution, reason="why",
                      note=None, key_name=key, resolved_at=at)


def test_migration_is_idempotent_and_refuses_a_newer_schema(db, reviews):
    assert reviews.migrate() == REVIEW_SCHEMA_VERSION  # again: nothing to do
    with db._tx() as cur:
        cur.execute("INSERT INTO review_schema_version (version) VALUES (99)")
    with pytest.raises(ConfigError, match="review tables .* schema version 99"):
        ReviewStore(db).migrate()


def test_a_claim_is_one_keys_until_it_lapses(reviews):
    assert reviews.claim("d1", "ana", now=T0, idle=IDLE).key_name == "ana"
    assert reviews.claim("d1", "ben", now=T0 + timedelta(minutes=29), idle=IDLE).key_name == "ana"
    refreshed = reviews.claim("d1", "ana", now=T0 + timedelta(minutes=29), idle=IDLE)
    assert refreshed.claimed_at == T0 and refreshed.touched_at == T0 + timedelta(minutes=29)
    # idle since the refresh: ben still cannot at +58, can at +59
    assert reviews.claim("d1", "ben", now=T0 + timedelta(minutes=58), idle=IDLE).key_name == "ana"
    taken = reviews.claim("d1", "ben", now=T0 + timedelta(minutes=59), idle=IDLE)
    assert taken.key_name == "ben" and taken.claimed_at == T0 + timedelta(minutes=59)
    assert [(h.action, h.key_name) for h in reviews.history("d1")] == [("claim", "ana"), ("claim", "ben")]


def test_concurrent_claims_leave_one_holder(reviews):
    winners: list[str] = []
    barrier = threading.Barrier(6)

    def claim(name: str) -> None:
        barrier.wait()
        winners.append(reviews.claim("d2", name, now=T0, idle=IDLE).key_name)

    threads = [threading.Thread(target=claim, args=(f"k{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(winners)) == 1  # everyone was told the same holder
    assert [h.action for h in reviews.history("d2")] == ["claim"]


def test_final_resolutions_stay_and_an_escalation_is_replaced(reviews):
    stored, blocking = reviews.resolve(_res("escalate"), idle=IDLE)
    assert blocking is None and stored.resolution == "escalate"
    stored, _ = reviews.resolve(_res("decline", key="ben", at=T0 + timedelta(hours=1)), idle=IDLE)
    assert (stored.resolution, stored.key_name) == ("decline", "ben")
    stored, _ = reviews.resolve(_res("approve", at=T0 + timedelta(hours=2)), idle=IDLE)
    assert stored.resolution == "decline"  # final: an approval after it changes nothing
    reviews.set_outcome("d1", "out-1")
    assert reviews.resolutions(["d1"])["d1"].outcome_id == "out-1"
    assert [(h.action, h.key_name) for h in reviews.history("d1")] == [("escalate", "ana"), ("decline", "ben")]


def test_another_keys_active_claim_blocks_a_resolution(reviews):
    reviews.claim("d1", "ana", now=T0, idle=IDLE)
    stored, blocking = reviews.resolve(_res("approve", key="ben", at=T0 + timedelta(minutes=5)), idle=IDLE)
    assert blocking is not None and blocking.key_name == "ana"
    assert reviews.resolutions(["d1"]) == {}
    _, blocking = reviews.resolve(_res("approve", key="ben", at=T0 + timedelta(minutes=31)), idle=IDLE)
    assert blocking is None and reviews.resolutions()["d1"].key_name == "ben"
    assert reviews.release("d1", "ana", now=T0 + timedelta(minutes=32)) is True
    assert reviews.claims(["d1"]) == {}
