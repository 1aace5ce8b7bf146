"""Decisions through the event bus, beside the HTTP batch route, in one run.

    .venv/bin/python bench/bench_bus.py [--work DIR] [--n 3000] [--rate 200] [--seconds 8]

Prepares what `bench_api.py` prepares (cached in --work: a simulated retailer, real bundles
trained on it, the online state bootstrapped from it). Then, for NATS JetStream
(127.0.0.1:4222) and RabbitMQ (127.0.0.1:5672), each with ONE `triage consume` process
(defaults: batch_max 64, max_in_flight 256) over a fresh prefix:

1. backlog throughput: --n new orders published before the consumer starts; decisions/s
   from the consumer's ready line to the last decision received by a subscriber (fetch,
   validation, features, models, policy, audit commit, publish confirmation, ack);
2. end to end at a constant offered load of --rate orders/s for --seconds: latency from the
   scheduled publish time to the decision received, p50/p99 (open loop: a stall is not hidden).

Then the HTTP batch route (one uvicorn worker, same stores and bundles): decisions/s with
batches of 1,000 and of 64 (the consumer's batch size), and a 64-batch's request latency.
Everything runs on this machine: the publisher and subscriber share the cores with the
consumer, as the HTTP client shares them with the server.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("OMP_NUM_THREADS", "1")

import bench_api  # noqa: E402  (the shared preparation, order factory and HTTP helpers)

URLS = {"nats": os.environ.get("TRIAGE_TEST_NATS_URL", "nats://127.0.0.1:4222"),
        "amqp": os.environ.get("TRIAGE_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")}
NAMES = {"nats": "NATS JetStream", "amqp": "RabbitMQ"}


def pct(xs: list[float], q: float) -> float:
    return bench_api.pct(xs, q) if xs else float("nan")


class Side:
    """The retailer's side: publishes orders (Event-Id = order id), times the decisions received."""

    def __init__(self, scheme: str, config: Any) -> None:
        self.scheme, self.config = scheme, config
        self.received: dict[str, float] = {}
        self.conn: Any = None
        self.ch: Any = None
        self.js: Any = None

    async def open(self) -> None:
        c = self.config
        if self.scheme == "nats":
            import nats

            self.conn = await nats.connect(URLS["nats"])
            self.js = self.conn.jetstream()
            await self.js.add_stream(name=c.stream, subjects=c.stream_subjects)

            async def got(msg: Any) -> None:
                self.received[orjson.loads(msg.data)["event_id"]] = time.perf_counter()

            await self.conn.subscribe(c.name("decisions"), cb=got)
        else:
            import aio_pika

            self.conn = await aio_pika.connect(URLS["amqp"])
            self.ch = await self.conn.channel()
            for what in ("orders", "returns", "outcomes", "deadletter"):
                await self.ch.declare_queue(c.name(what), durable=True)
            q = await self.ch.declare_queue(c.name("decisions"), durable=True)

            async def got_amqp(msg: Any) -> None:
                self.received[orjson.loads(msg.body)["event_id"]] = time.perf_counter()

            await q.consume(got_amqp, no_ack=True)

    async def publish(self, order: dict[str, Any]) -> None:
        data = orjson.dumps(order)
        if self.scheme == "nats":
            await self.js.publish(self.config.name("orders"), data, headers={"Event-Id": order["order_id"]})
        else:
            import aio_pika

            await self.ch.default_exchange.publish(
                aio_pika.Message(data, headers={"Event-Id": order["order_id"]},
                                 delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                routing_key=self.config.name("orders"))

    async def wait(self, ids: list[str], timeout: float) -> None:
        deadline = time.perf_counter() + timeout
        while not all(i in self.received for i in ids):
            if time.perf_counter() > deadline:
                missing = sum(1 for i in ids if i not in self.received)
                raise RuntimeError(f"{missing} of {len(ids)} decisions not received after {timeout} s")
            await asyncio.sleep(0.01)

    async def close(self) -> None:
        c = self.config
        if self.scheme == "nats":
            await self.js.delete_stream(c.stream)
        else:
            for what in ("orders", "returns", "outcomes", "decisions", "deadletter"):
                await self.ch.queue_delete(c.name(what))
        await self.conn.close()


def start_consumer(scheme: str, config: Any, env: dict[str, str], log: Path) -> tuple[subprocess.Popen, float]:
    cmd = [sys.executable, "-m", "triage", "consume", "--broker", URLS[scheme], "--prefix", config.prefix,
           "--stream", config.stream, "--durable", config.durable, "--metrics-port", "0"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.PIPE,
                            stderr=log.open("w"), text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if "ready" in line:
            return proc, time.perf_counter()
    raise RuntimeError(f"triage consume did not start; see {log}")


async def one_broker(scheme: str, prep: dict[str, Any], args: argparse.Namespace) -> dict[str, float]:
    from api.bus.config import BusConfig
    from api.server import settings_env

    tag = uuid.uuid4().hex[:8]
    config = BusConfig(prefix=f"bench{tag}", stream=f"BENCH{tag}", durable=f"bench{tag}")
    env = {**settings_env(prep["settings"]), "TRIAGE_BUS_FETCH_TIMEOUT_SECONDS": "0.2"}
    n_rate = int(args.rate * args.seconds)
    orders = bench_api.new_orders(prep["sim"], args.n + n_rate + 50, f"{scheme}{tag}")
    side = Side(scheme, config)
    await side.open()
    proc = None
    try:
        backlog = orders[:args.n]
        for i in range(0, len(backlog), 200):
            await asyncio.gather(*(side.publish(o) for o in backlog[i:i + 200]))
        proc, ready = await asyncio.to_thread(start_consumer, scheme, config, env,
                                              Path(args.work) / f"consume-{scheme}.log")
        await side.wait([o["order_id"] for o in backlog], timeout=600)
        last = max(side.received[o["order_id"]] for o in backlog)
        per_s = len(backlog) / (last - ready)
        warm = orders[args.n:args.n + 50]
        await asyncio.gather(*(side.publish(o) for o in warm))
        await side.wait([o["order_id"] for o in warm], timeout=60)
        paced = orders[args.n + 50:]
        sent: dict[str, float] = {}
        start = time.perf_counter() + 0.1
        tasks = []
        for i, o in enumerate(paced):
            at = start + i / args.rate
            delay = at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            sent[o["order_id"]] = at
            tasks.append(asyncio.create_task(side.publish(o)))
        await asyncio.gather(*tasks)
        await side.wait(list(sent), timeout=120)
        lat = [(side.received[k] - t) * 1000 for k, t in sent.items()]
        return {"per_s": per_s, "p50": pct(lat, 50), "p99": pct(lat, 99), "n": len(backlog), "paced": len(lat)}
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
        await side.close()


def http_batches(prep: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    import httpx

    from api.server import settings_env

    env = {**settings_env(prep["settings"]), "TRIAGE_RETENTION_DAYS": "3650"}
    orders = bench_api.new_orders(prep["sim"], 2000 + args.n, f"http{uuid.uuid4().hex[:4]}")
    proc = bench_api.start_server("api.app:app_from_env", 8741, env, Path(args.work) / "server-8741.log")
    try:
        big = bench_api.batch_bench(8741, prep["key"], orders[:2000], reps=3)
        small = orders[2000:]
        times, n = [], 0
        with httpx.Client(base_url="http://127.0.0.1:8741", headers={"X-API-Key": prep["key"]}, timeout=60) as c:
            t_all = time.perf_counter()
            for i in range(0, len(small), 64):
                t0 = time.perf_counter()
                r = c.post("/v1/orders/decisions:batch", json={"items": small[i:i + 64]})
                times.append((time.perf_counter() - t0) * 1000)
                n += sum(1 for x in r.json()["results"] if x["status"] == 200)
            per_s = n / (time.perf_counter() - t_all)
        return {"1000": big, "64": {"per_s": per_s, "p50": pct(times, 50), "p99": pct(times, 99), "n": n}}
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default="/tmp/triage-bench-bus")
    ap.add_argument("--n", type=int, default=3000, help="orders in the backlog per broker")
    ap.add_argument("--rate", type=float, default=200.0, help="offered orders/s for the latency run")
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--brokers", default="nats,amqp")
    args = ap.parse_args()
    Path(args.work).mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    prep = bench_api.prepare(Path(args.work))
    print(f"prepared in {time.perf_counter() - t0:.0f} s (home {prep['settings'].home})", flush=True)
    results: dict[str, dict[str, float]] = {}
    for scheme in args.brokers.split(","):
        results[scheme] = asyncio.run(one_broker(scheme, prep, args))
        r = results[scheme]
        print(f"{NAMES[scheme]}: {r['per_s']:.0f} decisions/s ({r['n']} backlog); "
              f"e2e at {args.rate:.0f}/s p50 {r['p50']:.1f} ms, p99 {r['p99']:.1f} ms", flush=True)
    http = http_batches(prep, args)
    base = http["64"]["per_s"]
    print(f"\n{'path':<40} {'decisions/s':>12} {'vs HTTP batch 64':>17} {'p50 ms':>8} {'p99 ms':>8}")
    for scheme, r in results.items():
        print(f"{NAMES[scheme] + ' consume (1 process)':<40} {r['per_s']:>12.0f} {r['per_s'] / base:>16.2f}x "
              f"{r['p50']:>8.1f} {r['p99']:>8.1f}   (publish → decision received, {args.rate:.0f}/s offered)")
    print(f"{'HTTP batch route, 64 a request':<40} {base:>12.0f} {1.0:>16.2f}x "
          f"{http['64']['p50']:>8.1f} {http['64']['p99']:>8.1f}   (per request of 64)")
    b = http["1000"]
    print(f"{'HTTP batch route, 1,000 a request':<40} {b['median_per_s']:>12.0f} "
          f"{b['median_per_s'] / base:>16.2f}x {'':>8} {'':>8}   (median of 3; best {b['decisions_per_s']:.0f})")
    print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
