"""The consumer's names and limits, and what an operator sees for a wrong URL or setting
(no broker needed)."""

from __future__ import annotations

import pytest

from api.bus.broker import scheme_of
from api.bus.config import BusConfig, bus_config
from api.bus.run import consume
from triage.cli import main
from triage.errors import ConfigError, UnavailableError


def test_names_derive_from_the_prefix_unless_set_one_by_one():
    c = BusConfig(prefix="shop1", decisions="out.decided")
    assert [c.name(n) for n in ("orders", "returns", "outcomes", "decisions", "deadletter")] == [
        "shop1.orders", "shop1.returns", "shop1.outcomes", "out.decided", "shop1.deadletter"]
    assert c.stream_subjects == ["shop1.>", "out.decided"]
    assert BusConfig().name("orders") == "triage.orders"


def test_a_bad_setting_is_one_error_naming_it():
    with pytest.raises(ConfigError, match="bus setting prefix: a subject/queue name"):
        bus_config(prefix="has space")
    with pytest.raises(ConfigError, match="must differ"):
        bus_config(orders="x.same", returns="x.same")
    with pytest.raises(ConfigError, match="batch_max"):
        bus_config(batch_max=50, max_in_flight=10)


def test_the_broker_is_chosen_by_the_url_scheme():
    assert scheme_of("nats://127.0.0.1:4222") == "nats"
    assert scheme_of("amqp://guest:guest@127.0.0.1:5672/") == "amqp"
    with pytest.raises(ConfigError, match="nats://… or amqp://"):
        scheme_of("http://127.0.0.1:8000")


@pytest.fixture
def restore_logging():
    """`consume` configures the process's logging as the API does: undo it for the next tests."""
    import logging

    saved = {n: (lg.handlers[:], lg.level, lg.propagate)
             for n in ("triage", "api", "uvicorn", "uvicorn.error") for lg in [logging.getLogger(n)]}
    yield
    for n, (handlers, level, propagate) in saved.items():
        lg = logging.getLogger(n)
        lg.handlers[:], lg.level, lg.propagate = handlers, level, propagate


def test_an_unreachable_broker_is_one_line_not_a_traceback(tmp_path, capsys, monkeypatch, restore_logging):
    monkeypatch.setenv("TRIAGE_HOME", str(tmp_path / "home"))
    (tmp_path / "b").mkdir()
    monkeypatch.setenv("TRIAGE_BUNDLE_DIR", str(tmp_path / "b"))
    from triage.settings import get_settings

    get_settings.cache_clear()
    try:
        assert main(["consume", "--broker", "amqp://guest:guest@127.0.0.1:1/", "--metrics-port", "0"]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: RabbitMQ at amqp://guest@127.0.0.1:1/ cannot be reached")
        assert main(["consume", "--broker", "kafka://x"]) == 1
        assert "nats://… or amqp://" in capsys.readouterr().err
        with pytest.raises(UnavailableError, match="NATS at nats://127.0.0.1:1 cannot be reached"):
            consume(get_settings(), "nats://127.0.0.1:1", BusConfig(metrics_port=0))
    finally:
        get_settings.cache_clear()
