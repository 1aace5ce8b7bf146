"""The API's speed, measured in one run against the HTTP floor (loopback, 1 worker).

    /work/venv/bin/python bench/bench_api.py [--work DIR] [--seconds 8] [--rate 300] [--conns 16] [--coalesce-off]

Prepares (once, cached in --work): a simulated retailer (20k orders, 90 days), real
bundles trained on it (delay, fraud, returns), the online state bootstrapped from it
(the snapshot in the SQLite log in the home folder; each worker builds its in-memory
indexes from it), and an API key. Then prints:

1. in-process decision: online features + both order models + policy (+ reason codes
   for every non-release decision), no HTTP, no audit — p50/p99;
2. audit writes: durable decisions/s from 16 threads, one commit each vs group commit;
3. HTTP, each server alone on 127.0.0.1 with one uvicorn worker: a bare FastAPI
   endpoint that validates the same body and returns it (the floor), and
   `POST /v1/orders/decisions` — saturation throughput (closed loop, --conns
   connections) and p50/p99 at a constant offered load of --rate req/s (open loop:
   send times are scheduled, latency counts from the scheduled time, so a stall is
   not hidden); every request is a distinct new order;
4. the batch route: order decisions/s with batches of 1,000.

Targets (issue 5): p99 ≤ 15 ms at 300 req/s; saturation ≥ 50 % of the bare endpoint's;
batch ≥ 10,000 decisions/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_NUM_THREADS", "1")  # as the API process sets it (api/app.py)


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


def prepare(work: Path) -> dict[str, Any]:
    from models import save_bundle
    from training.train import train_all
    from triage.contract import load_dataset
    from triage.keys import create_key
    from triage.settings import Settings
    from triage.simulator import simulate

    sim, bundles = work / "sim", work / "bundles"
    if not (bundles / "triage-fraud.joblib").exists():
        shutil.rmtree(work, ignore_errors=True)
        simulate(sim, orders=20_000, days=90, seed=5)
        result = train_all(load_dataset(sim), register=False, fraud_label_window_days=14, progress=lambda _m: None)
        for name, m in result.models.items():
            save_bundle(m.bundle, bundles / f"{name}.joblib")
    home = work / f"home-{uuid.uuid4().hex[:6]}"
    settings = Settings(home=home, bundle_dir=bundles, bootstrap_dir=sim)
    key = create_key(settings, "bench", "decide,outcomes,read")
    return {"settings": settings, "key": key, "sim": sim}


def new_orders(sim: Path, n: int, tag: str) -> list[dict[str, Any]]:
    """n distinct new orders shaped like the simulated ones, after the history's end."""
    import pandas as pd

    from triage.contract import load_dataset
    from triage.schema import TABLES

    ds = load_dataset(sim)
    orders = ds["orders"]
    end = orders["created_at"].max() + pd.Timedelta(hours=1)
    lines = {k: g.to_dict("records") for k, g in ds["order_lines"].groupby("order_id")}
    out = []
    base = orders.sample(n, replace=True, random_state=0).to_dict("records")
    for i, r in enumerate(base):
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
                          for k in ("line_no", "sku", "quantity", "unit_price")} for x in lines[r["order_id"]]]
        out.append(body)
    return out


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs), q))


# ------------------------------------------------------------------------------- in process


