"""`consume(settings, url, config)`: the `triage consume` process, from start to drained.

Opens what the API opens — the audit store, the online state, the policy and the models
(`triage.decision.model_loading.load_services`) — so a consumer beside the API shares its stores,
then the broker, then the `/metrics` server, and consumes until SIGTERM or SIGINT: each
input finishes the batch in hand (decided, published, acked), the connections close, and
the process exits 0. A second signal stops at once (what was not acked is redelivered).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys

from api.bus.broker import Broker, safe_url, scheme_of
from api.bus.config import SOURCES, BusConfig
from api.bus.consumer import Consumer
from api.bus.metrics import BusMetrics
from triage.errors import ConfigError, TriageError, UnavailableError
from triage.settings import Settings

__all__ = ["consume", "open_broker"]

log = logging.getLogger("triage.bus")


def consume(settings: Settings, url: str, config: BusConfig, *, fault: str | None = None) -> int:
    """Run the consumer; returns the exit status (0 after a clean drain). Raises `TriageError`
    (one line for the CLI) when the stores, the policy or the broker cannot be opened."""
    from api.bus.consumer import FAULTS
    from api.logs import configure_logging

    if fault is not None and fault not in FAULTS:
        raise ConfigError(f"--fault must be one of {', '.join(FAULTS)}; got {fault!r}")
    scheme_of(url)  # a wrong URL fails before anything is opened
    configure_logging()  # JSON lines on stderr, as the API's
    return asyncio.run(_main(settings, url, config, fault))


async def _main(settings: Settings, url: str, config: BusConfig, fault: str | None) -> int:
    from triage.decision.model_loading import load_services
    from triage.stores import open_store
    from triage.stores.online import open_online

    store = open_store(settings.audit_url)
    online = None
    broker = None
    try:
        online = open_online(settings)
        services = load_services(settings, online=online)
        broker = open_broker(url, config)
        await broker.start()
        metrics = BusMetrics()
        if config.metrics_port:
            metrics.serve(config.metrics_host, config.metrics_port)
        stop = asyncio.Event()
        main = asyncio.current_task()
        loop = asyncio.get_running_loop()

        def on_signal() -> None:
            if stop.is_set() and main is not None:
                main.cancel()  # second signal: stop now
            stop.set()

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal)
        ins = ", ".join(config.name(s) for s in SOURCES)
        where = f"; metrics on http://{config.metrics_host}:{config.metrics_port}/metrics" if config.metrics_port else ""
        print(f"triage consume: ready; {ins} from {safe_url(url)} → {config.name('decisions')} "
              f"(dead letter {config.name('deadletter')}); policy {services.policy_version}, "
              f"models {services.model_versions() or 'none'}{where}", flush=True)
        consumer = Consumer(broker, services, store, config, metrics, fault=fault)
        try:
            await consumer.run(stop)
        except asyncio.CancelledError:
            print("triage consume: stopped by a second signal; unacknowledged messages will be redelivered",
                  file=sys.stderr, flush=True)
            return 130
        except TriageError:
            raise
        except Exception as exc:  # a broker connection lost mid-ack, say: one line, and the broker redelivers
            log.exception("the consumer stopped on an error")
            raise UnavailableError(f"the consumer stopped: {type(exc).__name__}: {exc}; unacknowledged messages "
                                   "will be redelivered") from exc
        print(f"triage consume: drained; {_summary(metrics)}", flush=True)
        return 0
    finally:
        if broker is not None:
            with contextlib.suppress(Exception):
                await broker.close()
        if online is not None:
            with contextlib.suppress(Exception):
                online.close()
        store.close()


def _summary(m: BusMetrics) -> str:
    def total(counter) -> int:
        return int(sum(s.value for metric in counter.collect() for s in metric.samples if s.name.endswith("_total")))

    return (f"{total(m.consumed)} consumed, {total(m.decided)} decided, {total(m.replayed)} replayed, "
            f"{total(m.outcomes)} outcomes, {total(m.dead_lettered)} dead-lettered, {total(m.retried)} retried")


def open_broker(url: str, config: BusConfig) -> Broker:
    """The adapter for the URL's scheme (not yet connected: `await broker.start()`)."""
    if scheme_of(url) == "nats":
        from api.bus.nats import NatsBroker

        return NatsBroker(url, config)
    from api.bus.rabbitmq import RabbitBroker

    return RabbitBroker(url, config)
