"""Prometheus metrics: requests by route and status, latencies, decisions, degraded, versions.

Each app gets its own registry (tests build many apps). The labelled children a request
touches are kept by label values (`labels()` takes a lock and builds the key each call;
the label sets are small: routes × statuses, kinds × actions). With several uvicorn workers,
`PROMETHEUS_MULTIPROC_DIR` is set by `run_server` and `/metrics` aggregates every
worker's files.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

__all__ = ["Metrics", "CONTENT_TYPE_LATEST", "scrape_gauges", "SCRAPE_GAUGES"]

# Gauges computed when /metrics is scraped (not kept per worker): the audit store answering,
# and what the last `triage monitor` run found (its `summary.json`).
SCRAPE_GAUGES = {
    "triage_audit_store_up": "1 when the audit store answers a ping at scrape time, else 0",
    "triage_drift_alert": "1 when the last `triage monitor` run raised an alert for the model, else 0",
    "triage_monitor_last_run_timestamp_seconds": "when the last `triage monitor` summary was written",
    "triage_exception_queue_open": "open exceptions (reviews, verifications, expedites…) at the last monitor run",
}

_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "triage_http_requests",
            "HTTP requests by route and status",
            ["method", "route", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "triage_http_request_duration_seconds",
            "HTTP request latency by route and status",
            ["method", "route", "status"],
            buckets=_BUCKETS,
            registry=r,
        )
        self.decisions = Counter(
            "triage_decisions", "Decisions made, by event kind and action", ["kind", "action"], registry=r
        )
        self.degraded = Counter(
            "triage_degraded_decisions", "Rules-only (degraded) decisions", ["kind"], registry=r
        )
        self.replays = Counter(
            "triage_idempotent_replays", "Stored decisions returned for retries", ["kind"], registry=r
        )
        self.group_size = Histogram(
            "triage_decision_group_size",
            "Single decisions decided together by the coalescer (triage.decision.coalesce), per group",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128),
            registry=r,
        )
        self.model_info = Gauge(
            "triage_model_info",
            "Loaded model and policy versions (value 1)",
            ["name", "version"],
            registry=r,
            multiprocess_mode="max",
        )
        self._request_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._decision_children: dict[tuple[str, str], Any] = {}

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        children = self._request_children.get((method, route, status))
        if children is None:
            s = str(status)
            children = self.requests.labels(method, route, s), self.latency.labels(method, route, s)
            self._request_children[(method, route, status)] = children
        children[0].inc()
        children[1].observe(seconds)

    def observe_decision(self, kind: str, actions: Iterable[str], degraded: bool) -> None:
        for a in actions:
            child = self._decision_children.get((kind, a))
            if child is None:
                child = self._decision_children[(kind, a)] = self.decisions.labels(kind, a)
            child.inc()
        if degraded:
            self.degraded.labels(kind).inc()

    def set_versions(self, policy_version: str, models: Mapping[str, str]) -> None:
        self.model_info.clear()
        self.model_info.labels("policy", policy_version).set(1)
        for name, version in models.items():
            self.model_info.labels(name, version).set(1)

    def render(self, extra: bytes = b"") -> bytes:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import multiprocess

            reg = CollectorRegistry()
            multiprocess.MultiProcessCollector(reg)
            return generate_latest(reg) + extra
        return generate_latest(self.registry) + extra


def scrape_gauges(ping: Callable[[], Any] | None, monitor_summary: Path) -> bytes:
    """The scrape-time gauges as exposition text: audit store up, and the last monitor run's findings."""
    import json

    r = CollectorRegistry()
    up = Gauge("triage_audit_store_up", SCRAPE_GAUGES["triage_audit_store_up"], registry=r)
    try:
        if ping is None:
            raise RuntimeError("no audit store")
        ping()
        up.set(1)
    except Exception:  # any failure to answer is "down"; readyz names the reason
        up.set(0)
    try:
        summary = json.loads(monitor_summary.read_text())
        written = monitor_summary.stat().st_mtime
    except (OSError, ValueError):
        return generate_latest(r)
    drift = Gauge("triage_drift_alert", SCRAPE_GAUGES["triage_drift_alert"], ["model"], registry=r)
    for m in summary.get("models", []):
        drift.labels(str(m.get("model"))).set(1 if m.get("alerts") else 0)
    Gauge("triage_monitor_last_run_timestamp_seconds", SCRAPE_GAUGES["triage_monitor_last_run_timestamp_seconds"],
          registry=r).set(written)
    Gauge("triage_exception_queue_open", SCRAPE_GAUGES["triage_exception_queue_open"], registry=r).set(
        float((summary.get("exceptions") or {}).get("exceptions", 0))
    )
    return generate_latest(r)
