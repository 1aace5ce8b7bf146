"""The API's speed against the HTTP floor, at several sizes of history, new code against a
baseline checkout in the same run (loopback, run by hand).

    .venv/bin/python bench/bench_api.py [--orders 20000 200000 1000000] [--baseline DIR]
        [--work DIR] [--seconds 5] [--reps 2] [--workers2] [--coalesce-off]

Prepares, cached in --work: real bundles trained once on a 20k-order, 90-day simulated retailer
(`bundles/`), and for each --orders size a simulated history of that size (`sim-N/`, 90 days
at 20k, a year from 200k on: the cost of an event grows with the length of the busiest
series, a node's, a carrier's, the global one). For each size and each code (this checkout;
--baseline: another checkout, e.g. a worktree of main at the starting commit, run with the
same venv through PYTHONPATH) a home with the snapshot in its SQLite log and an API key.

Prints for each size, each figure for the floor, the new code and the baseline:

- in process (a subprocess per code, `--in-process`, --reps times alternating): worker RSS
  after bootstrap; one decision p50/p99 (online features + both order models + policy, no
  HTTP/audit); online features alone; applying one event to the indexes (as the log
  catch-up applies a decoded entry); `decide_many` of 1,000 new orders — in thread CPU time
  (a shared machine's other load does not count; one decision's wall p50 beside it);
- HTTP, one uvicorn worker per server (all started up front, then measured in turns
  floor → new → baseline, --reps times, medians): saturation (closed loop) at 8 and 16
  connections and the ratio to the floor (target ≥ 0.5); p50/p99 at 1 connection (target
  p99 ≤ 15 ms); p50/p99 at an open-loop offered rate of 25 % of the floor's 16-connection
  saturation (send times scheduled: a stall is not hidden; target p99 ≤ 15 ms); the batch
  route with 1,000 new orders a batch (target ≥ 10,000 decisions/s); the server's RSS;
- --workers2: the new code with `triage serve --workers 2`, saturation at 16 connections;
- --coalesce-off: the new code with TRIAGE_COALESCE_MAX=0 (each request decided alone).

Finally the new code's figures at the largest size against the smallest (target: within
1.5x) and RSS per million orders of history (the slope between the sizes).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
CODE = Path(os.environ.get("TRIAGE_BENCH_CODE") or HERE.parent).resolve()  # the checkout under test
sys.path.insert(0, str(CODE))
os.environ.setdefault("OMP_NUM_THREADS", "1")  # as the API process sets it (api/app.py)

def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


PORTS = {name: _free_port() for name in ("floor", "new", "base", "new x2", "new, coalescing off")}


# ------------------------------------------------------------------------------- the floor


def bare_app():  # uvicorn factory: `bench_api:bare_app`
    from fastapi import FastAPI

    from api.schemas import OrderEvent

    app = FastAPI()

    def echo(event):  # type: ignore[no-untyped-def]
        return event

    echo.__annotations__ = {"event": OrderEvent, "return": OrderEvent}  # real classes, not strings
    app.post("/v1/orders/decisions")(echo)
    return app


# ------------------------------------------------------------------------------- preparation


def history(work: Path, orders: int) -> Path:
    """The simulated history of `orders` orders (cached)."""
    from triage.simulator import simulate

    sim = work / f"sim-{orders}"
    if not (sim / "orders.parquet").exists() and not (sim / "orders.csv").exists():
        simulate(sim, orders=orders, days=90 if orders <= 20_000 else 365, seed=5, fmt="parquet")
    return sim


def bundles(work: Path) -> Path:
    """Bundles trained once on the 20k history (the models do not depend on the size served)."""
    from models import save_bundle
    from training.train import train_all
    from triage.contract import load_dataset

    out = work / "bundles"
    if not (out / "triage-fraud.joblib").exists():
        result = train_all(load_dataset(history(work, 20_000)), register=False, fraud_label_window_days=14,
                           progress=lambda _m: None)
        for name, m in result.models.items():
            save_bundle(m.bundle, out / f"{name}.joblib")
    return out


def prepare(work: Path, orders: int = 20_000) -> dict[str, Any]:
    """Bundles, a history and a fresh home with a key for this checkout (the other benches)."""
    from triage.keys import create_key
    from triage.settings import Settings

    sim = history(work, orders)
    settings = Settings(home=work / f"home-{uuid.uuid4().hex[:6]}", bundle_dir=bundles(work), bootstrap_dir=sim)
    return {"settings": settings, "key": create_key(settings, "bench", "decide,outcomes,read"), "sim": sim}


def code_env(code: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(code), "TRIAGE_BENCH_CODE": str(code)}


def make_home(work: Path, tag: str, orders: int, code: Path) -> dict[str, Any]:
    """A fresh home for one code and size; the API key is made by that code (its own schema)."""
    home = work / f"home-{tag}-{orders}-{uuid.uuid4().hex[:6]}"
    env = {"TRIAGE_HOME": str(home), "TRIAGE_BUNDLE_DIR": str(work / "bundles"),
           "TRIAGE_BOOTSTRAP_DIR": str(history(work, orders)), "TRIAGE_RETENTION_DAYS": "3650"}
    key = subprocess.run(
        [sys.executable, "-c", "from triage.keys import create_key; from triage.settings import Settings;"
         " print(create_key(Settings(), 'bench', 'decide,outcomes,read'))"],
        env={**code_env(code), **env}, cwd=code, check=True, capture_output=True, text=True).stdout.split()[-1]
    return {"env": env, "key": key, "home": home}


def new_orders(sim: Path, n: int, tag: str, ds: Any = None) -> list[dict[str, Any]]:
    """n distinct new orders shaped like the simulated ones, after the history's end."""
    import pandas as pd

    from triage.contract import load_dataset
    from triage.schema import TABLES

    ds = ds if ds is not None else load_dataset(sim)
    orders = ds["orders"]
    end = orders["created_at"].max() + pd.Timedelta(hours=1)
    base = orders.sample(n, replace=True, random_state=0)
    wanted = set(base["order_id"])
    ol = ds["order_lines"]
    lines = {k: g.to_dict("records") for k, g in ol[ol["order_id"].isin(wanted)].groupby("order_id")}
    out = []
    for i, r in enumerate(base.to_dict("records")):
        shift = end + pd.Timedelta(milliseconds=250 * i) - r["created_at"]
        body: dict[str, Any] = {}
        for c in TABLES["orders"].column_names:
            v = r[c]
            if c in ("created_at", "promised_at"):
                v = (v + shift).isoformat().replace("+00:00", "Z")
            elif v is None or (isinstance(v, float) and np.isnan(v)):
                v = None
            elif isinstance(v, np.generic):
                v = v.item()
            body[c] = v
        body["order_id"] = f"{tag}-{i}"
        body["lines"] = [{k: (x[k].item() if isinstance(x[k], np.generic) else x[k])
                          for k in ("line_no", "sku", "quantity", "unit_price")} for x in lines.get(r["order_id"], [])]
        out.append(body)
    return out


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs), q))


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (uvicorn --workers), MB."""
    total = 0.0
    pids = [pid]
    with contextlib.suppress(OSError):
        pids += [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
        except OSError:
            pass
    return total


# ------------------------------------------------------------------------------- in process


def in_process(n: int = 1000) -> dict[str, Any]:
    """Run under the code under test (`--in-process`, environment from `make_home`)."""
    from api.schemas import OrderEvent
    from triage.contract import load_dataset
    from triage.decision.model_loading import load_services
    from triage.settings import Settings

    settings = Settings()
    t0 = time.perf_counter()
    services = load_services(settings)
    load_s = time.perf_counter() - t0
    state = services.online
    assert state is not None
    rss = rss_mb(os.getpid())
    stats = state.store.stats()  # type: ignore[attr-defined]
    ds = load_dataset(settings.bootstrap_dir)
    raw = new_orders(settings.bootstrap_dir, 3 * n + 1000, f"inproc{uuid.uuid4().hex[:4]}", ds)
    del ds
    events = [OrderEvent.model_validate(b).model_dump() for b in raw]
    for ev in events[:50]:
        services.decide("order", ev)
    # thread CPU time: the machine is shared, other processes' load does not count
    times, wall = [], []
    for ev in events[:n]:
        t0, w0 = time.thread_time(), time.perf_counter()
        services.decide("order", ev)
        times.append((time.thread_time() - t0) * 1000)
        wall.append((time.perf_counter() - w0) * 1000)
    f_times = []
    for ev in events[:500]:
        t0 = time.thread_time()
        state.features("order", ev)
        f_times.append((time.thread_time() - t0) * 1000)
    # applying one event as the log catch-up does (decoded entry -> indexes), thread CPU time
    decode = getattr(sys.modules.get("triage.stores.online"), "_loads", None)
    apply_us = []
    with state._lock:
        for ev in events[n:2 * n]:
            entry = ("order", dict(ev)) if decode is None else decode(_encode(("order", ev)))
            t0 = time.thread_time()
            state._apply(entry)
            apply_us.append((time.thread_time() - t0) * 1e6)
    batch_ms = []
    for rep in range(3):
        part = [{**e, "order_id": f"{e['order_id']}-b{rep}"} for e in events[2 * n:2 * n + 1000]]
        t0 = time.thread_time()
        services.decide_many("order", part)
        batch_ms.append((time.thread_time() - t0) * 1000)
    state.close()
    return {"load_s": load_s, "rss_mb": rss, "entries": stats["entries"], "series": stats["series"],
            "index_mb": stats["index_bytes"] / 1e6, "record_mb": stats["record_bytes"] / 1e6,
            "decide_p50": statistics.median(times), "decide_p99": pct(times, 99),
            "decide_wall_p50": statistics.median(wall),
            "features_p50": statistics.median(f_times), "features_p99": pct(f_times, 99),
            "apply_us_p50": statistics.median(apply_us), "apply_us_p99": pct(apply_us, 99),
            "decide_many_ms": statistics.median(batch_ms)}


def _encode(entry: tuple) -> bytes:
    mod = sys.modules["triage.stores.online"]
    return mod._dumps(entry)


def run_in_process(code: Path, home: dict[str, Any]) -> dict[str, Any]:
    out = subprocess.run([sys.executable, str(HERE / "bench_api.py"), "--in-process"],
                         env={**code_env(code), **home["env"]}, cwd=code, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"in-process run under {code} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------- HTTP


def start_server(code: Path, port: int, env: dict[str, str], log: Path, *, floor: bool = False,
                 workers: int = 1) -> subprocess.Popen:
    if floor:
        cmd = [sys.executable, "-m", "uvicorn", "bench_api:bare_app", "--factory", "--app-dir", str(HERE)]
    elif workers > 1:
        cmd = [sys.executable, "-c", "import sys; from triage.cli import main; sys.exit(main())", "serve",
               "--workers", str(workers)]
    else:
        cmd = [sys.executable, "-m", "uvicorn", "api.app:app_from_env", "--factory", "--app-dir", str(code),
               "--workers", "1", "--no-access-log", "--log-level", "warning"]
    cmd += ["--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(cmd, cwd=code, env={**code_env(code), **env}, stdout=log.open("w"),
                            stderr=subprocess.STDOUT)
    return proc


def wait_ready(proc: subprocess.Popen, port: int, log: Path, timeout_s: float = 900) -> None:
    import httpx

    stop = time.perf_counter() + timeout_s
    while time.perf_counter() < stop:
        if proc.poll() is not None:
            raise RuntimeError(f"server on {port} exited; see {log}")
        try:
            httpx.get(f"http://127.0.0.1:{port}/docs", timeout=1.0)
            return
        except httpx.HTTPError:
            time.sleep(0.5)
    proc.terminate()
    raise RuntimeError(f"server on {port} did not start; see {log}")


def request_bytes(path: str, body: dict[str, Any], key: str | None, port: int) -> bytes:
    data = json.dumps(body, separators=(",", ":")).encode()
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n" + (f"X-API-Key: {key}\r\n" if key else "") + "\r\n")
    return head.encode() + data


class Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.r, self.w = reader, writer

    async def call(self, req: bytes) -> int:
        self.w.write(req)
        head = await self.r.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        n = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                n = int(line[15:])
        await self.r.readexactly(n)
        return status


async def _connect(port: int) -> Conn:
    r, w = await asyncio.open_connection("127.0.0.1", port)
    return Conn(r, w)


async def closed_loop(port: int, reqs: list[bytes], conns: int, seconds: float) -> dict[str, float]:
    pool = [await _connect(port) for _ in range(conns)]
    it = iter(reqs)
    done, errors, lat = 0, 0, []
    stop = time.perf_counter() + seconds

    async def run(c: Conn) -> None:
        nonlocal done, errors
        while time.perf_counter() < stop:
            req = next(it, None)
            if req is None:
                return
            t0 = time.perf_counter()
            status = await c.call(req)
            lat.append((time.perf_counter() - t0) * 1000)
            done += 1
            errors += status != 200

    t0 = time.perf_counter()
    await asyncio.gather(*(run(c) for c in pool))
    elapsed = time.perf_counter() - t0
    for c in pool:
        c.w.close()
    return {"rps": done / elapsed, "p50": statistics.median(lat), "p99": pct(lat, 99), "errors": errors, "n": done}


async def open_loop(port: int, reqs: list[bytes], rate: float, seconds: float) -> dict[str, float]:
    """Requests sent at scheduled times (rate per second) whatever the server does."""
    idle: list[Conn] = [await _connect(port) for _ in range(32)]
    n = min(len(reqs), int(rate * seconds))
    lat: list[float] = []
    errors = 0
    start = time.perf_counter() + 0.2

    async def one(i: int) -> None:
        nonlocal errors
        due = start + i / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        c = idle.pop() if idle else await _connect(port)
        status = await c.call(reqs[i])
        lat.append((time.perf_counter() - due) * 1000)
        errors += status != 200
        idle.append(c)

    await asyncio.gather(*(one(i) for i in range(n)))
    achieved = n / (time.perf_counter() - start)
    for c in idle:
        c.w.close()
    return {"offered": rate, "achieved": achieved, "p50": statistics.median(lat), "p99": pct(lat, 99),
            "max": max(lat), "errors": errors, "n": n}


def batch_route(port: int, key: str, orders: list[dict[str, Any]], reps: int = 3) -> float:
    """Order decisions/s of the batch route, 1,000 new orders a batch (median of reps)."""
    import httpx

    out = []
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"X-API-Key": key}, timeout=300) as c:
        for rep in range(reps):
            items = [{**o, "order_id": f"{o['order_id']}-b{rep}"} for o in orders[:1000]]
            t0 = time.perf_counter()
            r = c.post("/v1/orders/decisions:batch", json={"items": items})
            dt = time.perf_counter() - t0
            out.append(sum(1 for x in r.json()["results"] if x["status"] == 200) / dt)
    return statistics.median(out)


class Pool:
    """Distinct new orders, handed out once each (every request decides an order never seen)."""

    def __init__(self, orders: list[dict[str, Any]]) -> None:
        self.orders, self.at = orders, 0

    def take(self, n: int) -> list[dict[str, Any]]:
        if self.at + n > len(self.orders):
            self.at = 0  # reused with new ids
            self.orders = [{**o, "order_id": o["order_id"] + "r"} for o in self.orders]
        part = self.orders[self.at:self.at + n]
        self.at += n
        return part


def http_round(servers: dict[str, dict[str, Any]], pool: Pool, seconds: float, floor_rps: float | None,
               ) -> dict[str, dict[str, float]]:
    """One turn of every measurement on every server (floor first)."""
    out: dict[str, dict[str, float]] = {}
    for name, srv in servers.items():
        port, key = srv["port"], srv["key"]

        def reqs(n: int, port: int = port, key: str | None = key) -> list[bytes]:
            return [request_bytes("/v1/orders/decisions", b, key, port) for b in pool.take(n)]

        r: dict[str, float] = {}
        asyncio.run(closed_loop(port, reqs(200), 4, 1.0))  # warm-up
        for conns in (8, 16):
            sat = asyncio.run(closed_loop(port, reqs(int(seconds * 4000)), conns, seconds))
            r[f"sat{conns}"] = sat["rps"]
            r[f"sat{conns}_errors"] = sat["errors"]
        if name == "floor" and floor_rps is None:
            floor_rps = r["sat16"]
        one = asyncio.run(closed_loop(port, reqs(int(seconds * 3000)), 1, seconds))
        r["c1_p50"], r["c1_p99"] = one["p50"], one["p99"]
        assert floor_rps is not None
        rate = 0.25 * floor_rps
        ol = asyncio.run(open_loop(port, reqs(int(rate * seconds) + 10), rate, seconds))
        r["ol_rate"], r["ol_p50"], r["ol_p99"], r["ol_achieved"] = rate, ol["p50"], ol["p99"], ol["achieved"]
        if name != "floor" and not name.startswith("new x2"):
            r["batch_per_s"] = batch_route(port, key, pool.take(1000))
        r["rss_mb"] = rss_mb(srv["proc"].pid)
        out[name] = r
    return out


def median_of(rounds: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    return {name: {k: statistics.median(r[name][k] for r in rounds) for k in rounds[0][name]}
            for name in rounds[0]}


# ------------------------------------------------------------------------------- one size


def one_size(work: Path, orders: int, args: argparse.Namespace) -> dict[str, Any]:
    from triage.contract import load_dataset

    codes = {"new": HERE.parent.resolve()}
    if args.baseline:
        codes["base"] = Path(args.baseline).resolve()
    sim = history(work, orders)
    homes = {tag: make_home(work, tag, orders, code) for tag, code in codes.items()}
    # in process, alternating codes (each run bootstraps its own worker state)
    inproc: dict[str, list[dict[str, Any]]] = {tag: [] for tag in codes}
    for _ in range(args.reps):
        for tag, code in codes.items():
            inproc[tag].append(run_in_process(code, homes[tag]))
    ip = {tag: {k: statistics.median(r[k] for r in runs) for k in runs[0]} for tag, runs in inproc.items()}
    if args.no_http:
        return {"orders": orders, "in_process": ip, "http": {}}
    # HTTP: every server up front, then measured in turns
    servers: dict[str, dict[str, Any]] = {}
    procs = []
    try:
        log = work / f"server-floor-{orders}.log"
        p = start_server(codes["new"], PORTS["floor"], {}, log, floor=True)
        procs.append((p, PORTS["floor"], log))
        servers["floor"] = {"port": PORTS["floor"], "key": None, "proc": p}
        for tag, code in codes.items():
            log = work / f"server-{tag}-{orders}.log"
            p = start_server(code, PORTS[tag], homes[tag]["env"], log)
            procs.append((p, PORTS[tag], log))
            servers[tag] = {"port": PORTS[tag], "key": homes[tag]["key"], "proc": p}
        extra = []
        if args.coalesce_off:
            extra.append(("new, coalescing off", {"TRIAGE_COALESCE_MAX": "0"}, 1))
        if args.workers2:
            extra.append(("new x2", {}, 2))
        for name, env, workers in extra:
            home = make_home(work, name.replace(" ", "").replace(",", ""), orders, codes["new"])
            log = work / f"server-{name.replace(' ', '_')}-{orders}.log"
            p = start_server(codes["new"], PORTS[name], {**home["env"], **env}, log, workers=workers)
            procs.append((p, PORTS[name], log))
            servers[name] = {"port": PORTS[name], "key": home["key"], "proc": p}
        for p, port, log in procs:
            wait_ready(p, port, log)
        for name in servers:  # the worker has built its indexes once it has decided something
            if name != "floor":
                for _ in range(2):
                    asyncio.run(closed_loop(servers[name]["port"], [request_bytes(
                        "/v1/orders/decisions", o, servers[name]["key"], servers[name]["port"])
                        for o in new_orders(sim, 4, f"ready{uuid.uuid4().hex[:4]}")], 1, 60))
        pool = Pool(new_orders(sim, 60_000, f"h{uuid.uuid4().hex[:4]}", load_dataset(sim)))
        rounds = []
        floor_rps = None
        for _ in range(args.reps):
            rounds.append(http_round(servers, pool, args.seconds, floor_rps))
            floor_rps = statistics.median(r["floor"]["sat16"] for r in rounds)
        http = median_of(rounds)
    finally:
        for p, _, _ in procs:
            p.terminate()
        for p, _, _ in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
    return {"orders": orders, "in_process": ip, "http": http}


# ------------------------------------------------------------------------------- report


def report(res: dict[str, Any], reps: int) -> None:
    ip, http = res["in_process"], res["http"]
    if not http:
        http = {"floor": {}}
    cols = [c for c in ("floor", "new", "base", "new, coalescing off", "new x2") if c in http]
    print(f"\n=== {res['orders']:,} orders of history (medians of {reps} turns)")
    print(f"{'':<44}" + "".join(f"{c:>22}" for c in cols) + ("       new / base" if "base" in http else ""))

    def row(label: str, key: str, fmt: str = "{:.0f}", src: dict[str, dict[str, float]] = http,
            want: tuple[str, ...] = ()) -> None:
        vals = [src.get(c, {}).get(key) for c in cols]
        if all(v is None for v in vals):
            return
        cells = "".join(f"{(fmt.format(v) if v is not None else '-'):>22}" for v in vals)
        ratio = ""
        if "base" in src and "new" in src and src["base"].get(key):
            ratio = f"{src['new'][key] / src['base'][key]:>15.2f}x"
        print(f"{label:<44}{cells}{ratio}")

    row("saturation, 8 conns (req/s)", "sat8")
    row("saturation, 16 conns (req/s)", "sat16")
    fl = http["floor"]
    for c in (cols[1:] if fl else []):
        print(f"{'  ratio to the floor, 8 / 16 conns':<44}{c:>22}: {http[c]['sat8'] / fl['sat8']:.2f} / "
              f"{http[c]['sat16'] / fl['sat16']:.2f}  (target >= 0.5)")
    row("1 conn p50 (ms)", "c1_p50", "{:.2f}")
    row("1 conn p99 (ms)   target <= 15", "c1_p99", "{:.2f}")
    if fl:
        print(f"{'open loop at 25 % of the floor (req/s)':<44}{fl['ol_rate']:>22.0f}")
    row("  achieved (req/s)", "ol_achieved")
    row("  p50 (ms)", "ol_p50", "{:.2f}")
    row("  p99 (ms)   target <= 15", "ol_p99", "{:.2f}")
    row("batch route, 1,000 a batch (decisions/s)", "batch_per_s")
    row("server RSS after bootstrap + run (MB)", "rss_mb")
    icols = [c for c in ("new", "base") if c in ip]
    print(f"{'in process':<44}" + "".join(f"{c:>22}" for c in icols))
    for label, key, fmt in (("worker RSS after bootstrap (MB)", "rss_mb", "{:.0f}"),
                            ("bootstrap (s)", "load_s", "{:.1f}"),
                            ("index entries", "entries", "{:.0f}"), ("index MB", "index_mb", "{:.0f}"),
                            ("record MB", "record_mb", "{:.0f}"),
                            ("one decision p50 (CPU ms) target <= 0.5", "decide_p50", "{:.3f}"),
                            ("one decision p99 (CPU ms)", "decide_p99", "{:.3f}"),
                            ("one decision p50 (wall ms)", "decide_wall_p50", "{:.3f}"),
                            ("online features p50 (CPU ms)", "features_p50", "{:.3f}"),
                            ("apply one event p50 (CPU us) target <= 50", "apply_us_p50", "{:.1f}"),
                            ("apply one event p99 (CPU us)", "apply_us_p99", "{:.1f}"),
                            ("decide_many 1,000 (CPU ms)", "decide_many_ms", "{:.0f}")):
        cells = "".join(f"{fmt.format(ip[c][key]):>22}" for c in icols)
        ratio = f"{ip['new'][key] / ip['base'][key]:>15.2f}x" if "base" in ip and ip["base"][key] else ""
        print(f"{label:<44}{cells}{ratio}")
    if "new x2" in http:
        print(f"--workers 2 vs 1, saturation 16 conns: {http['new x2']['sat16'] / http['new']['sat16']:.2f}x")
    if "new, coalescing off" in http:
        off = http["new, coalescing off"]
        print(f"coalescer on / off, saturation 8 / 16 conns: {http['new']['sat8'] / off['sat8']:.2f}x / "
              f"{http['new']['sat16'] / off['sat16']:.2f}x")
    sys.stdout.flush()


def flatness(results: list[dict[str, Any]]) -> None:
    if len(results) < 2:
        return
    a, b = results[0], results[-1]
    print(f"\n=== flat cost: new code at {b['orders']:,} against {a['orders']:,} orders (target within 1.5x)")
    for label, src, key in (("saturation 16 conns", "http", "sat16"), ("1 conn p99", "http", "c1_p99"),
                            ("open loop p99", "http", "ol_p99"), ("batch route", "http", "batch_per_s"),
                            ("one decision p50", "in_process", "decide_p50"),
                            ("apply one event p50", "in_process", "apply_us_p50"),
                            ("decide_many 1,000", "in_process", "decide_many_ms")):
        if "new" not in a[src] or "new" not in b[src]:
            continue
        x, y = a[src]["new"][key], b[src]["new"][key]
        print(f"  {label:<24} {x:10.3f} -> {y:10.3f}   {y / x:.2f}x")
    for tag in ("new", "base"):
        if tag in a["in_process"]:
            da = b["in_process"][tag]["rss_mb"] - a["in_process"][tag]["rss_mb"]
            per_m = da / (b["orders"] - a["orders"]) * 1e6
            print(f"  worker RSS per million orders of history ({tag}): {per_m:.0f} MB (target <= 1024)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default="/tmp/triage-bench-api2")
    ap.add_argument("--orders", type=int, nargs="+", default=[20_000, 200_000])
    ap.add_argument("--baseline", help="another checkout to measure in the same run (same venv, PYTHONPATH)")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--workers2", action="store_true", help="also the new code with --workers 2")
    ap.add_argument("--coalesce-off", action="store_true", help="also the new code with TRIAGE_COALESCE_MAX=0")
    ap.add_argument("--no-http", action="store_true", help="only the in-process figures (no servers)")
    ap.add_argument("--in-process", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.in_process:
        print(json.dumps(in_process()))
        return
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    bundles(work)
    print(f"code {HERE.parent}" + (f", baseline {args.baseline}" if args.baseline else "")
          + f"; bundles ready in {time.perf_counter() - t0:.0f} s; {os.cpu_count()} cores")
    results = []
    for n in args.orders:
        t0 = time.perf_counter()
        res = one_size(work, n, args)
        results.append(res)
        report(res, args.reps)
        print(f"({time.perf_counter() - t0:.0f} s)")
    flatness(results)


if __name__ == "__main__":
    main()
