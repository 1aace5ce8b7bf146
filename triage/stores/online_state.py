"""One worker's online state (`OnlineState`): in-memory indexes kept current from the shared log.

See `triage.stores.online` for the whole design: the log (`triage.stores.online_log`), the
indexes (`triage.stores.online_index`), building from a snapshot and recovering from the
audit (`triage.stores.online_load`).
"""

from __future__ import annotations

import ctypes
import gc
import logging
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime
from typing import Any

from features import batch, scalar
from features.online import _OPTIONAL_OUTCOMES, OnlineFeatures, _plain
from features.overlay import BatchOverlay, LayeredStore
from features.scalar import is_null
from triage.errors import UnavailableError
from triage.events import logs_outcome
from triage.stores import plain
from triage.stores.online_index import IndexedStore
from triage.stores.online_log import OnlineLog, dump_entry, load_entry

__all__ = ["OnlineState", "ONLINE_KINDS"]

log = logging.getLogger("triage.online")

_ORDER_KEYS = ("lines", "customer")
_PRESENT = frozenset(_OPTIONAL_OUTCOMES)
# From this many orders on, the column-wise batch path is cheaper than the per-event one
# (numpy's fixed cost per call: measured 2.3 ms for 1 order vs 0.6 ms per event, even at 4,
# 0.3 vs 0.4 ms from 8 on).
_BULK_FROM = 4
# API outcome type → the online state's outcome kind (see features.online.observe_outcome)
ONLINE_KINDS = {
    "delivery": "fulfillment",
    "cancellation": "fulfillment",
    "chargeback": "fraud",
    "review": "fraud",
    "inspection": "return_outcome",
    "inventory_sync": "inventory_sync",
}


