"""Benchmark features on the distributed engine against the single-process path, same data, same run.

Run by hand (once: it is heavy): `python bench/bench_distributed.py --data DIR [--orders N]
[--workers 2] [--partitions 8]`. DIR is a Parquet contract folder (simulated with `--orders N`
into DIR when it has no orders yet). Each side runs in its own process, so each peak is its own:

- single: `load_dataset` + `build_order_features` + `build_return_features` in one process —
  wall time and the process's peak RSS;
- dask: `triage.engine` local cluster of `--workers` worker processes (each limited to
  `--worker-memory`, spilling to disk above it), `write_features` — wall time, every worker's
  peak RSS and the client's.

Each side is stopped when the RSS of its processes together passes `--max-gb` (the machine is
shared): the figure then says where it stopped. The load average is printed beside the figures.
`--job train` compares `train_all` with `train_on_engine` (no MLflow) and prints each head's
test Brier score.

Measured on this 2-core machine shared with other engineers' runs (simulated orders, seed 7,
365 days; `--worker-memory 4GiB`/`4.5GiB`, `--max-gb 10`/`10.5`; CPU = user + system seconds of
the side's processes, workers included):

| job, orders | side | wall | CPU | peak RSS | load avg (start → end) |
|---|---|---|---|---|---|
| features, 1 M | single process | 121 s | 75 s | 6.4 GB | 7.0 → 3.8 |
| features, 1 M | 2 workers, 8 partitions | 368 s | 323 s | 3.0 / 3.2 GB per worker, client 0.3 GB | 3.8 → 11.7 |
| features, 5 M | single process | stopped at 10.5 GB after 260 s (still loading and building: would need ~32 GB) | | > 10.5 GB | 2.2 → 4.2 |
| features, 5 M | 2 workers, 32 partitions, one task per file | failed after 144 s: the 5 M-row files were one task each, workers passed 4.5 GiB and were restarted | | 7.7 GB (all processes) | 4.2 → 3.2 |
| features, 5 M | 2 workers, 32 partitions, a task per row group (before the fix below) | stopped at the 14:55 slot end after 1,218 s, still partitioning the tables (no stage finished) | | 2.2 GB (all processes) | 1.2 → 9.4 |
| features, 5 M (2026-12-05) | 2 workers, 32 partitions, a task per row group, `--worker-memory 4.5GiB` | **2,717 s** (tables partitioned 43 s, order features 2,451 s, return features 224 s; 5,614,000 rows) | 4,621 s | **4.2 / 4.4 GB per worker**, client 1.0 GB (8.0 GB all processes) | 5.0 → 4.0 |

The stall was the client building the graph, not the workers: dask 2026.8 re-optimises and
culls the whole graph behind every list of delayed pieces given as one argument, so the
exchanges (a task taking one piece from each of n sources) cost O(graph) each to build —
quadratic. `features.partitioned._call` passes the pieces as arguments of their own: at 100 k
orders and 32 partitions, graph building 48 → 9.6 s and the whole run 267 → 140 s.
| train, 20 k | single process | 21 s | 17 s | 0.6 GB | 2.2 → 2.6 |
| train, 20 k | 2 workers, 4 partitions | 187 s | 84 s | 0.5 / 0.7 GB per worker, client 0.4 GB | 2.6 → 6.2 |

The previous engine (dask-expr `set_index` shuffles over p2p) took 1,373 s at 1 M (load ~15)
against 196 s in one process. At 20 k, training on the engine is dominated by fixed costs
(each `lightgbm.dask` chunk sets up its network and datasets: ~10 s); the test Brier scores
of the two sides agree within 0.002 on every head.

Prints the figures and the ratios (dask / single) for wall time and peak RSS per process.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu() -> float:
    """This process's CPU seconds (user + system): comparable under load, unlike wall time."""
    t = os.times()
    return t.user + t.system


