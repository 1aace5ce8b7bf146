"""Every implementation of a seam (and every test fake standing in for one) has all of its
protocol's members: call sites call them directly, never probe with `getattr`.

Checked twice: at run time (`runtime_checkable` protocols: every member present) and by mypy,
which type-checks this file (`[tool.mypy] files`): `_typed` assigns each implementation to its
protocol, so a missing or mistyped method fails `mypy`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from api.bus.broker import Broker
from api.bus.nats import NatsBroker
from api.bus.rabbitmq import RabbitBroker
from models.bundle import Bundle
from tests.api.conftest import FakeBundle, FakeOnline
from triage.decision.interfaces import ModelBundle, OnlineStateProtocol
from triage.stores.online import OnlineState
from triage.stores.online_log import OnlineLog
from triage.stores.online_redis import RedisLog
from triage.stores.online_sqlite import SqliteLog
from triage.stores.postgres import PostgresStore
from triage.stores.sqlite import SqliteStore

_BROKER_METHODS = ("start", "fetch", "publish", "lag", "stop_consuming", "buffered", "close")


def _typed(tmp: Path) -> None:
    """Never run: mypy checks that each implementation is assignable to its protocol."""
    log_: OnlineLog = SqliteLog(tmp / "online.db")
    redis_log: OnlineLog = RedisLog("redis://127.0.0.1:1/0")
    online: OnlineStateProtocol = OnlineState(log_)
    no_log: OnlineStateProtocol = OnlineState(None)
    fake: OnlineStateProtocol = FakeOnline()
    bundle: ModelBundle = Bundle(name="triage-fraud", entity="order", heads={})
    fake_bundle: ModelBundle = FakeBundle()
    nats: Broker = NatsBroker("nats://127.0.0.1:1", None)  # type: ignore[arg-type]
    rabbit: Broker = RabbitBroker("amqp://127.0.0.1:1", None)  # type: ignore[arg-type]
    del log_, redis_log, online, no_log, fake, bundle, fake_bundle, nats, rabbit


def test_online_states_satisfy_the_protocol(tmp_path):
    """Check that the real online state (with and without a log) and the API tests' fake have
    every member the decision core and the API call."""
    log_ = SqliteLog(tmp_path / "online.db")
    try:
        for online in (OnlineState(log_), OnlineState(None), FakeOnline()):
            assert isinstance(online, OnlineStateProtocol), type(online).__name__
    finally:
        log_.close()


def test_online_logs_satisfy_the_protocol(tmp_path):
    """Check that both logs (SQLite, Redis) have every `OnlineLog` method (none connects here)."""
    pytest.importorskip("redis")
    sqlite_log = SqliteLog(tmp_path / "online.db")
    try:
        for log_ in (sqlite_log, RedisLog("redis://127.0.0.1:1/0")):
            assert isinstance(log_, OnlineLog), type(log_).__name__
    finally:
        sqlite_log.close()


def test_bundles_satisfy_the_protocol():
    """Check that the real bundle and the fake have the batch methods scoring calls directly."""
    for bundle in (Bundle(name="triage-fraud", entity="order", heads={}), FakeBundle()):
        assert isinstance(bundle, ModelBundle), type(bundle).__name__


@pytest.mark.parametrize("store", [SqliteStore, PostgresStore])
def test_audit_stores_implement_every_abstract_method(store):
    """Check that each audit store implements all of `Store` (so `reads_inline`,
    `insert_decisions_async`, `pending_online` and `url_for_humans` are always there)."""
    assert not store.__abstractmethods__
    assert isinstance(store.reads_inline, bool)


@pytest.mark.parametrize("broker", [NatsBroker, RabbitBroker])
def test_brokers_have_every_broker_method(broker):
    """Check that both bus adapters have every method of `api.bus.broker.Broker`."""
    missing = [m for m in _BROKER_METHODS if not callable(getattr(broker, m, None))]
    assert not missing
