"""Start-up recovery of the online log from the audit store (`triage.stores.log_recovery`):
an event or outcome the audit committed but the log never received (a crash between the
two) is re-appended at the next start, in audit order, exactly once.

Every audit store (SQLite; PostgreSQL at 127.0.0.1:5432 db `test` when reachable) with every
log (SQLite; Redis at 127.0.0.1:6379 when reachable). Unreachable servers skip with the
reason, except under CI (`CI=true`), where they fail the run. `TRIAGE_TEST_PG_URL` and
`TRIAGE_TEST_REDIS_URL` point them elsewhere.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from features import build_order_features, build_return_features
from tests.factories import random_frames
from tests.features.test_online_parity import timeline
from tests.pg import fresh_pg_schema
from tests.stores.test_online_stores import _master_folder, assert_values_equal
from triage.contract import dataset_from_frames
from triage.events import EVENT_ID, EVENT_TIME
from triage.records import jsonable
from triage.settings import Settings
from triage.stores import DecisionRecord, OutcomeRecord, open_store, plain
from triage.stores.log_recovery import recover_log
from triage.stores.online import OnlineState, load_online, open_online, recover_from_audit

# ---- stores and logs --------------------------------------------------------------------


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh schema in the local PostgreSQL, dropped afterwards."""
    with fresh_pg_schema() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def audit_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'home' / 'triage.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def settings(tmp_path, audit_url) -> Settings:
    return Settings(home=tmp_path / "home", database_url=audit_url)


# ---- the write path, with a crash between the audit commit and the log append ------------


def _plain(row: Mapping[str, Any]) -> dict[str, Any]:
    """A dataset row as the API hands it on: datetimes, None for missing, Python scalars."""
    out: dict[str, Any] = {}
    for k, v in row.items():
        if isinstance(v, list):
            out[k] = [_plain(x) for x in v]
        elif v is None or (not isinstance(v, str) and pd.isna(v)):
            out[k] = None
        elif isinstance(v, pd.Timestamp):
            out[k] = v.to_pydatetime()
        elif isinstance(v, np.generic):
            out[k] = v.item()
        else:
            out[k] = v
    return out


def _decision(kind: str, event: Mapping[str, Any], received_at: datetime) -> DecisionRecord:
    request = jsonable(event)
    return DecisionRecord(
        decision_id=str(uuid.uuid4()), kind=kind, event_id=str(event[EVENT_ID[kind]]),
        event_time=event[EVENT_TIME[kind]], idempotency_key=f"{kind}:id:{event[EVENT_ID[kind]]}",
        body_hash=uuid.uuid4().hex, request=request, features=None, scores={}, actions=[], reasons=[],
        priority=None, policy_version="test", models={}, degraded=False, latency_ms=0.1,
        received_at=received_at, api_key=None, response={"kind": kind},
    )


def _outcome(type_: str, row: Mapping[str, Any], received_at: datetime) -> OutcomeRecord:
    entity = row.get("order_id") or row.get("return_id") or row.get("node_id")
    known = next(v for f in ("delivered_at", "cancelled_at", "shipped_at", "reported_at", "inspected_at",
                             "synced_at") if (v := row.get(f)) is not None)
    return OutcomeRecord(outcome_id=str(uuid.uuid4()), type=type_, entity_id=str(entity), known_at=known,
                         body_hash=uuid.uuid4().hex, body=jsonable(row), received_at=received_at)


def _serve(store: Any, state: OnlineState, ds: Any, *, lost: set[int]) -> int:
    """Every event and outcome of `ds` in time order through the write path: audit commit, then
    the log append — except items whose position is in `lost` (the crash: audited, never
    appended). Returns how many items were served."""
    lines = {k: g.to_dict("records") for k, g in ds["order_lines"].groupby("order_id")}
    received = datetime.now(UTC)  # after the snapshot was loaded
    items = timeline(ds)
    for i, (_, _, kind, row) in enumerate(items):
        received += timedelta(milliseconds=1)
        skip = i in lost
        if kind in ("order", "return"):
            event = _plain({**row, "lines": lines.get(row["order_id"], [])} if kind == "order" else row)

            def after(_written: list[DecisionRecord], kind: str = kind, event: dict = event,
                      skip: bool = skip) -> None:
                if not skip:  # as `triage.decision.audit_flow`: the won events, on the writer thread
                    state.append_many(kind, [event])

            store.insert_decisions([_decision(kind, event, received)], after=after)
        else:
            outcome = {"type": kind, **_plain(row)}
            store.insert_outcome(_outcome(kind, outcome, received))
            if not skip:
                state.observe_outcome(kind, outcome)
    return len(items)


def _log_bodies(log_: Any) -> list[tuple]:
    out, pos = [], log_.start()
    while entries := log_.read(pos):
        for pos, body in entries:  # noqa: B007 - the last position read
            out.append(plain.loads(body))
    return out