def in_process(prep: dict[str, Any], n: int = 2000) -> dict[str, float]:
    from api.schemas import OrderEvent
    from triage.service import load_services

    t_load = time.perf_counter()
    services = load_services(prep["settings"])
    load_s = time.perf_counter() - t_load
    stats = services.online.store.stats()  # type: ignore[union-attr]
    events = [OrderEvent.model_validate(b).model_dump() for b in new_orders(prep["sim"], n, "inproc")]
    for ev in events[:50]:
        services.decide("order", ev)
    times, non_release, with_model_reasons, degraded = [], 0, 0, 0
    for ev in events:
        t0 = time.perf_counter()
        d = services.decide("order", ev)
        times.append((time.perf_counter() - t0) * 1000)
        degraded += bool(d.response.get("degraded"))
        if d.response.get("actions") != ["release"]:
            non_release += 1
            with_model_reasons += any(r.get("source") == "model" for r in d.response.get("reasons", []))
    # features alone, and a non-release decision's explanation alone
    f_times = []
    for ev in events[:500]:
        t0 = time.perf_counter()
        services.online.features("order", ev)  # type: ignore[union-attr]
        f_times.append((time.perf_counter() - t0) * 1000)
    feats = services.online.features("order", events[0])  # type: ignore[union-attr]
    x_times = []
    for b in services.bundles["order"]:
        enc = b.encode_row(feats)
        for _ in range(300):
            t0 = time.perf_counter()
            b.explain_row(feats, encoded=enc, method="path")
            x_times.append((time.perf_counter() - t0) * 1000)
    shap_times = []
    from models.explain import shap_contributions

    for b in services.bundles["order"]:
        head = b.risk_head
        enc = b.encode_row(feats)[head.target]
        for _ in range(30):
            t0 = time.perf_counter()
            shap_contributions(head.estimator.booster_, enc)
            shap_times.append((time.perf_counter() - t0) * 1000)
    trees = {b.name: b.risk_head.estimator.booster_.num_trees() for b in services.bundles["order"]}
    services.online.close()  # type: ignore[union-attr]
    return {
        "p50": statistics.median(times), "p99": pct(times, 99), "n": n,
        "non_release": non_release, "with_model_reasons": with_model_reasons, "degraded": degraded,
        "features_p50": statistics.median(f_times), "features_p99": pct(f_times, 99),
        "explain_path_p50": statistics.median(x_times), "explain_shap_p50": statistics.median(shap_times),
        "trees": trees, "load_s": load_s, "stats": stats,
    }


# ------------------------------------------------------------------------------- audit writes


def audit_writes(work: Path, seconds: float = 3.0, threads: int = 16) -> dict[str, float]:
    from datetime import UTC, datetime

    from triage.stores import DecisionRecord, open_store

    out = {}
    for mode in ("one commit per decision", "group commit"):
        path = work / f"audit-{uuid.uuid4().hex[:6]}.db"
        store = open_store(f"sqlite:///{path}")
        store.group_commit = mode == "group commit"  # type: ignore[attr-defined]
        now = datetime.now(UTC)
        stop = time.perf_counter() + seconds
        counts = [0] * threads
        lat: list[float] = []

        def worker(i: int, store: Any = store, counts: list[int] = counts, lat: list[float] = lat,
                   stop: float = stop, now: datetime = now) -> None:
            while time.perf_counter() < stop:
                did = str(uuid.uuid4())
                rec = DecisionRecord(decision_id=did, kind="order", event_id=did, event_time=now,
                                     idempotency_key=f"order:id:{did}", body_hash="x", request={"a": 1},
                                     features={"f": 1.0}, scores={}, actions=["release"], reasons=[],
                                     priority=1.0, policy_version="p", models={}, degraded=False,
                                     latency_ms=1.0, received_at=now, api_key=None, response={"ok": 1})
                t0 = time.perf_counter()
                store.insert_decisions([rec])
                lat.append((time.perf_counter() - t0) * 1000)
                counts[i] += 1

        ts = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        c = getattr(store, "_committer", None)
        out[mode] = {"per_s": sum(counts) / seconds, "p50_ms": statistics.median(lat), "p99_ms": pct(lat, 99),
                     "group": (c.records / c.commits) if c and c.commits else 1.0}
        store.close()
    return out


# ------------------------------------------------------------------------------- HTTP


def start_server(app: str, port: int, env: dict[str, str], log: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "uvicorn", app, "--factory", "--host", "127.0.0.1", "--port", str(port),
           "--workers", "1", "--no-access-log", "--log-level", "warning", "--app-dir", str(ROOT / "bench")]
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **env}, stdout=log.open("w"),
                            stderr=subprocess.STDOUT)
    import httpx

    for _ in range(300):
        try:
            httpx.get(f"http://127.0.0.1:{port}/docs", timeout=0.5)
            return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.terminate()
    raise RuntimeError(f"server {app} did not start; see {log}")


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