def run_single(data: str) -> dict:
    from features import build_order_features, build_return_features
    from triage.contract import load_dataset

    t0 = time.perf_counter()
    ds = load_dataset(data)
    rows = len(build_order_features(ds)) + len(build_return_features(ds))
    return {"seconds": time.perf_counter() - t0, "rows": rows, "peak_mb": _peak_mb(), "cpu_s": _cpu()}


def run_single_train(data: str) -> dict:
    from training.train import train_all
    from triage.contract import load_dataset

    t0 = time.perf_counter()
    result = train_all(load_dataset(data), register=False, progress=lambda _m: None)
    return {"seconds": time.perf_counter() - t0, "rows": len(result.models), "peak_mb": _peak_mb(), "cpu_s": _cpu(),
            "metrics": _metrics(result)}


def _metrics(result) -> dict:
    return {f"{m.name}/{t}": round(h.metrics["model"].get("brier", float("nan")), 5)
            for m in result.models.values() for t, h in m.heads.items()}


def run_dask_train(data: str, workers: int, partitions: int, worker_memory: str) -> dict:
    from training.engine_train import train_on_engine
    from triage.engine import connect

    with connect(None, workers=workers, processes=True, memory_limit=worker_memory) as (client, info):
        t0 = time.perf_counter()
        result = train_on_engine(client, info, data, partitions=partitions, register=False,
                                 progress=lambda m: print(f"  [{time.perf_counter() - t0:6.0f} s] {m}",
                                                          file=sys.stderr, flush=True))
        seconds = time.perf_counter() - t0
        worker_peaks = client.run(_peak_mb)
        worker_cpu = client.run(_cpu)
    return {"seconds": seconds, "rows": len(result.models), "peak_mb": _peak_mb(),
            "worker_peak_mb": sorted(worker_peaks.values()), "cpu_s": _cpu() + sum(worker_cpu.values()),
            "metrics": _metrics(result)}


