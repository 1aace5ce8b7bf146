"""What applying one event to a worker's in-memory online indexes costs (run by hand).

    /work/venv/bin/python bench/bench_online_apply.py [--data DIR] [--n 1000] [--reps 5]

Builds the worker state as `OnlineState._rebuild` does (an `IndexedStore` bootstrapped from
the contract folder --data; simulated there first, as `bench_api.py` prepares it, when the
folder is missing), then times, for --n new orders shaped like the simulated ones
(`bench_api.new_orders`), applied one by one through `OnlineState._apply` (the log
catch-up's path):

1. scratch apply + undo (the batch route's what-if state): the n applies inside
   `IndexedStore.scratch()`, then the undo on exit — the same orders each rep;
2. real apply: n orders never seen before each rep, later than the rep before (the state
   grows by n per rep).

Prints the median (and min) CPU ms of the applying thread per n events over --reps (CPU
time, so that other processes on a shared machine do not count). To compare with another commit,
run this file with PYTHONPATH pointing at that commit's checkout (it imports the code
under test before anything else, and prints where it came from).
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import features.online
import triage.stores.online_index
from triage.contract import load_dataset
from triage.stores.online import _PRESENT, OnlineState

HERE = Path(__file__).resolve().parent


def _bench_api() -> Any:
    """`bench_api.py` for its `new_orders` (loaded after the code under test is imported)."""
    spec = importlib.util.spec_from_file_location("bench_api", HERE / "bench_api.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def build_state(sim: Path) -> OnlineState:
    """A worker's state bootstrapped from `sim`, without a log (as `_rebuild` leaves it)."""
    state = OnlineState(None)
    state.online.bootstrap(load_dataset(sim))
    state.online.present = frozenset(state.online.present | _PRESENT)
    gc.freeze()
    return state


def apply_all(state: OnlineState, orders: list[dict[str, Any]]) -> float:
    """CPU ms of this thread (other processes on a shared machine do not count)."""
    t0 = time.thread_time()
    for o in orders:
        state._apply(("order", dict(o)))
    return (time.thread_time() - t0) * 1000


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("/tmp/triage-bench-api/sim"))
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args(argv)

    print(f"code: {Path(features.online.__file__).parent.parent}  "
          f"({Path(triage.stores.online_index.__file__).name})")
    if not args.data.exists():
        from triage.simulator import simulate

        simulate(args.data, orders=20_000, days=90, seed=5)
    api = _bench_api()
    t0 = time.perf_counter()
    state = build_state(args.data)
    print(f"bootstrap: {time.perf_counter() - t0:.1f} s")
    fresh = api.new_orders(args.data, args.n * (args.reps + 1), "apply")  # later and later
    batches = [fresh[r * args.n:(r + 1) * args.n] for r in range(args.reps + 1)]
    scratch_orders = batches.pop()

    applies, undos, reals = [], [], []
    store = state.store
    for r in range(args.reps):
        cm = store.scratch()
        cm.__enter__()
        applies.append(apply_all(state, scratch_orders))
        t0 = time.thread_time()
        cm.__exit__(None, None, None)
        undos.append((time.thread_time() - t0) * 1000)
        reals.append(apply_all(state, batches[r]))

    def show(name: str, xs: list[float]) -> None:
        print(f"{name:<24} median {statistics.median(xs):8.1f} ms  min {min(xs):8.1f} ms  "
              f"per event {statistics.median(xs) / args.n * 1000:6.1f} us")

    print(f"{args.n} orders, {args.reps} reps")
    show("scratch apply", applies)
    show("scratch undo", undos)
    show("real apply (new ids)", reals)
    return 0


if __name__ == "__main__":
    sys.exit(main())
