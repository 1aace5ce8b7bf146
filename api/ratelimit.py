"""A request rate per API key (`rate_limit_per_second`, `rate_limit_burst`): 429 above it.

A token bucket per key name, per worker process: a key may make `burst` requests at once
and `rate` a second after that. The buckets live in an LRU cache (`cachetools`), so the
memory they take is bounded whatever the number of keys. With N workers the limit a key
meets overall is about N times the per-worker rate (each worker counts its own share of
the connections); the limit is a guard against one client starving the others, not a
quota to bill by.
"""

from __future__ import annotations

import threading
import time

from cachetools import LRUCache

from triage.errors import RateLimitedError

__all__ = ["RateLimiter"]


class RateLimiter:
    """`check(name)` raises `RateLimitedError` (with when to retry) once `name` is over its rate."""

    def __init__(self, rate_per_s: float, burst: int, *, max_keys: int = 10_000) -> None:
        if rate_per_s <= 0:
            raise ValueError("rate_per_s must be positive")
        self.rate = float(rate_per_s)
        self.burst = float(max(1, burst))
        self._buckets: LRUCache[str, list[float]] = LRUCache(max_keys)  # name -> [tokens, last refill]
        self._lock = threading.Lock()

    def check(self, name: str, *, now: float | None = None) -> None:
        t = time.monotonic() if now is None else now
        with self._lock:
            bucket = self._buckets.get(name)
            if bucket is None:
                bucket = self._buckets[name] = [self.burst, t]
            tokens = min(self.burst, bucket[0] + (t - bucket[1]) * self.rate)
            bucket[1] = t
            if tokens >= 1.0:
                bucket[0] = tokens - 1.0
                return
            bucket[0] = tokens
        wait = (1.0 - tokens) / self.rate
        raise RateLimitedError(
            f"API key {name!r} is above its rate of {self.rate:g} requests a second "
            f"(rate_limit_per_second, burst {int(self.burst)}); retry in {wait:.2f} s",
            retry_after_s=wait,
        )