def http_bench(prep: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    from api.server import settings_env

    settings = prep["settings"]
    env = settings_env(settings)
    env["TRIAGE_RETENTION_DAYS"] = "3650"
    logs = Path(args.work)
    results: dict[str, Any] = {}
    per_run = int(args.seconds * 2500) + int(args.rate * args.seconds) + 100
    orders = new_orders(prep["sim"], per_run * 2 + 2000, f"http{uuid.uuid4().hex[:4]}")
    servers = [("bare endpoint", "bench_api:bare_app", None, 8731, {}),
               ("POST /v1/orders/decisions", "api.app:app_from_env", prep["key"], 8732, {})]
    if args.coalesce_off:  # the same route deciding each request alone: the coalescer's baseline
        servers.append(("  ... coalescing off", "api.app:app_from_env", prep["key"], 8734,
                        {"TRIAGE_COALESCE_MAX": "0"}))
    for name, app, key, port, extra in servers:
        proc = start_server(app, port, {**env, **extra}, logs / f"server-{port}.log")
        try:
            reqs = [request_bytes("/v1/orders/decisions", b, key, port) for b in orders]
            asyncio.run(closed_loop(port, reqs[:300], 4, 2.0))  # warm up
            sat = asyncio.run(closed_loop(port, reqs[300:300 + per_run], args.conns, args.seconds))
            time.sleep(0.5)
            ol = asyncio.run(open_loop(port, reqs[300 + per_run:], args.rate, args.seconds))
            results[name] = {"saturation": sat, "open_loop": ol}
            if key and not extra:
                results["batch"] = batch_bench(port, key, orders[-2000:])
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    return results


def batch_bench(port: int, key: str, orders: list[dict[str, Any]], reps: int = 5) -> dict[str, float]:
    import httpx

    # the batch route decides events it has not seen; re-id them so they are new. Each batch
    # after the first also pays for applying the previous batch's 1,000 events to the indexes.
    out = []
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"X-API-Key": key}, timeout=120) as c:
        for rep in range(reps):
            items = [{**o, "order_id": f"{o['order_id']}-b{rep}"} for o in orders[:1000]]
            t0 = time.perf_counter()
            r = c.post("/v1/orders/decisions:batch", json={"items": items})
            dt = time.perf_counter() - t0
            ok = sum(1 for x in r.json()["results"] if x["status"] == 200)
            out.append(ok / dt)
    return {"decisions_per_s": max(out), "median_per_s": statistics.median(out), "batch": 1000}


def in_process_batch(prep: dict[str, Any], reps: int = 5) -> dict[str, float]:
    """The batch path without HTTP and audit: `decide_many` over 1,000 new orders (features read
    per index for the batch, one encoding and one predict per head, policy per order), and the
    batch's online features alone."""
    from api.schemas import OrderEvent
    from triage.service import load_services

    services = load_services(prep["settings"])
    events = [OrderEvent.model_validate(b).model_dump() for b in new_orders(prep["sim"], 1000, "inbatch")]
    services.decide_many("order", events[:50])
    total, feats = [], []
    for _ in range(reps):
        t0 = time.perf_counter()
        services.decide_many("order", events)
        total.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        services.online.features_many("order", events)  # type: ignore[union-attr]
        feats.append(time.perf_counter() - t0)
    services.online.close()  # type: ignore[union-attr]
    return {"decide_many_ms": statistics.median(total) * 1000, "features_ms": statistics.median(feats) * 1000,
            "per_s": 1000 / statistics.median(total)}


