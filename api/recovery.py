"""Keeping the stores reachable: open at start or later, and catch the online log up.

`supervise(state)` runs for the life of the process (started by the lifespan):

- **the audit/key store** — when it could not be opened (the database was down at start,
  or refused the migration for a while), it is tried again with exponential backoff and
  jitter (0.2 s doubling up to `store_retry_max_seconds`). Until then every route that
  needs it answers 503 with Retry-After, `/readyz` is 503 with the reason and the time of
  the next attempt, and `/healthz` stays 200: the process will recover by itself. Once
  open, the store's connection pool replaces broken connections on its own
  (`triage.stores.postgres`); a database restart costs the requests in flight a 503 and
  nothing more.
- **the online log** — an append that failed (Redis down) leaves audited events the log
  lacks; they are marked `online_pending` in the audit store. Once the log answers again,
  the supervisor re-appends them in audit order (`triage.stores.online.recover_from_audit`,
  the same recovery a start runs, under the same lock file, so the workers take turns),
  and every worker's state catches up with what was decided meanwhile.
- **what cannot heal** — a store URL or schema this build refuses (`ConfigError`), or the
  supervisor itself failing: `/healthz` answers 503 so an orchestrator restarts the
  process.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import Any

from starlette.concurrency import run_in_threadpool

from api.deps import AppState
from triage.errors import ConfigError, TriageError
from triage.keys import KeyRing
from triage.stores import open_store

__all__ = ["Backoff", "open_audit_store", "supervise", "catch_up_online"]

log = logging.getLogger("triage.api")


class Backoff:
    """Exponential delays with ±20 % jitter: `initial_s`, doubling, at most `max_s`."""

    def __init__(self, initial_s: float = 0.2, max_s: float = 5.0) -> None:
        self.initial_s, self.max_s = initial_s, max_s
        self._next = initial_s

    def next(self) -> float:
        delay = min(self._next, self.max_s)
        self._next = min(self._next * 2, self.max_s)
        return delay * random.uniform(0.8, 1.2)

    def reset(self) -> None:
        self._next = self.initial_s


def open_audit_store(state: AppState) -> bool:
    """Try once to open (and migrate) the audit/key store; True when it is open.

    A store that is unreachable records the reason in `state.store_problem`; a store this
    build refuses (`ConfigError`, an unknown URL) is fatal (`state.fatal`)."""
    s = state.settings
    try:
        store = open_store(s.audit_url, pool_size=s.pg_pool_size, pool_timeout_s=s.pg_pool_timeout_seconds)
    except ConfigError as exc:
        state.fatal.append(f"audit store: {exc.message}")
        log.error("audit store refused; restart with a fixed configuration", extra={"reason": exc.message})
        return False
    except ValueError as exc:  # an URL no store knows (settings validate the scheme already)
        state.fatal.append(f"audit store: {exc}")
        return False
    except TriageError as exc:
        state.store_problem = exc.message
        return False
    state.keys = KeyRing(store, ttl_s=s.key_cache_seconds, max_entries=s.key_cache_size)
    state.store = store  # last: a request that sees the store sees its key ring
    state.store_problem = None
    return True


def catch_up_online(state: AppState) -> dict[str, Any] | None:
    """Re-append what the audit store has and the online log lacks, once the log answers
    again after failed appends (`OnlineState.lagging`). Returns the recovery's counts, or
    None when nothing was to do or the log is still down."""
    online = state.services.online if state.services is not None else None
    if online is None or not online.lagging or state.store is None:
        return None
    try:
        online.ping()
    except TriageError:
        return None  # still down: the next round tries again
    from triage.stores.online import recover_from_audit

    marks = online.lag_marks
    summary = recover_from_audit(state.settings, online.log, store=state.store)
    if summary is None:
        return None  # the recovery failed (logged): the next round tries again
    if online.lag_marks == marks:  # no append failed meanwhile: nothing is missing any more
        online.lagging = False
    log.info("online log caught up with the audit store", extra=summary)
    return summary


async def supervise(state: AppState) -> None:
    """Open the audit store when it is not; catch the online log up; forever (see module doc)."""
    backoff = Backoff(max_s=state.settings.store_retry_max_seconds)
    online_backoff = Backoff(initial_s=0.25, max_s=state.settings.store_retry_max_seconds)
    while True:
        if state.store is None and not state.fatal:
            opened = await run_in_threadpool(open_audit_store, state)
            if opened:
                backoff.reset()
                name = state.store.url_for_humans() if state.store is not None else None
                log.info("audit store open", extra={"audit_store": name})
            elif not state.fatal:
                delay = backoff.next()
                state.store_retry_at = time.time() + delay
                log.warning("audit store unavailable; retrying",
                            extra={"reason": state.store_problem, "retry_in_s": round(delay, 2)})
                await asyncio.sleep(delay)
                continue
        online = state.services.online if state.services is not None else None
        if online is not None and online.lagging:
            if await run_in_threadpool(catch_up_online, state) is None:
                await asyncio.sleep(online_backoff.next())
                continue
            online_backoff.reset()
        await asyncio.sleep(0.25)
