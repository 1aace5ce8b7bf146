"""The service's online state: which store, bootstrap, and what the decision core calls.

- `open_online_store(settings)`: Redis when `TRIAGE_REDIS_URL` is set, else SQLite at
  `<TRIAGE_HOME>/online.db` (works for several worker processes on one machine).
- `load_online(settings, folder)`: bootstrap the state from a contract folder — the
  function behind `triage online load DIR` and `triage serve --bootstrap DIR`.
- `OnlineState`: what `triage.service.DecisionService` calls — `features(kind, event)`
  as of the event's own time, `observe(kind, event)` after a decision is audited,
  `observe_outcome(type, row)` for a posted outcome. It keeps the state with
  `features.online.OnlineFeatures` (time-indexed, so out-of-order arrivals and retries
  cannot corrupt it) and computes features with the fast path `online_rows`.

An unreachable store makes `features()` raise (the service then decides rules-only,
`degraded`); after a failure, calls fail fast for `retry_after_s` instead of waiting
on a dead connection for every request.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from datetime import datetime
from pathlib import Path
from typing import Any

from features.online import _OPTIONAL_OUTCOMES, OnlineFeatures, OnlineStore
from triage.errors import UnavailableError
from triage.stores.online_rows import order_values, return_values

__all__ = ["OnlineState", "open_online_store", "open_online", "load_online", "ONLINE_KINDS"]

log = logging.getLogger("triage.online")

_ORDER_KEYS = ("lines", "customer")
# API outcome type → the online state's outcome kind (see features.online.observe_outcome)
ONLINE_KINDS = {
    "delivery": "fulfillment",
    "cancellation": "fulfillment",
    "chargeback": "fraud",
    "review": "fraud",
    "inspection": "return_outcome",
    "inventory_sync": "inventory_sync",
}


def open_online_store(settings: Any) -> OnlineStore:
    """The configured store: Redis by `redis_url`, else SQLite in `settings.home`."""
    if settings.redis_url:
        from triage.stores.online_redis import RedisOnlineStore

        return RedisOnlineStore(settings.redis_url, prefix=getattr(settings, "redis_prefix", "triage:"))
    from triage.stores.online_sqlite import SqliteOnlineStore

    return SqliteOnlineStore(Path(settings.home) / "online.db")


def _describe(store: Any) -> str:
    f = getattr(store, "url_for_humans", None)
    return f() if f else type(store).__name__


class OnlineState:
    """The online feature state as the decision core uses it (`triage.service.OnlineFeatures`)."""

    def __init__(self, store: OnlineStore | None, *, retry_after_s: float = 1.0, problem: str | None = None) -> None:
        self.store = store
        self.retry_after_s = retry_after_s
        self._down_until = 0.0
        self._problem = problem
        self._lock = threading.Lock()
        # The service takes every outcome type on /v1/outcomes: all outcome tables are present.
        self.online = OnlineFeatures(store, present=_OPTIONAL_OUTCOMES) if store is not None else None

    # -- health ------------------------------------------------------------------------
    def describe(self) -> str:
        return _describe(self.store) if self.store is not None else "none"

    def close(self) -> None:
        close = getattr(self.store, "close", None)
        if close is not None:
            close()

    def _fail(self, exc: BaseException) -> None:
        self._problem = f"online store {self.describe()} failed: {type(exc).__name__}: {exc}"
        self._down_until = time.monotonic() + self.retry_after_s

    def _check(self) -> OnlineFeatures:
        if self.online is None:
            raise UnavailableError(self._problem or "no online store")
        if time.monotonic() < self._down_until:
            raise UnavailableError(self._problem or "online store down")
        return self.online

    def ping(self) -> None:
        """Raise `UnavailableError` when the store does not answer (for /readyz)."""
        if self.store is None:
            raise UnavailableError(self._problem or "no online store")
        try:
            ping = getattr(self.store, "ping", None)
            if ping is not None:
                ping()
        except Exception as exc:
            self._fail(exc)
            raise UnavailableError(self._problem or "online store down") from exc
        self._down_until = 0.0

    @contextmanager
    def _guard(self) -> Iterator[OnlineFeatures]:
        online = self._check()
        try:
            yield online
        except UnavailableError:
            raise
        except (ConnectionError, OSError, TimeoutError) as exc:
            self._fail(exc)
            raise
        except Exception as exc:
            if _is_connection_error(exc):
                self._fail(exc)
            raise

    def _tx(self, online: OnlineFeatures) -> Any:
        tx = getattr(online.store, "transaction", None)
        return tx() if tx is not None else nullcontext()

    # -- the service's calls -------------------------------------------------------------
    def features(self, kind: str, event: Mapping[str, Any]) -> dict[str, Any]:
        """The event's features as of its own time (created_at / requested_at)."""
        with self._guard() as online:
            if kind == "order":
                customer = event.get("customer")
                return order_values(online, _order_row(event), event.get("lines") or [],
                                    dict(customer) if isinstance(customer, Mapping) else None)
            return return_values(online, event)

    def observe(self, kind: str, event: Mapping[str, Any]) -> None:
        """Add a decided event to the history (re-observing the same id replaces it)."""
        with self._guard() as online, self._tx(online):
            if kind == "order":
                customer = event.get("customer")
                if isinstance(customer, Mapping):
                    online.observe_master("customers", customer)
                order = _order_row(event)
                lines = [{**line, "order_id": order["order_id"]} for line in event.get("lines") or []]
                online.observe_order(order, lines)
            else:
                online.observe_return(event)

    def observe_outcome(self, type_: str, row: Mapping[str, Any]) -> None:
        """Add a posted outcome (an API outcome `type`, or an online kind) to the history."""
        kind = ONLINE_KINDS.get(type_, type_)
        if type_ == "review" and not row.get("confirmed", True):
            return  # a cleared review is not a fraud label
        with self._guard() as online, self._tx(online):
            body = {k: v for k, v in row.items() if k != "type"}
            if kind == "fulfillment":
                body = self._merged_fulfillment(online, type_, body)
            online.observe_outcome(kind, body)

    def _merged_fulfillment(self, online: OnlineFeatures, type_: str, body: dict[str, Any]) -> dict[str, Any]:
        """Shipping, delivery and cancellation may arrive as separate posts, in any order:
        the order's fulfillment row is their union (a later post never erases a time)."""
        oid = str(body["order_id"])
        old = online.store.get_record("_fulfillment_posts", oid) or {}
        row = {"order_id": oid, "shipped_at": None, "delivered_at": None, "cancelled": False, "cancelled_at": None}
        for src in (old, body):
            for f in ("shipped_at", "delivered_at", "cancelled_at"):
                if src.get(f) is not None:
                    row[f] = _iso(src[f])
            row["cancelled"] = bool(row["cancelled"] or src.get("cancelled") or (src is body and type_ == "cancellation"))
        online.store.put_record("_fulfillment_posts", oid, row)
        return row


