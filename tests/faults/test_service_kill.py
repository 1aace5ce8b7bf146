"""`kill -9` of the whole service (2 uvicorn workers) under load, then a restart: every
acknowledged decision is readable, and the online state holds every audited event once
(what the audit committed and the log never received is re-appended at start, once)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.faults.load import Load
from tests.faults.servers import free_port
from triage.keys import create_key
from triage.settings import Settings
from triage.stores import open_store
from triage.stores.online import OnlineState
from triage.stores.online_sqlite import SqliteLog

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def _serve(home: Path, bundles: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TRIAGE_HOME": str(home), "TRIAGE_BUNDLE_DIR": str(bundles), "OMP_NUM_THREADS": "1"}
    env.pop("TRIAGE_DATABASE_URL", None)
    env.pop("TRIAGE_REDIS_URL", None)
    return subprocess.Popen(
        [sys.executable, "-c", "from triage.cli import main; main()", "serve", "--workers", "2",
         "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def _ready(base: str, proc: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    ok = 0
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the service exited"
        try:
            ok = ok + 1 if httpx.get(f"{base}/readyz", timeout=2).status_code == 200 else 0
        except httpx.TransportError:
            ok = 0
        if ok >= 4:  # answered several times in a row: both workers are up, most likely
            return
        time.sleep(0.1)
    raise AssertionError("the service did not become ready")


def _kill9(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGKILL)  # the supervisor and both workers, at once
    proc.wait(timeout=10)


def test_kill_9_under_load_then_restart_keeps_every_acknowledged_decision_and_logs_each_once(tmp_path):
    home, bundles = tmp_path / "home", tmp_path / "no-bundles"
    bundles.mkdir()
    settings = Settings(home=home, bundle_dir=bundles)
    key = create_key(settings, "oms", "decide,read")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = _serve(home, bundles, port)
    try:
        _ready(base, proc)
        with Load(base, key, threads=4) as load:
            deadline = time.monotonic() + 20
            while len(load.acked) < 20 and time.monotonic() < deadline:
                time.sleep(0.02)
            _kill9(proc)  # mid-load: requests in flight, commits and log appends interrupted
        acked = dict(load.acked)
        assert len(acked) >= 20, load.statuses
        proc = _serve(home, bundles, port)
        _ready(base, proc)
        with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=10) as c:
            unreadable = {e: d for e, d in acked.items()
                          if c.get(f"/v1/decisions/{d}").status_code != 200}
        assert not unreadable, f"acknowledged decisions not readable after the restart: {unreadable}"
    finally:
        if proc.poll() is None:
            _kill9(proc)
    store = open_store(settings.audit_url)
    try:
        audited = [r.event_id for r in store.iter_decisions()]
    finally:
        store.close()
    assert set(acked) <= set(audited) and len(audited) == len(set(audited))
    state = OnlineState(SqliteLog(home / "online.db"))
    with state._lock:
        state.sync()
    missing = [e for e in audited if state.store.get_record("orders", e) is None]
    print(f"\nkill -9: {len(acked)} acknowledged, {len(audited)} audited, {state.applied} online log entries; "
          f"statuses {dict(load.statuses)}")
    assert not missing, f"audited orders missing from the online state: {missing}"
    assert state.applied == len(audited), "the online log holds some audited event more than once"
    state.close()
