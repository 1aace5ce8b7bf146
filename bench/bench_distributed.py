"""Benchmark features on the distributed engine against the single-process path, same data, same run.

Run by hand (once: it is heavy): `python bench/bench_distributed.py --data DIR [--orders N]
[--workers 2] [--partitions 8]`. DIR is a Parquet contract folder (simulated with `--orders N`
into DIR when it has no orders yet). Each side runs in its own process, so each peak is its own:

- single: `load_dataset` + `build_order_features` + `build_return_features` in one process —
  wall time and the process's peak RSS;
- dask: `triage.engine` local cluster of `--workers` worker processes, `write_features` —
  wall time, every worker's peak RSS and the client's.

Prints the figures and the ratios (dask / single) for wall time and peak RSS per process.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_single(data: str) -> dict:
    from features import build_order_features, build_return_features
    from triage.contract import load_dataset

    t0 = time.perf_counter()
    ds = load_dataset(data)
    rows = len(build_order_features(ds)) + len(build_return_features(ds))
    return {"seconds": time.perf_counter() - t0, "rows": rows, "peak_mb": _peak_mb()}


def run_dask(data: str, workers: int, partitions: int) -> dict:
    from training.engine_jobs import write_features
    from triage.engine import connect

    with tempfile.TemporaryDirectory() as out, connect(None, workers=workers, processes=True) as (client, _):
        t0 = time.perf_counter()
        result = write_features(client, data, out, partitions=partitions)
        seconds = time.perf_counter() - t0
        worker_peaks = client.run(_peak_mb)
    return {"seconds": seconds, "rows": sum(result.outputs.values()), "peak_mb": _peak_mb(),
            "worker_peak_mb": sorted(worker_peaks.values())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", required=True)
    ap.add_argument("--orders", type=int, default=1_000_000)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--side", choices=("single", "dask"), help=argparse.SUPPRESS)  # one side, in a child
    args = ap.parse_args()
    if args.side == "single":
        print(json.dumps(run_single(args.data)))
        return
    if args.side == "dask":
        print(json.dumps(run_dask(args.data, args.workers, args.partitions)))
        return
    if not (Path(args.data) / "orders.parquet").exists():
        from triage.simulator import simulate

        t0 = time.perf_counter()
        simulate(Path(args.data), orders=args.orders, days=args.days, seed=7, fmt="parquet")
        print(f"simulated {args.orders:,} orders in {time.perf_counter() - t0:.0f} s")
    figures = {}
    for side in ("single", "dask"):
        cmd = [sys.executable, __file__, "--data", args.data, "--side", side, "--workers", str(args.workers),
               "--partitions", str(args.partitions)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(f"{side}: failed\n{done.stderr[-2000:]}")
            return
        figures[side] = json.loads(done.stdout.strip().splitlines()[-1])
    s, d = figures["single"], figures["dask"]
    print(f"data: {args.data}; feature rows (orders + returns): single {s['rows']:,}, dask {d['rows']:,}")
    print(f"single process : {s['seconds']:7.1f} s   peak RSS {s['peak_mb']:8.0f} MB")
    print(f"dask, {args.workers} workers: {d['seconds']:7.1f} s   peak RSS per worker "
          f"{', '.join(f'{m:.0f}' for m in d['worker_peak_mb'])} MB; client {d['peak_mb']:.0f} MB "
          f"({args.partitions} partitions)")
    print(f"ratios dask / single: wall {d['seconds'] / s['seconds']:.2f}x, "
          f"largest worker peak {max(d['worker_peak_mb']) / s['peak_mb']:.2f}x of the single process's")


if __name__ == "__main__":
    main()
