"""The batch feature read alone: `features.batch.order_values_many` for 1,000 new orders.

    /work/venv/bin/python bench/bench_batch_features.py [--root CHECKOUT] [--repeat 15] [--n 1000]

Uses bench_api's cached retailer (20k orders, 90 days; prepared in --work on first run)
and its online state (in-memory indexes built from the SQLite log), then times
`order_values_many` on n distinct new orders — the windows read per index plus the
formulas after the reads — and prints the median and quartiles in ms. `--root`: the
checkout to import (e.g. a `git worktree` of an older commit, to compare in one run).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    ap.add_argument("--work", type=Path, default=Path("/tmp/triage-bench-api"))
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--n", type=int, default=1000)
    args = ap.parse_args()
    root = args.root.resolve()
    sys.path[:0] = [str(root), str(root / "bench")]
    import bench_api

    from api.schemas import OrderEvent
    from features import batch
    from features.online import _plain
    from triage.decision.model_loading import load_services
    from triage.stores.online import _order_row

    assert Path(batch.__file__).resolve().is_relative_to(root), batch.__file__
    prep = bench_api.prepare(args.work)
    state = load_services(prep["settings"]).online
    events = [OrderEvent.model_validate(b).model_dump()
              for b in bench_api.new_orders(prep["sim"], args.n, "bench-features")]
    rows = [_plain(_order_row(e)) for e in events]
    lines = [[_plain(x) for x in e.get("lines") or []] for e in events]
    customers = [None] * len(events)
    online = state.online
    batch.order_values_many(online, rows[:50], lines[:50], customers[:50])  # warm
    took = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        batch.order_values_many(online, rows, lines, customers)
        took.append((time.perf_counter() - t0) * 1000)
    q = statistics.quantiles(took, n=4)
    print(f"order_values_many, {args.n} orders ({root}): median {statistics.median(took):.1f} ms "
          f"(q1 {q[0]:.1f}, q3 {q[2]:.1f}; {args.repeat} runs)")


if __name__ == "__main__":
    main()
