"""A small closed-loop load for the fault tests: threads deciding distinct orders over HTTP.

Each thread posts new orders; a 503 (or a connection error: the service itself may be
gone) is retried with the SAME body, as a client that keeps its idempotency key would, so
an acknowledged decision is the one the audit store holds. What it records: every
acknowledged decision (event id → decision id, and when), every status seen, and 503s
that came without `Retry-After`.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from typing import Any

import httpx

from tests.api.conftest import order_body

__all__ = ["Load"]


class Load:
    def __init__(self, base: str, key: str, *, threads: int = 3, customer: str | None = None,
                 path: str = "/v1/orders/decisions") -> None:
        self.base, self.key, self.path = base, key, path
        self.customer = customer or f"c-{uuid.uuid4().hex[:8]}"
        self.acked: dict[str, str] = {}  # order id -> decision id
        self.acked_at: list[float] = []  # monotonic time of each acknowledgement
        self.degraded: dict[str, bool] = {}
        self.statuses: Counter[int | str] = Counter()
        self.no_retry_after = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=30)

    def acks_after(self, t: float) -> int:
        with self._lock:
            return sum(1 for a in self.acked_at if a >= t)

    def first_ack_after(self, t: float) -> float | None:
        with self._lock:
            later = [a for a in self.acked_at if a >= t]
        return min(later) if later else None

    def _run(self) -> None:
        with httpx.Client(base_url=self.base, headers={"X-API-Key": self.key}, timeout=10) as client:
            while not self._stop.is_set():
                body = order_body(customer_id=self.customer)
                while not self._stop.is_set():
                    status: Any
                    try:
                        r = client.post(self.path, json=body)
                        status = r.status_code
                    except httpx.TransportError:
                        status = "no answer"
                        r = None
                    with self._lock:
                        self.statuses[status] += 1
                        if status == 503 and r is not None and "Retry-After" not in r.headers:
                            self.no_retry_after += 1
                    if status == 200 and r is not None:
                        got = r.json()
                        with self._lock:
                            self.acked[body["order_id"]] = got["decision_id"]
                            self.degraded[body["order_id"]] = bool(got.get("degraded"))
                            self.acked_at.append(time.monotonic())
                        break
                    if status not in (503, "no answer"):
                        break  # anything else is counted and not retried
                    time.sleep(0.05)
