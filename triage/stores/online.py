"""The service's online state: in-memory indexes per worker, a durable shared log as the truth.

This module is its public face; the parts live beside it: `online_state` (`OnlineState`,
one worker's indexes kept current from the log), `online_log` (the `OnlineLog` interface,
opening the configured one, the entry format), `online_load` (opening from settings,
bootstrapping from a contract folder, recovering from the audit), `online_index` (the
indexes), `online_sqlite` / `online_redis` (the two logs).

- The **log** (`open_online_log(settings)`): Redis Stream when `TRIAGE_REDIS_URL` is set
  (replicas on several machines), else SQLite at `<TRIAGE_HOME>/online.db` (the workers of
  one machine). It holds a snapshot — the bootstrap contract dataset — and, after it, every
  observed event and outcome in sequence order.
- Each worker process keeps the state **in memory** (`triage.stores.online_index.IndexedStore`:
  time-sorted blocks per aggregation key in a compiled core, JSON records), built from the
  snapshot with `features.online.OnlineFeatures.bootstrap` (vectorised, from the offline
  streams) and kept current by applying the log: before an event's features are computed,
  the worker applies the entries appended since its last sequence number (one indexed query
  or XREAD). Every worker applies the same entries in the same order through the same
  `OnlineFeatures.observe_*` code, so all workers hold the same state, and features are
  exact: the indexes are keyed by event time, so out-of-order arrivals are fine.
- Features are `features.scalar.order_values` / `return_values` — the one per-event
  implementation (what `OnlineFeatures.order_features_dict` runs), reading the in-memory
  indexes through the `OnlineStore` protocol (`windows`, `get_records`); an order's own
  `customer` record (a customer not seen yet) is passed as scalar's `customer`.

`load_online(settings, folder)` (`triage online load DIR`, `triage serve --bootstrap DIR`)
puts a contract folder in the log as the new snapshot; running workers rebuild from it when
they reach its reset entry. At start, `open_online` first re-appends what the audit store
committed and the log never received (a crash between the two: `triage.stores.log_recovery`).
Log entries and records are plain data (`triage.stores.plain`: JSON, datasets as Arrow IPC),
never pickle: a log written before that change is not read (its entries are skipped with a
log line; `triage online load DIR` writes a new snapshot, and `serve --bootstrap` does it by
itself when the loaded snapshot is of the old format).
If the log is unreachable, `features()` raises (the service then decides rules-only,
`degraded`); after a failure, calls fail fast for `retry_after_s`.
"""

from __future__ import annotations

from triage.stores.online_load import ensure_loaded, load_online, open_online, recover_from_audit
from triage.stores.online_log import OnlineLog, open_online_log
from triage.stores.online_log import dump_entry as _dumps  # noqa: F401 - the benchmarks' name (bench/bench_api.py)
from triage.stores.online_log import load_entry as _loads  # noqa: F401
from triage.stores.online_state import ONLINE_KINDS, OnlineState, _order_row  # noqa: F401 - _order_row: bench/

__all__ = ["OnlineState", "OnlineLog", "open_online_log", "open_online", "load_online", "ensure_loaded",
           "recover_from_audit", "ONLINE_KINDS"]
