"""Opening the service's online state from settings, bootstrapping it from a contract folder,
and re-appending to the log what the audit committed and the log never received.

`open_online(settings)` (the API's start), `load_online` / `ensure_loaded` (`triage online
load DIR`, `triage serve --bootstrap DIR`), `recover_from_audit`; see `triage.stores.online`.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from triage.progress import Progress, report
from triage.stores import plain
from triage.stores.online_log import OnlineLog, dump_entry, open_online_log
from triage.stores.online_state import OnlineState
from triage.stores.store import Store

__all__ = ["open_online", "load_online", "ensure_loaded", "recover_from_audit"]

log = logging.getLogger("triage.online")


def open_online(settings: Any) -> OnlineState:
    """The service's online state from settings; never raises (an unreachable log degrades).

    Bootstraps from `settings.bootstrap_dir` when set (unless that folder is loaded
    already), re-appends what the audit store committed and the log never received
    (`recover_from_audit`), then builds this worker's indexes from the log."""
    try:
        log_ = open_online_log(settings)
    except Exception as exc:  # noqa: BLE001
        log.error("online store cannot be opened; decisions are rules-only", extra={"reason": str(exc)})
        return OnlineState(None, problem=f"online store cannot be opened: {type(exc).__name__}: {exc}")
    state = OnlineState(log_)
    if settings.bootstrap_dir is not None:
        try:
            ensure_loaded(settings, settings.bootstrap_dir, log_=log_)
        except Exception as exc:  # noqa: BLE001 - the service starts; /readyz says what is missing
            log.exception("online bootstrap failed", extra={"folder": str(settings.bootstrap_dir)})
            state.bootstrap_problem = (
                f"online bootstrap from {settings.bootstrap_dir} failed ({type(exc).__name__}: {exc}); "
                "features see only the history already in the online log")
    recover_from_audit(settings, log_)
    try:
        with state._lock:
            state.sync()
    except Exception as exc:  # noqa: BLE001 - retried on the first request
        state._seq = None
        log.error("online state cannot be built yet", extra={"reason": f"{type(exc).__name__}: {exc}"})
    return state


def recover_from_audit(settings: Any, log_: OnlineLog, *, store: Store | None = None) -> dict[str, Any] | None:
    """Re-append to the log, in audit order, the decided events and outcomes the audit store
    (`settings.audit_url`) committed and the log lacks (`triage.stores.log_recovery`): a
    crash between the audit commit and the log append loses nothing. Never raises (a
    failure is logged; the rows stay pending for the next start).

    The workers of one machine start together and each calls this: an exclusive lock on a
    file in `settings.home` makes them recover one after the other, so the first re-appends
    and clears the marks and the others find nothing pending (never two appends of a row).
    `store`: the audit store already open (a running service catching up), else opened here."""
    url = settings.audit_url
    if store is None and url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return None  # nothing audited yet
    try:
        from triage.stores import open_store
        from triage.stores.log_recovery import recover_log

        home = Path(settings.home)
        home.mkdir(parents=True, exist_ok=True)
        with (home / "online-recovery.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
            db = store if store is not None else open_store(url)
            try:
                return recover_log(log_, db)
            finally:
                if store is None:
                    db.close()
    except Exception as exc:  # noqa: BLE001 - the service still starts; the next start retries
        log.error("online log recovery failed; retried at the next start",
                  extra={"reason": f"{type(exc).__name__}: {exc}"})
        return None


# ------------------------------------------------------------------------------ bootstrap


def _fingerprint(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.iterdir()):
        if p.is_file() and p.suffix in (".csv", ".parquet"):
            st = p.stat()
            h.update(f"{p.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def load_online(
    settings: Any, folder: str | Path, *, log_: OnlineLog | None = None, replace: bool = True, progress: Progress | None = None
) -> dict[str, Any]:
    """Bootstrap the online state from a contract folder (`triage online load DIR`).

    Loads and validates the folder and puts the dataset in the log: `replace=True` makes it
    the new snapshot and forgets the log before it (the folder is the history; running
    workers rebuild their indexes from it); `replace=False` appends it to the history (same
    ids replace, never double). Returns a summary: rows per table, the log, seconds.
    """
    from triage.contract import load_dataset

    t0 = time.perf_counter()
    folder = Path(folder)
    report(progress, "online load: read + validate, write the snapshot", 0, 2)
    ds = load_dataset(folder)
    report(progress, "online load: read + validate, write the snapshot", 1, 2)
    owned = log_ is None
    lg = log_ if log_ is not None else open_online_log(settings)
    try:
        if replace:
            epoch = uuid.uuid4().hex
            meta = {"folder": str(folder.resolve()), "fingerprint": _fingerprint(folder), "epoch": epoch,
                    "loaded_at": datetime.now(UTC).isoformat(),  # audit rows before it: superseded
                    "format": plain.FORMAT}
            lg.put_snapshot(meta, plain.dumps_dataset(ds), dump_entry(("reset", epoch)))
        else:
            lg.append([dump_entry(("dataset", ds))])
    finally:
        if owned:
            lg.close()
    report(progress, "online load: read + validate, write the snapshot", 2, 2)
    return {
        "store": lg.url_for_humans(),
        "rows": {t: int(len(ds[t])) for t in sorted(ds.present)},
        "seconds": round(time.perf_counter() - t0, 2),
    }


def ensure_loaded(settings: Any, folder: str | Path, *, log_: OnlineLog) -> bool:
    """Bootstrap from `folder` unless this very folder (same files) was loaded already.

    Several workers starting together may both load; the last snapshot wins, the others
    rebuild from it."""
    folder = Path(folder)
    done = log_.get_meta() or {}
    if (done.get("folder") == str(folder.resolve()) and done.get("fingerprint") == _fingerprint(folder)
            and done.get("format") == plain.FORMAT):  # a snapshot of the pickle era is loaded again
        return False
    summary = load_online(settings, folder, log_=log_)
    log.info("online state bootstrapped", extra=summary)
    return True