class OnlineState:
    """The online feature state as the decision core uses it (`triage.decision.interfaces.OnlineStateProtocol`).

    `log`: a `SqliteLog` / `RedisLog` (None: no online store, every decision degraded).
    Thread-safe: one lock per process serialises applying the log and reading the indexes
    (each costs well under a millisecond).
    """

    def __init__(self, log_: OnlineLog | None, *, retry_after_s: float = 1.0, problem: str | None = None) -> None:
        self.log = log_
        self.retry_after_s = retry_after_s
        self._down_until = 0.0
        self._problem = problem
        self._lock = threading.RLock()  # the indexes: applying the log, computing features
        self._write_lock = threading.Lock()  # one log writer per process (no SQLite busy-handler sleeps)
        self.store = IndexedStore()
        self.online = OnlineFeatures(self.store, present=_PRESENT)
        self._seq: Any = None  # last applied log position; None: not built yet
        self._epoch: str | None = None
        self.applied = 0  # log entries applied (for tests and the benchmark)
        self.lagging = False  # an append failed: the audit has events the log lacks (api.recovery)
        self.lag_marks = 0  # how many appends failed so far (a catch-up clears `lagging` only if none since)
        self.overlaid = 0  # order batches read through an overlay instead of scratch (features_many)
        self.bootstrap_problem: str | None = None  # why the start-up bootstrap failed (for /readyz)

    @property
    def _log(self) -> OnlineLog:
        """The log, for the paths that `_check` (or a caller's) has let through."""
        if self.log is None:
            raise UnavailableError(self._problem or "no online store")
        return self.log

    # -- health ------------------------------------------------------------------------
    def describe(self) -> str:
        return self.log.url_for_humans() if self.log is not None else "none"

    def close(self) -> None:
        if self.log is not None:
            self.log.close()

    def _fail(self, exc: BaseException) -> None:
        self._problem = f"online store {self.describe()} failed: {type(exc).__name__}: {exc}"
        self._down_until = time.monotonic() + self.retry_after_s

    def _check(self) -> None:
        if self.log is None:
            raise UnavailableError(self._problem or "no online store")
        if time.monotonic() < self._down_until:
            raise UnavailableError(self._problem or "online store down")

    def _lag(self) -> None:
        self.lag_marks += 1
        self.lagging = True

    def ping(self) -> None:
        """Raise `UnavailableError` when the log does not answer (for /readyz)."""
        if self.log is None:
            raise UnavailableError(self._problem or "no online store")
        try:
            self.log.ping()
        except Exception as exc:
            self._fail(exc)
            raise UnavailableError(self._problem or "online store down") from exc
        self._down_until = 0.0

    @contextmanager
    def _guard(self) -> Iterator[None]:
        self._check()
        try:
            yield
        except UnavailableError:
            raise
        except (ConnectionError, OSError, TimeoutError) as exc:
            self._fail(exc)
            raise
        except Exception as exc:
            if _is_connection_error(exc):
                self._fail(exc)
            raise

    # -- the log -----------------------------------------------------------------------
    def _rebuild(self) -> None:
        """Fresh indexes from the snapshot (if any); the log is then applied from its start."""
        store = IndexedStore()
        online = OnlineFeatures(store, present=_PRESENT)
        snap = self._log.get_snapshot()
        epoch = None
        if snap is not None:
            meta, body = snap
            online.bootstrap(plain.loads_dataset(body))
            online.present = frozenset(online.present | _PRESENT)
            epoch = meta.get("epoch")
        self.store, self.online, self._epoch = store, online, epoch
        store.compact()  # the records' arenas to their live size (re-filed orders leave garbage)
        # The indexes are ~400k long-lived objects: a full (generation 2) garbage collection
        # walks them all — ~100 ms measured, a stall of every request in flight. Frozen
        # objects are never scanned again (they are still freed by reference counting), so
        # the bootstrap's garbage in reference cycles (the dataset's frames) is collected first.
        gc.collect()
        gc.freeze()
        _release_freed_memory()
        self._seq = self._log.start()

    def sync(self) -> None:
        """Apply the log entries this worker has not applied yet (caller holds the lock)."""
        if self._seq is None:
            self._rebuild()
        while True:
            entries = self._log.read(self._seq)
            for seq, body in entries:
                try:
                    entry = load_entry(body)
                except Exception:  # noqa: BLE001 - every worker skips it alike
                    log.exception("online log entry unreadable; skipped", extra={"seq": str(seq)})
                    self._seq = seq
                    continue
                if entry[0] == "reset" and entry[1] != self._epoch:
                    self._rebuild()  # a new snapshot: start again from it and the log after it
                    break
                self._apply_entry(seq, entry)
            else:
                if len(entries) < 5000:
                    return

    def _apply_entry(self, seq: Any, entry: Any) -> None:
        if entry[0] != "reset":
            try:
                self._apply(entry)
            except Exception:  # every worker skips the same bad entry: the states stay equal
                log.exception("online log entry could not be applied; skipped", extra={"seq": str(seq)})
        self._seq = seq
        self.applied += 1

    def _apply(self, entry: Any) -> None:
        online = self.online
        what = entry[0]
        if what == "order":
            event = entry[1]
            customer = event.get("customer")
            if isinstance(customer, Mapping):
                online.observe_master("customers", customer)
            order = _order_row(event)
            lines = [{**line, "order_id": order["order_id"]} for line in event.get("lines") or []]
            online.observe_order(order, lines)
        elif what == "return":
            online.observe_return(entry[1])
        elif what == "outcome":
            type_, row = entry[1], entry[2]
            kind = ONLINE_KINDS.get(type_, type_)
            body = {k: v for k, v in row.items() if k != "type"}
            if kind == "fulfillment":
                body = self._merged_fulfillment(type_, body)
            online.observe_outcome(kind, body)
        elif what == "dataset":
            online.bootstrap(entry[1])
            online.present = frozenset(online.present | _PRESENT)
        else:
            raise ValueError(f"unknown online log entry {what!r}")

    def _append(self, entries: Sequence[tuple]) -> None:
        bodies = [dump_entry(e) for e in entries]
        with self._lock:
            try:
                with self._write_lock:  # one writer per process: SQLite's busy handler would sleep on contention
                    seqs = self._log.append(bodies)
            except BaseException:
                self._lag()
                raise
            if self._seq is not None and len(seqs) == 1 and self._log.follows(seqs[0], self._seq):
                self._apply_entry(seqs[0], load_entry(bodies[0]))  # nobody appended in between: as read back
            else:
                self.sync()

    def _merged_fulfillment(self, type_: str, body: dict[str, Any]) -> dict[str, Any]:
        """Shipping, delivery and cancellation may arrive as separate posts, in any order:
        the order's fulfillment row is their union (a later post never erases a time)."""
        oid = str(body["order_id"])
        store = self.online.store
        old = store.get_record("_fulfillment_posts", oid) or {}
        row = {"order_id": oid, "shipped_at": None, "delivered_at": None, "cancelled": False, "cancelled_at": None}
        for src in (old, body):
            for f in ("shipped_at", "delivered_at", "cancelled_at"):
                if not is_null(src.get(f)):
                    row[f] = _iso(src[f])
            cancelled = src.get("cancelled")
            row["cancelled"] = bool(row["cancelled"] or (not is_null(cancelled) and bool(cancelled))
                                    or (src is body and type_ == "cancellation"))
        store.put_record("_fulfillment_posts", oid, row)
        return row

    # -- the service's calls -------------------------------------------------------------
    def features(self, kind: str, event: Mapping[str, Any]) -> dict[str, Any]:
        """The event's features as of its own time (created_at / requested_at)."""
        return self.features_many(kind, [event])[0]

    def features_many(self, kind: str, events: Sequence[Mapping[str, Any]], *,
                      concurrent: bool = False) -> list[dict[str, Any]]:
        """Each event's features as of its own time, as if the batch's events had been decided
        one by one in event-time order: an event sees the batch's events strictly before it
        (never one at its own time), exactly as offline.

        `concurrent=True`: the events are independent requests that arrived together (the
        coalescer, `triage.decision.coalesce`), not one caller's batch: each sees the state as it is,
        not the others — exactly what each would see decided alone, since none of them is
        audited yet.

        How: under the lock, after the log catch-up, the batch's events are applied to this
        worker's indexes inside `IndexedStore.scratch()` (in event-time order, so records with
        "latest wins" end as one by one would leave them), every event's features are read
        (vectorised for orders) — the indexes are keyed by event time, so an event's windows
        [lower, t) hold exactly the batch's events before t — and the changes are undone
        before the lock is released. Nobody else ever sees an event that is not audited yet
        (it reaches the indexes through the log after its audit commit, as before), and a
        failed commit leaves nothing to roll back. A batch of orders the state has never seen
        skips the scratch: their entries are laid over the window reads instead
        (`features.overlay`, exact to float tolerance; any other batch takes the scratch
        path). An order without its own `customer` whose
        customer's record another item of the batch carries gets the record one by one would
        have used (the latest such item before it, else the stored one)."""
        with self._guard(), self._lock:
            self.sync()
            if len(events) < 2 or concurrent:
                return self._features(kind, events, None)
            time_field = "created_at" if kind == "order" else "requested_at"
            order = sorted(range(len(events)), key=lambda i: _time_key(events[i].get(time_field)))
            customers = self._batch_customers(events, order) if kind == "order" else None
            rows_lines = _order_rows(events) if kind == "order" else None
            if rows_lines is not None:  # new orders: their entries as an overlay on the reads, no scratch
                rows, lines = rows_lines
                overlay = BatchOverlay.build(self.online, rows, lines)
                if overlay is not None:
                    self.overlaid += 1
                    view = _View(LayeredStore(self.store, overlay), self.online.present)
                    return batch.order_values_many(view, rows, lines, customers)
            with self.store.scratch():
                for i in order:
                    try:
                        self._apply((kind, dict(events[i])))
                    except Exception:  # as `sync` will skip it: the others still see the rest
                        log.exception("batch event could not be applied for its successors",
                                      extra={"kind": kind})
                return self._features(kind, events, customers, rows_lines)

    def _batch_customers(self, events: Sequence[Mapping[str, Any]],
                         order: Sequence[int]) -> list[Mapping[str, Any] | None]:
        """Each order's customer record: its own, else — when another order of the batch carries
        a record for its customer — the record decided one by one in `order` would have seen."""
        own = [e.get("customer") if isinstance(e.get("customer"), Mapping) else None for e in events]
        carried = {str(e.get("customer_id")) for e, c in zip(events, own, strict=True) if c is not None}
        out: list[Mapping[str, Any] | None] = [_plain(c) if c is not None else None for c in own]
        if not carried:
            return out
        latest: dict[str, Mapping[str, Any]] = {}
        for i in order:
            cid = str(events[i].get("customer_id"))
            if own[i] is not None:
                latest[cid] = out[i]  # type: ignore[assignment]
            elif cid in carried:
                if cid not in latest:
                    latest[cid] = self.store.get_record("customers", cid) or {}
                out[i] = latest[cid]
        return out

    def _features(self, kind: str, events: Sequence[Mapping[str, Any]],
                  customers: Sequence[Mapping[str, Any] | None] | None,
                  rows_lines: tuple[list[dict[str, Any]], list[list[dict[str, Any]]]] | None = None,
                  ) -> list[dict[str, Any]]:
        """The events' features against the indexes as they are (caller holds the lock);
        `rows_lines`: the orders' `_order_rows`, when the caller made them already."""
        online = self.online
        if kind == "order":
            if customers is None:
                customers = [_plain(c) if isinstance((c := e.get("customer")), Mapping) else None for e in events]
            rows, lines = rows_lines if rows_lines is not None else _order_rows(events)
            if len(events) >= _BULK_FROM:  # many at once: the windows read per index, numpy columns
                return batch.order_values_many(online, rows, lines, customers)
            return [scalar.order_values(online, r, ls, c) for r, ls, c in zip(rows, lines, customers, strict=True)]
        return [scalar.return_values(online, _plain(event)) for event in events]

    def observe(self, kind: str, event: Mapping[str, Any]) -> None:
        """Add a decided event to the history (re-observing the same id replaces it)."""
        self.observe_many(kind, [event])

    def observe_many(self, kind: str, events: Sequence[Mapping[str, Any]]) -> None:
        """Add decided events to the history: one log append, then applied here."""
        if not events:
            return
        with self._guard():
            self._append([(kind, dict(e)) for e in events])

    def append_many(self, kind: str, events: Sequence[Mapping[str, Any]]) -> None:
        """Add decided events to the shared log (one append), NOT to this worker's indexes yet.

        Every worker, this one included, applies them at its next `sync` — i.e. before it
        computes any event's features — in log order. The service calls this on the audit
        writer thread, after the decisions are durable and before they are answered: a
        caller that got an answer finds the event in every worker's next decision, while
        the ~0.1–0.2 ms of index updates per event leave the response path. Does not take
        the index lock, so it never waits for a feature computation."""
        if not events:
            return
        bodies = [dump_entry((kind, e)) for e in events]
        try:
            with self._guard(), self._write_lock:
                self._log.append(bodies)
        except BaseException:
            self._lag()  # audited, not logged: `recover_from_audit` once the log answers
            raise

    def observe_outcome(self, type_: str, row: Mapping[str, Any]) -> None:
        """Add a posted outcome (an API outcome `type`, or an online kind) to the history."""
        if not logs_outcome(type_, row):
            return  # a cleared review is not a fraud label; a return's review is no online history
        try:
            with self._guard():
                self._append([("outcome", type_, dict(row))])
        except BaseException:
            self._lag()
            raise


