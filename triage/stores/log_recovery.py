"""Start-up recovery: what the audit store committed but the online-state log never received.

A decided event is committed to the audit store, then appended to the online log (another
database) on the audit writer thread; an outcome likewise. A crash, or a log that failed,
between the two leaves an event the audit has and the online history lacks — later events'
features would miss it (train/serve skew). No transaction spans the two databases, so:

- every audit row is inserted with `online_pending` set (same statement: nothing more on
  the hot path);
- at service start, before the first decision (`triage.stores.online.open_online`), the
  pending rows are matched against the log entries appended since the last recovery (the
  log position then is a checkpoint in the audit's `meta`); rows the log lacks are
  re-appended in audit order, then all are cleared. Re-appending is idempotent for the
  features: the online state replaces by event id, and a row found in the log is never
  appended again.

A row is matched by its body: the log entry's JSON form (`triage.records.jsonable`)
equals what the audit stored. Rows received before the log's current snapshot was loaded
are superseded by it (the snapshot is the history) and only cleared. A row another live
worker committed moments ago may not be in the log yet: when a missing row is recent, the
log is read again after `settle_s` before it is re-appended.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from triage.events import logs_outcome
from triage.records import jsonable
from triage.stores import plain
from triage.stores.online_log import OnlineLog
from triage.stores.records import PendingRow
from triage.stores.store import Store

__all__ = ["recover_log", "CHECKPOINT_KEY"]

log = logging.getLogger("triage.online")

CHECKPOINT_KEY = "online_log_checkpoint"
_JSON_OPTS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


def _digest(tag: str, plain: Any) -> tuple[str, bytes]:
    """A body's identity from its JSON form: the same for the log's event and the audit's JSON."""
    raw = orjson.dumps(plain, default=str, option=_JSON_OPTS)
    return tag, hashlib.blake2b(raw, digest_size=16).digest()


def _entry_digest(entry: tuple) -> tuple[str, bytes] | None:
    if entry[0] in ("order", "return"):
        return _digest(entry[0], jsonable(entry[1]))
    if entry[0] == "outcome":
        return _digest(f"outcome:{entry[1]}", jsonable(entry[2]))
    return None  # reset / dataset entries carry no audited row


def _row_digest(row: PendingRow) -> tuple[str, bytes]:
    """The audited body is the JSON form already (`jsonable`, stored and read back)."""
    return _digest(row.kind if row.table == "decisions" else f"outcome:{row.kind}", row.body)


def _row_entry(row: PendingRow) -> tuple:
    if row.table == "decisions":
        return (row.kind, row.body)
    return ("outcome", row.kind, row.body)


class _LogIndex:
    """The digests of the log's entries after a position (read on demand)."""

    def __init__(self, log_: OnlineLog, after: Any, epoch: str | None) -> None:
        self.log, self.pos, self.epoch = log_, after, epoch
        self.seen: set[tuple[str, bytes]] = set()

    def catch_up(self) -> None:
        while True:
            entries = self.log.read(self.pos)
            for seq, body in entries:
                self.pos = seq
                if plain.is_dataset(body):
                    continue  # carries no audited row
                try:
                    entry = plain.loads(body)
                except Exception:  # noqa: BLE001 - workers skip it too
                    continue
                if entry[0] == "reset" and entry[1] != self.epoch:
                    raise RuntimeError("a new online snapshot was loaded during log recovery")
                d = _entry_digest(entry)
                if d is not None:
                    self.seen.add(d)
            if not entries:
                return


def _pending(store: Store, page: int) -> Iterator[PendingRow]:
    """Both tables' pending rows merged in audit order, a page at a time."""
    heads: dict[str, list[PendingRow]] = {t: store.pending_online(t, None, page) for t in ("decisions", "outcomes")}
    while True:
        live = [t for t, rows in heads.items() if rows]
        if not live:
            return
        t = min(live, key=lambda name: heads[name][0].order_key)
        row = heads[t].pop(0)
        yield row
        if not heads[t]:
            heads[t] = store.pending_online(t, (row.received_at, row.seq), page)


def _parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        t = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def recover_log(log_: OnlineLog, store: Store, *, settle_s: float = 1.0, recent_s: float = 60.0,
                page: int = 1000, chunk: int = 500) -> dict[str, Any]:
    """Re-append to `log_` what `store` audited and the log lacks; clear the pending marks.

    Returns counts: `pending` rows examined, `appended`, `superseded` (received before the
    snapshot), and `seconds`. Raises on a store or log failure (nothing is cleared then, so
    the next start tries again)."""
    t0 = time.perf_counter()
    meta = log_.get_meta() or {}
    epoch = meta.get("epoch")
    loaded_at = _parse_time(meta.get("loaded_at"))
    name = log_.url_for_humans()
    # The position BEFORE the pending rows are read: a row committed after that read is
    # appended after it, so the next recovery need not look earlier.
    end = log_.end()
    raw = store.get_meta(CHECKPOINT_KEY)
    mark = json.loads(raw) if raw else {}
    after = mark["position"] if mark.get("log") == name and mark.get("epoch") == epoch else log_.start()
    index = _LogIndex(log_, after, epoch)
    cleared: dict[str, list[str]] = {"decisions": [], "outcomes": []}
    missing: list[PendingRow] = []
    n = superseded = 0
    indexed = False
    for row in _pending(store, page):
        if not indexed:
            index.catch_up()  # only when something is pending
            indexed = True
        n += 1
        if loaded_at is not None and row.received_at < loaded_at:
            superseded += 1
        elif row.table == "outcomes" and not logs_outcome(row.kind, row.body):
            pass  # never logged: a cleared review, a return's review (`OnlineState.observe_outcome`)
        elif _row_digest(row) not in index.seen:
            missing.append(row)
            continue
        cleared[row.table].append(row.row_id)
    recent = datetime.now(UTC) - timedelta(seconds=recent_s)
    if missing and any(r.received_at >= recent for r in missing):
        time.sleep(settle_s)  # another worker's append may be in flight
        index.catch_up()
        found = [r for r in missing if _row_digest(r) in index.seen]
        for r in found:
            cleared[r.table].append(r.row_id)
        missing = [r for r in missing if _row_digest(r) not in index.seen]
    for start in range(0, len(missing), chunk):
        part = missing[start:start + chunk]
        log_.append([plain.dumps(_row_entry(r)) for r in part])
        for r in part:
            cleared[r.table].append(r.row_id)
    for table, ids in cleared.items():
        if ids:
            store.clear_online_pending(table, ids)
    store.set_meta(CHECKPOINT_KEY, json.dumps({"log": name, "epoch": epoch, "position": end}))
    summary = {"pending": n, "appended": len(missing), "superseded": superseded,
               "seconds": round(time.perf_counter() - t0, 3)}
    if missing:
        log.warning("online log recovered events the audit had and the log lacked", extra=summary)
    return summary
