"""The SQLite audit store's disk fills up, or its file system turns read-only: decisions
answer 503 with Retry-After, nothing is half-written (every row there was acknowledged,
the database checks clean), and decisions resume once the disk has room / is writable.

The faults are real ones: a 4 MiB tmpfs mounted for the test and filled up (ENOSPC), and
the database and its WAL made immutable (`chattr +i`: every write, through descriptors
already open too, fails with EPERM). Root only — CI runs as root; elsewhere the test is
skipped, or fails under CI=true."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from tests.api.conftest import make_services, order_body
from tests.faults.servers import unavailable
from triage.keys import create_key
from triage.settings import Settings

pytestmark = pytest.mark.integration


@contextlib.contextmanager
def small_disk(path: Path, size: str = "4m") -> Iterator[Path]:
    path.mkdir()
    if os.geteuid() != 0:
        unavailable("mounting a small tmpfs needs root")
    got = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                         capture_output=True, text=True)
    if got.returncode != 0:
        unavailable(f"cannot mount a tmpfs: {got.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def _immutable(db: Path, on: bool) -> None:
    for f in (db, db.with_name(db.name + "-wal")):
        got = subprocess.run(["chattr", "+i" if on else "-i", str(f)], capture_output=True, text=True)
        if got.returncode != 0:
            unavailable(f"chattr failed: {got.stderr.strip()}")


def _fill(disk: Path) -> Path:
    filler = disk / "filler"
    with filler.open("wb") as f, contextlib.suppress(OSError):
        while True:
            f.write(b"\0" * 65536)
            f.flush()
    return filler


def _rows(db: Path) -> tuple[set[str], str]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        ids = {r[0] for r in conn.execute("SELECT decision_id FROM decisions")}
        check = conn.execute("PRAGMA integrity_check").fetchone()[0]
    return ids, check


@pytest.mark.parametrize("fault", ["disk full", "read-only"])
def test_audit_disk_fault_answers_503_writes_nothing_half_and_recovers(tmp_path, fault):
    disk_cm = small_disk(tmp_path / "disk") if fault == "disk full" else contextlib.nullcontext(tmp_path)
    with disk_cm as disk:
        db = disk / "triage.db"
        settings = Settings(home=tmp_path / "home", database_url=f"sqlite:///{db}")
        key = create_key(settings, "oms", "decide")
        acked: set[str] = set()
        with TestClient(create_app(settings, services=make_services()), raise_server_exceptions=False) as c:
            c.headers["X-API-Key"] = key
            for _ in range(5):
                r = c.post("/v1/orders/decisions", json=order_body())
                assert r.status_code == 200
                acked.add(r.json()["decision_id"])
            filler = _fill(disk) if fault == "disk full" else None
            if fault == "read-only":
                _immutable(db, True)
            refused = [c.post("/v1/orders/decisions", json=order_body(lines=[
                {"line_no": i, "sku": f"sku-{i}", "quantity": 1, "unit_price": 1.0} for i in range(1, 60)]))
                for _ in range(5)]
            assert [r.status_code for r in refused] == [503] * 5, [r.text for r in refused]
            assert all(int(r.headers["Retry-After"]) >= 1 for r in refused)
            assert all(r.headers["content-type"].startswith("application/problem+json") for r in refused)
            if filler is not None:
                filler.unlink()
            else:
                _immutable(db, False)
            r = c.post("/v1/orders/decisions", json=order_body())
            assert r.status_code == 200, r.text
            acked.add(r.json()["decision_id"])
        ids, check = _rows(db)
        assert check == "ok"
        assert ids == acked, "rows that were never acknowledged (or acknowledged rows lost)"