def _release_freed_memory() -> None:
    """Give the bootstrap's freed temporaries (its data frames: hundreds of MB at 1 M orders)
    back to the system: glibc's malloc keeps freed heap memory otherwise, and the worker's RSS
    stays as high as the bootstrap's peak (measured: 260 MB of 1.1 GB at 200 k orders). Arrow's
    own pool (mimalloc, reading the snapshot's tables) keeps its freed pages too: released
    first (measured: 75 MB at 200 k orders, ~400 MB per million)."""
    with suppress(Exception):  # no pyarrow pool to release: nothing to do
        import pyarrow as pa

        pa.default_memory_pool().release_unused()
    with suppress(OSError, AttributeError):  # not glibc: nothing to do
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _is_connection_error(exc: BaseException) -> bool:
    try:
        import redis

        if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
            return True
    except ImportError:  # pragma: no cover
        pass
    import sqlite3

    return isinstance(exc, sqlite3.OperationalError)


def _time_key(v: Any) -> int:
    """An event time as ns for ordering (unparseable: last; the event is skipped anyway)."""
    try:
        t = scalar.ns(v)
    except Exception:  # noqa: BLE001
        t = None
    return t if t is not None else 2**63 - 1


def _iso(v: Any) -> Any:
    return v.isoformat() if isinstance(v, datetime) else v


def _order_row(event: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k not in _ORDER_KEYS}


def _order_rows(events: Sequence[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], list[list[dict[str, Any]]]]:
    """Order events as the feature code reads them: plain order rows, and each one's plain lines."""
    return ([_plain(_order_row(e)) for e in events],
            [[_plain(x) for x in e.get("lines") or []] for e in events])


class _View:
    """What the feature code reads (`store`, `present`): here, the state under a batch overlay."""

    def __init__(self, store: Any, present: frozenset[str]) -> None:
        self.store, self.present = store, present