def _is_connection_error(exc: BaseException) -> bool:
    try:
        import redis

        if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
            return True
    except ImportError:  # pragma: no cover
        pass
    import sqlite3

    return isinstance(exc, sqlite3.OperationalError)


def _iso(v: Any) -> Any:
    return v.isoformat() if isinstance(v, datetime) else v


def _order_row(event: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k not in _ORDER_KEYS}


def open_online(settings: Any) -> OnlineState:
    """The service's online state from settings; never raises (an unreachable store degrades)."""
    try:
        store = open_online_store(settings)
    except Exception as exc:  # noqa: BLE001
        log.error("online store cannot be opened; decisions are rules-only", extra={"reason": str(exc)})
        return OnlineState(None, problem=f"online store cannot be opened: {type(exc).__name__}: {exc}")
    state = OnlineState(store)
    if settings.bootstrap_dir is not None and state.online is not None:
        try:
            ensure_loaded(settings, settings.bootstrap_dir, store=store)
        except Exception:
            log.exception("online bootstrap failed", extra={"folder": str(settings.bootstrap_dir)})
    return state


# ------------------------------------------------------------------------------ bootstrap


def _fingerprint(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.iterdir()):
        if p.is_file() and p.suffix in (".csv", ".parquet"):
            st = p.stat()
            h.update(f"{p.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def load_online(settings: Any, folder: str | Path, *, store: OnlineStore | None = None,
                replace: bool = True) -> dict[str, Any]:
    """Bootstrap the online state from a contract folder (`triage online load DIR`).

    Loads and validates the folder, then fills the state in bulk from the same streams
    the offline pipeline reads. `replace=True` first forgets the previous state (the
    folder is the history); `replace=False` adds to it (same ids replace, never double).
    Returns a summary: rows per table, the store, seconds.
    """
    from triage.contract import load_dataset

    t0 = time.perf_counter()
    folder = Path(folder)
    ds = load_dataset(folder)
    owned = store is None
    st = store if store is not None else open_online_store(settings)
    try:
        if replace and hasattr(st, "clear"):
            st.clear()
        online = OnlineFeatures(st)
        tx = getattr(st, "transaction", None)
        with tx() if tx is not None else nullcontext():
            online.bootstrap(ds)
            st.put_record("_meta", "bootstrap", {"folder": str(folder.resolve()), "fingerprint": _fingerprint(folder)})
    finally:
        if owned and hasattr(st, "close"):
            st.close()
    return {
        "store": _describe(st),
        "rows": {t: int(len(ds[t])) for t in sorted(ds.present)},
        "seconds": round(time.perf_counter() - t0, 2),
    }


def ensure_loaded(settings: Any, folder: str | Path, *, store: OnlineStore) -> bool:
    """Bootstrap from `folder` unless this very folder (same files) was loaded already.

    Several workers starting together may both load; loading is idempotent."""
    folder = Path(folder)
    done = store.get_record("_meta", "bootstrap") or {}
    if done.get("folder") == str(folder.resolve()) and done.get("fingerprint") == _fingerprint(folder):
        return False
    summary = load_online(settings, folder, store=store)
    log.info("online state bootstrapped", extra=summary)
    return True
