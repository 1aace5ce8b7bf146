"""Benchmark of the offline feature pipelines (run by hand).

    python bench/bench_features.py --data DIR                 # an existing contract folder
    python bench/bench_features.py --orders 1000000 [--data DIR] [--format parquet]
                                                              # simulate first (triage.simulator)

Prints load time, order- and return-feature times, rows/s and peak RSS. Target: order
features for 1,000,000 orders in under 60 s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, help="contract folder to read (or to simulate into with --orders)")
    ap.add_argument("--orders", type=int, help="simulate this many orders first (needs triage.simulator)")
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--format", choices=("csv", "parquet"), default="parquet")
    args = ap.parse_args(argv)
    if args.data is None and args.orders is None:
        ap.error("give --data DIR, --orders N, or both")

    data = args.data or Path(tempfile.mkdtemp(prefix="bench_features_"))
    if args.orders:
        try:
            from triage.simulator import simulate
        except ImportError:
            print("triage.simulator.simulate is not available; pass --data DIR", file=sys.stderr)
            return 2
        t = time.perf_counter()
        simulate(data, orders=args.orders, days=args.days, seed=args.seed, fmt=args.format)
        print(f"simulate        {time.perf_counter() - t:8.1f} s  ({args.orders:,} orders → {data})")

    from features import build_order_features, build_return_features
    from triage.contract import load_dataset

    t = time.perf_counter()
    ds = load_dataset(data)
    load_s = time.perf_counter() - t
    n_orders, n_returns = len(ds["orders"]), len(ds["returns"])
    print(f"load            {load_s:8.1f} s  ({n_orders:,} orders, {len(ds['order_lines']):,} lines, "
          f"{n_returns:,} returns)")

    t = time.perf_counter()
    of = build_order_features(ds)
    order_s = time.perf_counter() - t
    print(f"order features  {order_s:8.1f} s  ({n_orders / order_s:,.0f} rows/s, {of.shape[1]} columns)"
          f"  target < 60 s per 1M orders: {'OK' if order_s * 1e6 / max(n_orders, 1) < 60 else 'MISSED'}")

    t = time.perf_counter()
    rf = build_return_features(ds)
    ret_s = time.perf_counter() - t
    print(f"return features {ret_s:8.1f} s  ({n_returns / max(ret_s, 1e-9):,.0f} rows/s, {rf.shape[1]} columns)")
    print(f"peak RSS        {_peak_rss_mb():8.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