def _assert_offline_features(state: OnlineState, ds: Any) -> None:
    offline_orders = build_order_features(ds).set_index("order_id")
    offline_returns = build_return_features(ds).set_index("return_id")
    lines = {k: g.to_dict("records") for k, g in ds["order_lines"].groupby("order_id")}
    for row in ds["orders"].to_dict("records"):
        got = state.features("order", {**row, "lines": lines.get(row["order_id"], [])})
        assert_values_equal(offline_orders.loc[row["order_id"]].drop("created_at"), got, row["order_id"])
    for row in ds["returns"].to_dict("records"):
        got = state.features("return", row)
        assert_values_equal(offline_returns.loc[row["return_id"]].drop("requested_at"), got, row["return_id"])


def _setup(online_log: Any, settings: Settings, tmp_path: Any, seed: int) -> tuple[Any, Any]:
    ds = dataset_from_frames(random_frames(seed, n_orders=50, days=4))
    load_online(settings, _master_folder(ds, tmp_path / "master"), log_=online_log)
    return ds, open_store(settings.audit_url)


# ---- tests --------------------------------------------------------------------------------


def test_events_lost_between_audit_and_log_are_re_appended_at_start(online_log, settings, tmp_path):
    """Check that events and outcomes audited but never appended (a crash) reach the log at the
    next start, once each: a worker started afterwards gives every event its offline features
    (so later events see the lost ones), and a second start appends nothing."""
    ds, store = _setup(online_log, settings, tmp_path, seed=3)
    try:
        rng = np.random.default_rng(3)
        n = len(timeline(ds))
        lost = set(rng.choice(n, size=n // 5, replace=False).tolist())
        _serve(store, OnlineState(online_log), ds, lost=lost)
        before = len(_log_bodies(online_log))
        with pytest.raises(AssertionError):  # the crash did lose history: features differ
            _assert_offline_features(OnlineState(online_log), ds)

        summary = recover_log(online_log, store, settle_s=0.0)
        assert summary["pending"] == n
        assert summary["appended"] == len(lost)
        bodies = _log_bodies(online_log)
        assert len(bodies) == before + len(lost)
        _assert_offline_features(OnlineState(online_log), ds)

        again = recover_log(online_log, store, settle_s=0.0)  # the next start: nothing pending, nothing appended
        assert (again["pending"], again["appended"]) == (0, 0)
        assert len(_log_bodies(online_log)) == len(bodies)
    finally:
        store.close()


def test_recovery_reads_only_the_log_after_its_checkpoint(online_log, settings, tmp_path):
    """Check that a second recovery matches the rows audited since the first against the log
    entries appended since then, and re-appends only the lost ones."""
    ds, store = _setup(online_log, settings, tmp_path, seed=4)
    try:
        n = len(timeline(ds))
        half = set(range(n // 2, n))
        _serve(store, OnlineState(online_log), ds, lost=half)  # the second half: lost
        assert recover_log(online_log, store, settle_s=0.0)["appended"] == len(half)
        # the same events again under new keys (a replay of the traffic), none lost this time
        with store._tx() as cur:  # type: ignore[attr-defined]
            cur.execute("DELETE FROM decisions")
            cur.execute("DELETE FROM outcomes")
        _serve(store, OnlineState(online_log), ds, lost=set())
        summary = recover_log(online_log, store, settle_s=0.0)
        assert (summary["pending"], summary["appended"]) == (n, 0)
        _assert_offline_features(OnlineState(online_log), ds)
    finally:
        store.close()


def test_rows_audited_before_a_new_snapshot_are_superseded(online_log, settings, tmp_path):
    """Check that rows received before the log's current snapshot was loaded are cleared, not
    re-appended: the snapshot is the history."""
    ds, store = _setup(online_log, settings, tmp_path, seed=5)
    try:
        n = len(timeline(ds))
        _serve(store, OnlineState(online_log), ds, lost=set(range(n)))
        with store._tx() as cur:  # type: ignore[attr-defined]
            old = store.dialect.ts_in(datetime(2000, 1, 1, tzinfo=UTC))  # type: ignore[attr-defined]
            cur.execute(store._q("UPDATE decisions SET received_at = ?"), (old,))  # type: ignore[attr-defined]
            cur.execute(store._q("UPDATE outcomes SET received_at = ?"), (old,))  # type: ignore[attr-defined]
        before = len(_log_bodies(online_log))
        summary = recover_log(online_log, store, settle_s=0.0)
        assert (summary["pending"], summary["superseded"], summary["appended"]) == (n, n, 0)
        assert len(_log_bodies(online_log)) == before
    finally:
        store.close()


def test_a_recent_row_whose_append_is_in_flight_is_not_appended_twice(tmp_path):
    """Check that a pending row missing from the log but received moments ago (another worker's
    append may be in flight) is looked for again before it is re-appended."""
    from triage.stores.online_sqlite import SqliteLog

    store = open_store(f"sqlite:///{tmp_path / 'triage.db'}")
    log_ = SqliteLog(tmp_path / "online.db")
    event = {"order_id": "o1", "created_at": datetime(2030, 1, 1, tzinfo=UTC), "lines": []}
    store.insert_decisions([_decision("order", event, datetime.now(UTC))])

    class LateAppend:  # the other worker's append lands while recovery waits
        def __getattr__(self, name: str) -> Any:
            return getattr(log_, name)

        def read(self, after: Any, limit: int = 5000) -> list:
            got = log_.read(after, limit)
            if not got and not log_.read(0):
                log_.append([plain.dumps(("order", event))])
            return got

    try:
        summary = recover_log(LateAppend(), store, settle_s=0.01)
        assert (summary["pending"], summary["appended"]) == (1, 0)
        assert len(_log_bodies(log_)) == 1
    finally:
        store.close()
        log_.close()


def test_service_start_recovers_before_the_first_decision(tmp_path):
    """Check that `open_online` (what the API's start calls) re-appends a lost event before it
    builds the worker's state: the first decision's features include it."""
    settings = Settings(home=tmp_path / "home")
    ds = dataset_from_frames(random_frames(6, n_orders=60, days=4))
    first = open_online(settings)
    load_online(settings, _master_folder(ds, tmp_path / "master"), log_=first.log)
    store = open_store(settings.audit_url)
    try:
        _serve(store, first, ds, lost=set(range(0, len(timeline(ds)), 3)))
    finally:
        store.close()
        first.close()
    restarted = open_online(settings)  # the restart
    try:
        _assert_offline_features(restarted, ds)
        assert recover_from_audit(settings, restarted.log) == {
            "pending": 0, "appended": 0, "superseded": 0, "seconds": pytest.approx(0, abs=5)}
    finally:
        restarted.close()


def test_rows_from_before_the_migration_are_not_pending(tmp_path, monkeypatch):
    """Check that upgrading a version-1 audit database marks nothing pending (what was audited
    before the upgrade is taken as logged) while new rows are."""
    from triage.stores import migrations, sql

    url = f"sqlite:///{tmp_path / 'triage.db'}"
    monkeypatch.setattr(sql, "MIGRATIONS", migrations.MIGRATIONS[:1])
    monkeypatch.setattr(sql, "SCHEMA_VERSION", 1)
    old = open_store(url)
    event = {"order_id": "o1", "created_at": datetime(2030, 1, 1, tzinfo=UTC), "lines": []}
    with old._tx() as cur:  # type: ignore[attr-defined]  # a version-1 insert (every field a JSON column)
        rec = _decision("order", event, datetime.now(UTC))
        v1 = [c for c in migrations.DECISION_COLUMNS if c != "packed"]
        d = old.dialect  # type: ignore[attr-defined]
        values = [d.json_in(getattr(rec, c)) if c in migrations.DECISION_JSON
                  else d.ts_in(getattr(rec, c)) if c in ("event_time", "received_at")
                  else d.bool_in(rec.degraded) if c == "degraded" else getattr(rec, c) for c in v1]
        cur.execute(f"INSERT INTO decisions ({', '.join(v1)}) VALUES ({old._marks(len(v1))})",  # type: ignore[attr-defined]
                    tuple(values))
    old.close()
    monkeypatch.undo()
    store = open_store(url)
    try:
        assert store.pending_online("decisions") == []  # type: ignore[attr-defined]
        assert store.get_decision(rec.decision_id) == rec  # a row of before v3 reads as it was written
        store.insert_decisions([_decision("order", {**event, "order_id": "o2"}, datetime.now(UTC))])
        assert [r.entity_id for r in store.pending_online("decisions")] == ["o2"]  # type: ignore[attr-defined]
    finally:
        store.close()


def test_workers_starting_together_recover_a_lost_event_once(tmp_path, monkeypatch):
    """Check that workers of one machine recovering at the same time (each worker's start
    calls `recover_from_audit`) append each lost row once: they take turns on a lock file.
    A barrier after reading the pending rows makes them overlap if nothing serialises them."""
    import contextlib
    import threading

    from triage.stores.sql import SqlStore

    barrier = threading.Barrier(3, timeout=1.5)
    read = SqlStore.pending_online

    def pending_then_meet(self, *args, **kwargs):
        rows = read(self, *args, **kwargs)
        with contextlib.suppress(threading.BrokenBarrierError):  # taking turns: nobody else is reading
            barrier.wait()
        return rows

    monkeypatch.setattr(SqlStore, "pending_online", pending_then_meet)

    settings = Settings(home=tmp_path / "home")
    ds = dataset_from_frames(random_frames(6, n_orders=40, days=3))
    first = open_online(settings)
    load_online(settings, _master_folder(ds, tmp_path / "master"), log_=first.log)
    store = open_store(settings.audit_url)
    try:
        lost = set(range(0, len(timeline(ds)), 4))
        _serve(store, first, ds, lost=lost)
    finally:
        store.close()
    before = len(_log_bodies(first.log))
    results: list[Any] = []
    workers = [threading.Thread(target=lambda: results.append(recover_from_audit(settings, first.log)))
               for _ in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    try:
        assert len(_log_bodies(first.log)) == before + len(lost)
        assert sorted(r["appended"] for r in results) == [0, 0, len(lost)]
    finally:
        first.close()
