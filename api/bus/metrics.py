"""The consumer's own Prometheus metrics, served on `/metrics` at `metrics_port`.

Consumed, decided, replayed, outcomes, dead-lettered (by reason), retried; the lag (messages
waiting on the broker per input), messages in flight; the decide time per message (fetch to
audit commit) as a histogram and, for a glance, its p99 over the last 2,048 messages.
"""

from __future__ import annotations

import threading
from collections import deque

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

__all__ = ["BusMetrics"]

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
_WINDOW = 2048


class BusMetrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry(auto_describe=True)
        self.consumed = Counter("triage_bus_consumed", "Messages received, by input", ["source"], registry=r)
        self.decided = Counter("triage_bus_decided", "New decisions made and published, by kind", ["kind"], registry=r)
        self.replayed = Counter("triage_bus_replayed", "Redelivered events answered with the stored decision",
                                ["kind"], registry=r)
        self.outcomes = Counter("triage_bus_outcomes", "Outcomes recorded", ["type"], registry=r)
        self.dead_lettered = Counter("triage_bus_dead_lettered", "Messages sent to the dead letter, by reason",
                                     ["reason"], registry=r)
        self.retried = Counter("triage_bus_retried", "Messages handed back to the broker (store or broker "
                               "unavailable)", ["source"], registry=r)
        self.lag = Gauge("triage_bus_lag", "Messages waiting on the broker, by input", ["source"], registry=r)
        self.in_flight = Gauge("triage_bus_in_flight", "Messages received and not yet acknowledged", registry=r)
        self.batch_size = Histogram("triage_bus_batch_size", "Messages decided together",
                                    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256), registry=r)
        self.decide_seconds = Histogram("triage_bus_decide_seconds",
                                        "Per message: received to audited (features, models, policy, audit commit)",
                                        buckets=_BUCKETS, registry=r)
        self.decide_p99 = Gauge("triage_bus_decide_seconds_p99",
                                f"p99 of triage_bus_decide_seconds over the last {_WINDOW} messages", registry=r)
        self._recent: deque[float] = deque(maxlen=_WINDOW)
        self._lock = threading.Lock()
        self.decide_p99.set_function(self.p99)

    def observe_decide(self, seconds: float, n: int) -> None:
        for _ in range(n):
            self.decide_seconds.observe(seconds)
        with self._lock:
            self._recent.extend([seconds] * n)

    def p99(self) -> float:
        with self._lock:
            values = sorted(self._recent)
        if not values:
            return 0.0
        return values[min(len(values) - 1, int(0.99 * len(values)))]

    def serve(self, host: str, port: int) -> None:
        """Start the `/metrics` HTTP server on a daemon thread."""
        start_http_server(port, addr=host, registry=self.registry)