def batch_only(prep: dict[str, Any]) -> dict[str, Any]:
    """Just the batch route over HTTP (one uvicorn worker), after a short warm-up."""
    from api.server import settings_env

    env = settings_env(prep["settings"])
    env["TRIAGE_RETENTION_DAYS"] = "3650"
    orders = new_orders(prep["sim"], 2000, f"bo{uuid.uuid4().hex[:4]}")
    proc = start_server("api.app:app_from_env", 8733, env, Path(prep["settings"].home) / "server-8733.log")
    try:
        return batch_bench(8733, prep["key"], orders)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# ------------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default="/tmp/triage-bench-api")
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--rate", type=float, default=300.0)
    ap.add_argument("--conns", type=int, default=16)
    ap.add_argument("--batch-only", action="store_true", help="only the batch measurements (in process, HTTP)")
    ap.add_argument("--coalesce-off", action="store_true",
                    help="also measure the decision route with TRIAGE_COALESCE_MAX=0 (each request decided alone)")
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    prep = prepare(work)
    print(f"prepared in {time.perf_counter() - t0:.1f} s: {prep['settings'].home}")

    ib = in_process_batch(prep)
    print(f"\n== in-process batch of 1,000 orders (decide_many, no HTTP/audit): {ib['decide_many_ms']:.0f} ms"
          f" ({ib['per_s']:.0f} decisions/s); of which online features {ib['features_ms']:.0f} ms")
    if args.batch_only:
        bo = batch_only(prep)
        print(f"\n== batch route: {bo['median_per_s']:.0f} order decisions/s median, {bo['decisions_per_s']:.0f} best,"
              " in batches of 1,000 (target ≥ 10,000)")
        return

    ip = in_process(prep)
    print("\n== in-process decision (online features [in-memory indexes, SQLite log] + delay + fraud models"
          " + policy), no HTTP/audit")
    st = ip["stats"]
    print(f"  worker start (snapshot -> indexes): {ip['load_s']:.1f} s; {st['entries']} entries in {st['series']}"
          f" series, index {st['index_bytes'] / 1e6:.0f} MB + records {st['record_bytes'] / 1e6:.0f} MB")
    print(f"  p50 {ip['p50']:.2f} ms   p99 {ip['p99']:.2f} ms   over {ip['n']} new orders; degraded {ip['degraded']}")
    print(f"  non-release decisions {ip['non_release']}, with model reason codes {ip['with_model_reasons']}")
    print(f"  online features alone: p50 {ip['features_p50']:.2f} ms  p99 {ip['features_p99']:.2f} ms")
    print(f"  reason codes per model: path attribution {ip['explain_path_p50'] * 1000:.0f} µs vs "
          f"TreeSHAP pred_contrib {ip['explain_shap_p50'] * 1000:.0f} µs  (trees: {ip['trees']})")

    aw = audit_writes(work)
    print("\n== audit writes (SQLite WAL, synchronous=FULL), 16 threads")
    for mode, r in aw.items():
        print(f"  {mode:<26} {r['per_s']:8.0f} decisions/s   p50 {r['p50_ms']:.2f} ms  p99 {r['p99_ms']:.2f} ms"
              f"   mean group {r['group']:.1f}")

    hb = http_bench(prep, args)
    print(f"\n== HTTP, loopback, 1 worker, {args.seconds:.0f} s per measurement, distinct events")
    for name in [n for n in hb if n != "batch"]:
        s, o = hb[name]["saturation"], hb[name]["open_loop"]
        print(f"  {name}")
        print(f"    saturation ({args.conns} conns): {s['rps']:7.0f} req/s  p50 {s['p50']:.1f} ms  p99 {s['p99']:.1f} ms"
              f"  errors {s['errors']}")
        print(f"    open loop {o['offered']:.0f} req/s: achieved {o['achieved']:.0f}  p50 {o['p50']:.2f} ms"
              f"  p99 {o['p99']:.2f} ms  max {o['max']:.1f} ms  errors {o['errors']}")
    ratio = hb["POST /v1/orders/decisions"]["saturation"]["rps"] / hb["bare endpoint"]["saturation"]["rps"]
    print(f"  saturation ratio decisions / bare: {ratio:.0%} (target ≥ 50 %)")
    if "  ... coalescing off" in hb:
        off = hb["  ... coalescing off"]["saturation"]["rps"]
        print(f"  coalescing on / off: {hb['POST /v1/orders/decisions']['saturation']['rps'] / off:.2f}x"
              f" (off: {off / hb['bare endpoint']['saturation']['rps']:.0%} of bare)")
    print(f"  p99 at {args.rate:.0f} req/s: {hb['POST /v1/orders/decisions']['open_loop']['p99']:.2f} ms (target ≤ 15 ms)")
    print(f"\n== batch route: {hb['batch']['median_per_s']:.0f} order decisions/s median,"
          f" {hb['batch']['decisions_per_s']:.0f} best, in batches of 1,000 (target ≥ 10,000)")


if __name__ == "__main__":
    main()