def run_dask(data: str, workers: int, partitions: int, worker_memory: str) -> dict:
    from training.engine_jobs import write_features
    from triage.engine import connect

    with tempfile.TemporaryDirectory() as out, \
            connect(None, workers=workers, processes=True, memory_limit=worker_memory) as (client, _):
        t0 = time.perf_counter()
        result = write_features(client, data, out, partitions=partitions,
                                progress=lambda m: print(f"  [{time.perf_counter() - t0:6.0f} s] {m}", file=sys.stderr,
                                                         flush=True))
        seconds = time.perf_counter() - t0
        worker_peaks = client.run(_peak_mb)
        worker_cpu = client.run(_cpu)
    return {"seconds": seconds, "rows": sum(result.outputs.values()), "peak_mb": _peak_mb(),
            "worker_peak_mb": sorted(worker_peaks.values()), "cpu_s": _cpu() + sum(worker_cpu.values())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", required=True)
    ap.add_argument("--orders", type=int, default=1_000_000)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--worker-memory", default="4GiB", help="each worker's memory limit (spills above)")
    ap.add_argument("--max-gb", type=float, default=10.0, help="stop a side whose processes pass this RSS")
    ap.add_argument("--sides", default="single,dask")
    ap.add_argument("--stop-after", type=float, default=None, metavar="SECONDS",
                    help="stop a side still running after this long (its progress so far is in the log)")
    ap.add_argument("--stop-at", default=None, metavar="HH:MM",
                    help="stop a side still running at this UTC time of day (a shared machine's slot)")
    ap.add_argument("--job", choices=("features", "train"), default="features",
                    help="features: write_features; train: every model, without MLflow (Brier per head printed)")
    ap.add_argument("--side", choices=("single", "dask"), help=argparse.SUPPRESS)  # one side, in a child
    args = ap.parse_args()
    if args.side == "single":
        print(json.dumps((run_single_train if args.job == "train" else run_single)(args.data)))
        return
    if args.side == "dask":
        job = run_dask_train if args.job == "train" else run_dask
        print(json.dumps(job(args.data, args.workers, args.partitions, args.worker_memory)))
        return
    if not (Path(args.data) / "orders.parquet").exists():
        from triage.simulator import simulate

        t0 = time.perf_counter()
        simulate(Path(args.data), orders=args.orders, days=args.days, seed=7, fmt="parquet")
        print(f"simulated {args.orders:,} orders in {time.perf_counter() - t0:.0f} s")
    if args.stop_at:
        import datetime as dt

        now = dt.datetime.now(dt.UTC)
        h, m = (int(x) for x in args.stop_at.split(":"))
        left = (now.replace(hour=h, minute=m, second=0, microsecond=0) - now).total_seconds()
        args.stop_after = left if args.stop_after is None else min(args.stop_after, left)
    figures = {}
    for side in args.sides.split(","):
        cmd = [sys.executable, __file__, "--data", args.data, "--side", side, "--workers", str(args.workers),
               "--partitions", str(args.partitions), "--worker-memory", args.worker_memory, "--job", args.job]
        print(f"{side}: start, load average {os.getloadavg()}", flush=True)
        figures[side] = _run_capped(cmd, args.max_gb, args.stop_after)
        print(f"{side}: {json.dumps(figures[side])}, load average {os.getloadavg()}", flush=True)
        if "metrics" in figures[side]:
            print(f"{side}: test Brier per head {figures[side]['metrics']}")
    s, d = figures.get("single"), figures.get("dask")
    print(f"data: {args.data}; job: {args.job}" + ("" if args.job == "features" else " (rows = models trained)"))
    for side, f in figures.items():
        if "failed" in f:
            print(f"{side:>15}: {f['failed']} after {f['seconds']:.0f} s (peak RSS of its processes "
                  f"{f['tree_peak_mb']:.0f} MB)")
        elif side == "single":
            print(f"single process : {f['seconds']:7.1f} s ({f['cpu_s']:.0f} CPU s)   peak RSS {f['peak_mb']:8.0f} MB   "
                  f"rows {f['rows']:,}")
        else:
            print(f"dask, {args.workers} workers: {f['seconds']:7.1f} s ({f['cpu_s']:.0f} CPU s)   peak RSS per worker "
                  f"{', '.join(f'{m:.0f}' for m in f['worker_peak_mb'])} MB; client {f['peak_mb']:.0f} MB "
                  f"({args.partitions} partitions, rows {f['rows']:,})")
    if s and d and "failed" not in s and "failed" not in d:
        print(f"ratios dask / single: wall {d['seconds'] / s['seconds']:.2f}x, "
              f"largest worker peak {max(d['worker_peak_mb']) / s['peak_mb']:.2f}x of the single process's")


def _run_capped(cmd: list[str], max_gb: float, stop_after: float | None = None) -> dict:
    """Run one side in a child; stop it (and its workers) when their RSS together passes max_gb or
    it runs past `stop_after` seconds. Its progress lines (stderr) go to this process's stderr."""
    import psutil

    t0 = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=None, text=True)
    proc, tree_peak = psutil.Process(child.pid), 0.0
    while child.poll() is None:
        try:
            rss = sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)]) / 2**20
        except psutil.Error:
            rss = 0.0
        tree_peak = max(tree_peak, rss)
        late = stop_after is not None and time.perf_counter() - t0 > stop_after
        if rss > max_gb * 1024 or late:
            for p in [*proc.children(recursive=True), proc]:
                with contextlib.suppress(psutil.Error):
                    p.kill()
            child.wait()
            why = f"still running after {stop_after:g} s" if late else f"its processes passed {max_gb:g} GB"
            return {"failed": f"stopped: {why}", "seconds": time.perf_counter() - t0, "tree_peak_mb": tree_peak}
        time.sleep(0.5)
    out, _ = child.communicate()
    if child.returncode != 0:
        return {"failed": f"exit {child.returncode} (its error is above)", "seconds": time.perf_counter() - t0,
                "tree_peak_mb": tree_peak}
    result = json.loads(out.strip().splitlines()[-1])
    result["tree_peak_mb"] = tree_peak
    return result


if __name__ == "__main__":
    main()
