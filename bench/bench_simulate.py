"""Benchmark `triage.simulator.simulate`: wall time, rows/s and peak memory.

Run by hand: `python bench/bench_simulate.py [--orders N] [--days D] [--format csv|parquet]`.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

from triage.simulator import simulate


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--orders", type=int, default=1_000_000)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--format", choices=("csv", "parquet"), default="csv")
    ap.add_argument("--out", type=Path, default=None, help="keep the output here (default: a temp dir)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp) / "sim"
        started = time.perf_counter()
        summary = simulate(out, orders=args.orders, days=args.days, seed=args.seed, fmt=args.format)
        wall = time.perf_counter() - started
        size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(summary)
    rows = sum(summary.rows.values())
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(f"orders:        {args.orders:,} over {args.days} days ({args.format})")
    print(f"wall time:     {wall:.1f} s   (target: 1,000,000 orders < 180 s)")
    print(f"throughput:    {args.orders / wall:,.0f} orders/s, {rows / wall:,.0f} rows/s (all tables)")
    print(f"peak RSS:      {peak_kb / 1024:,.0f} MiB")
    print(f"output size:   {size / 2**20:,.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
