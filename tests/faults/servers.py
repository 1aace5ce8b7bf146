"""Throwaway servers the fault tests start, kill and restart themselves.

- `ThrowawayPostgres`: a PostgreSQL 15 cluster in its own data directory on a free port
  (`initdb` / `pg_ctl` from the machine's installation; found under
  /usr/lib/postgresql/*/bin or on PATH). PostgreSQL refuses to run as root, so as root the
  cluster is made and run as the `postgres` user (`runuser`), in a directory it owns.
  `kill()` is `pg_ctl stop -m immediate`: every backend ends at once, no checkpoint, WAL
  recovery at the next start — a crash, as far as the database and its clients can tell.
- `ThrowawayRedis`: `redis-server --port N --save '' --appendonly no`: `kill()` is SIGKILL,
  and a restart comes back empty (nothing was kept on disk).
- `UvicornThread`: the app on a real socket in this process (no import cost per start).

When a server cannot be started (binaries missing), the test is skipped with the reason —
except under `CI=true`, where it fails.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest

__all__ = ["free_port", "ThrowawayPostgres", "ThrowawayRedis", "UvicornThread", "unavailable"]


def unavailable(what: str) -> None:
    message = f"{what}; the fault tests need it"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message} (CI=true)", pytrace=False)
    pytest.skip(message)


def wait_until(check, timeout_s: float) -> bool:
    """Poll `check()` every 20 ms until it is true (True) or `timeout_s` passes (False)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def _wait_port(port: int, timeout_s: float, up: bool = True) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as s:
            s.settimeout(0.2)
            is_up = s.connect_ex(("127.0.0.1", port)) == 0
        if is_up == up:
            return True
        time.sleep(0.02)
    return False


class ThrowawayPostgres:
    def __init__(self) -> None:
        initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
        if initdb is None or pg_ctl is None:
            unavailable("PostgreSQL's initdb/pg_ctl not found (apt-get install postgresql)")
        self._initdb, self._pg_ctl = initdb, pg_ctl
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="triage-pg-"))  # not under pytest's 0700 tmp
        self.data = self.root / "data"
        self._as: list[str] = []
        if os.geteuid() == 0:  # initdb refuses root: run the cluster as postgres
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                unavailable("running as root and there is no postgres user to run PostgreSQL as")
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]
        self._run([self._initdb, "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync",
                   "-E", "UTF8", "--no-instructions"])
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, argv: list[str]) -> None:
        got = subprocess.run(self._as + argv, capture_output=True, text=True, timeout=60)
        if got.returncode != 0:
            unavailable(f"{Path(argv[0]).name} failed: {got.stderr.strip()[-300:]}")

    def start(self) -> None:
        opts = (f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c fsync=on "
                "-c max_connections=50 -c shared_buffers=16MB")
        self._run([self._pg_ctl, "-D", str(self.data), "-o", opts, "-l", str(self.root / "log"), "-w",
                   "-t", "30", "start"])

    def kill(self) -> None:
        """Every backend killed at once, no checkpoint: a crash."""
        self._run([self._pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop"])

    def close(self) -> None:
        with contextlib.suppress(Exception):
            subprocess.run(self._as + [self._pg_ctl, "-D", str(self.data), "-m", "immediate", "stop"],
                           capture_output=True, timeout=30)
        shutil.rmtree(self.root, ignore_errors=True)


class ThrowawayRedis:
    def __init__(self) -> None:
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            unavailable("redis-server not found (apt-get install redis-server)")
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="triage-redis-"))
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [str(self.binary), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.dir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not _wait_port(self.port, 10):
            unavailable(f"redis-server did not listen on {self.port}")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
            self.proc = None

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


class UvicornThread:
    """`app` served on 127.0.0.1:`port` by uvicorn in a thread of this process."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> UvicornThread:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the API did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
