"""A bounded soak of the service on loopback: hours of traffic squeezed into minutes.

    .venv/bin/python bench/bench_soak.py [--minutes 10] [--workers 2] [--conns 8] [--bundle-dir DIR]

Starts `triage serve --workers N` in a fresh home (SQLite audit and online log; rules-only
unless --bundle-dir names trained bundles) and runs --conns closed-loop clients for
--minutes against both decision routes with a mix of requests:

- 55 % new orders, 15 % new returns (200 expected);
- 10 % invalid bodies (a field of the wrong type or missing: 422 expected);
- 15 % replays of an acknowledged request, same body (200 + Idempotent-Replayed);
- 5 % an acknowledged id with another body (409 expected).

Then, for --steady-minutes more, only requests that add nothing to the service's state
(replays, invalid bodies, conflicts): the online feature state grows with every new event
by design (each worker keeps the history in memory), so RSS is judged on this phase —
a flat line there means the request path itself keeps nothing.

Prints, per minute: requests, p50 / p99 latency, errors by status, the service's RSS (all
its processes); then decisions acknowledged vs readable afterwards (paging through
`GET /v1/decisions`), statuses that were not the expected one, RSS at start and end, RSS
per new decision, and the RSS drift of the steady phase.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _order(customer: str) -> dict[str, Any]:
    from tests.api.conftest import order_body

    return order_body(customer_id=customer, order_total=round(random.uniform(5, 900), 2))


def _return(customer: str) -> dict[str, Any]:
    from tests.api.conftest import return_body

    return return_body(customer_id=customer, refund_amount=round(random.uniform(5, 300), 2))


def _rss_kb(root_pid: int) -> int:
    """Resident memory of a process and all its descendants, in KiB (from /proc)."""
    total, todo = 0, [root_pid]
    while todo:
        pid = todo.pop()
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            with open(f"/proc/{pid}/task/{pid}/children") as f:
                todo += [int(p) for p in f.read().split()]
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
    return total


class Soak:
    def __init__(self, base: str, key: str, conns: int, seconds: float) -> None:
        self.base, self.key, self.conns, self.seconds = base, key, conns, seconds
        self.lock = threading.Lock()
        self.acked: dict[str, str] = {}  # decision id -> kind
        self.sent: list[tuple[str, str, dict[str, Any]]] = []  # (path, event id, body) acknowledged
        self.sent_total: set[str] = set()  # decision ids of new events
        self.new_decisions = 0
        self.unexpected: Counter[tuple[str, int | str]] = Counter()
        self.minutes: list[dict[str, Any]] = []
        self._lat: list[float] = []
        self._status: Counter[int | str] = Counter()
        self.steady = False  # only replays, invalid bodies and conflicts: nothing new to keep

    def _one(self, client: httpx.Client, customers: list[str]) -> None:
        roll = random.random() if not self.steady else 0.70 + 0.30 * random.random()
        customer = random.choice(customers)
        kind, expect = "new", 200
        if roll < 0.55:
            path, body = "/v1/orders/decisions", _order(customer)
        elif roll < 0.70:
            path, body = "/v1/returns/decisions", _return(customer)
        elif roll < 0.80:
            path = random.choice(["/v1/orders/decisions", "/v1/returns/decisions"])
            body = _order(customer) if "orders" in path else _return(customer)
            required = (["order_id", "created_at", "order_total", "channel", "lines"] if "orders" in path
                        else ["return_id", "requested_at", "quantity", "refund_amount"])
            if random.random() < 0.5:
                body.pop(random.choice(required))
            else:
                body[random.choice(required)] = {"not": "this"}
            kind, expect = "invalid", 422
        else:
            with self.lock:
                prior = random.choice(self.sent) if self.sent else None
            if prior is None:
                return
            path, _, body = prior
            if roll < 0.95:
                kind, expect = "replay", 200
            else:
                body = {**body, "refund_amount" if "returns" in path else "order_total": 1234.5}
                kind, expect = "conflict", 409
        t0 = time.perf_counter()
        try:
            r = client.post(path, json=body)
            status: int | str = r.status_code
        except httpx.TransportError as exc:
            status, r = type(exc).__name__, None
        ms = (time.perf_counter() - t0) * 1000
        with self.lock:
            self._lat.append(ms)
            self._status[status] += 1
            if status != expect:
                self.unexpected[(kind, status)] += 1
            if r is not None and status == 200:
                got = r.json()
                self.acked[got["decision_id"]] = got["kind"]
                if kind == "new":
                    self.sent_total.add(got["decision_id"])
                    self.sent.append((path, got["event_id"], body))
                    if len(self.sent) > 5000:
                        self.sent.pop(random.randrange(len(self.sent)))

    def _client(self, stop: threading.Event) -> None:
        customers = [f"soak-c-{i}" for i in range(200)]
        with httpx.Client(base_url=self.base, headers={"X-API-Key": self.key}, timeout=30) as client:
            while not stop.is_set():
                self._one(client, customers)

    def run(self, pid: int, steady_s: float = 0.0) -> None:
        stop = threading.Event()
        threads = [threading.Thread(target=self._client, args=(stop,), daemon=True) for _ in range(self.conns)]
        start = time.monotonic()
        self.rss_start = _rss_kb(pid)
        self.rss_steady: tuple[int, int] | None = None
        for t in threads:
            t.start()
        minute = 0
        total_s = self.seconds + steady_s
        while time.monotonic() - start < total_s:
            if not self.steady and time.monotonic() - start >= self.seconds - 1e-6:
                self.steady = True
                self.new_decisions = len(self.sent_total)
                self.rss_steady = (_rss_kb(pid), 0)
                print("  -- steady phase: replays, invalid bodies and conflicts only", flush=True)
            phase_end = self.seconds if not self.steady else total_s
            time.sleep(max(0.0, min(60.0, phase_end - (time.monotonic() - start))))
            with self.lock:
                lat, self._lat = self._lat, []
                status, self._status = self._status, Counter()
            minute += 1
            row = {"minute": minute, "requests": len(lat), "rss_mb": _rss_kb(pid) / 1024,
                   "p50_ms": statistics.median(lat) if lat else float("nan"),
                   "p99_ms": statistics.quantiles(lat, n=100)[98] if len(lat) >= 100 else float("nan"),
                   "statuses": dict(sorted(status.items(), key=str))}
            self.minutes.append(row)
            print(f"  minute {minute:>2}: {row['requests']:>6} requests  p50 {row['p50_ms']:6.1f} ms  "
                  f"p99 {row['p99_ms']:7.1f} ms  RSS {row['rss_mb']:7.1f} MB  {row['statuses']}", flush=True)
        stop.set()
        for t in threads:
            t.join(timeout=60)
        self.rss_end = _rss_kb(pid)
        if self.rss_steady is not None:
            self.rss_steady = (self.rss_steady[0], self.rss_end)

    def readable(self) -> set[str]:
        """Every decision id the service lists (paging GET /v1/decisions over the run's window)."""
        seen: set[str] = set()
        with httpx.Client(base_url=self.base, headers={"X-API-Key": self.key}, timeout=60) as c:
            cursor = None
            since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - self.seconds - 3600))
            while True:
                params = {"since": since, "limit": 500, **({"cursor": cursor} if cursor else {})}
                page = c.get("/v1/decisions", params=params)
                page.raise_for_status()
                body = page.json()
                seen.update(d["decision_id"] for d in body["items"])
                cursor = body["next_cursor"]
                if not cursor:
                    return seen


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10.0, help="mixed traffic (new, invalid, replayed)")
    ap.add_argument("--steady-minutes", type=float, default=2.0, help="then nothing new: replays/invalid only")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--conns", type=int, default=8)
    ap.add_argument("--bundle-dir", type=Path, help="trained bundles (default: none, rules-only)")
    ap.add_argument("--port", type=int, default=8731)
    args = ap.parse_args()

    from triage.keys import create_key
    from triage.settings import Settings

    work = Path(tempfile.mkdtemp(prefix="triage-soak-"))
    bundles = args.bundle_dir or work / "no-bundles"
    bundles.mkdir(exist_ok=True)
    home = work / "home"
    key = create_key(Settings(home=home, bundle_dir=bundles), "soak", "decide,read")
    env = {**os.environ, "TRIAGE_HOME": str(home), "TRIAGE_BUNDLE_DIR": str(bundles), "OMP_NUM_THREADS": "1"}
    for name in ("TRIAGE_DATABASE_URL", "TRIAGE_REDIS_URL"):
        env.pop(name, None)
    proc = subprocess.Popen([sys.executable, "-c", "from triage.cli import main; main()", "serve",
                             "--workers", str(args.workers), "--port", str(args.port)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    base = f"http://127.0.0.1:{args.port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit("the service did not start")
            time.sleep(0.2)
        time.sleep(2)  # the other worker
        print(f"soak: {args.minutes:g} min, {args.workers} workers, {args.conns} connections, "
              f"{'bundles ' + str(args.bundle_dir) if args.bundle_dir else 'rules-only'}; home {home}")
        soak = Soak(base, key, args.conns, args.minutes * 60)
        soak.run(proc.pid, args.steady_minutes * 60)
        readable = soak.readable()
        acked = set(soak.acked)
        total = sum(m["requests"] for m in soak.minutes)
        statuses: Counter[int | str] = Counter()
        for m in soak.minutes:
            statuses.update(m["statuses"])
        p99s = [m["p99_ms"] for m in soak.minutes if m["p99_ms"] == m["p99_ms"]]
        print(f"requests: {total} ({total / ((args.minutes + args.steady_minutes) * 60):.0f}/s); statuses {dict(sorted(statuses.items(), key=str))}")
        print(f"not the expected status: {dict(soak.unexpected) or 'none'}")
        print(f"decisions acknowledged: {len(acked)}; readable afterwards: {len(acked & readable)}; "
              f"lost: {len(acked - readable)}; listed but never acknowledged: {len(readable - acked)}")
        print(f"RSS: start {soak.rss_start / 1024:.1f} MB, end {soak.rss_end / 1024:.1f} MB "
              f"(drift {(soak.rss_end - soak.rss_start) / 1024:+.1f} MB); per-minute p99 "
              f"{min(p99s, default=float('nan')):.1f}–{max(p99s, default=float('nan')):.1f} ms")
        grown = (soak.rss_steady[0] if soak.rss_steady else soak.rss_end) - soak.rss_start
        print(f"RSS per new decision (mixed phase, all processes): {grown * 1024 / max(1, soak.new_decisions):.0f} "
              f"bytes over {soak.new_decisions} new decisions (the in-memory feature state, in every worker)")
        if soak.rss_steady is not None:
            a, b = soak.rss_steady
            print(f"RSS in the steady phase (nothing new to keep): {a / 1024:.1f} -> {b / 1024:.1f} MB "
                  f"(drift {(b - a) / 1024:+.1f} MB)")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
