"""Benchmark: every dataset shape through the whole chain; prints shape × stage and key metrics.

    python bench/bench_shapes.py                       # every shape, 6,000 simulated orders
    python bench/bench_shapes.py --orders 20000 --shapes one_node late_1pct
    python bench/bench_shapes.py --cli null_optional_columns no_optional_tables

Each shape (`triage.simulator.shapes`) transforms one simulated retailer, is written as a
CSV contract folder and goes through validate → train (the real learner settings) → score →
backtest → policy tune → serve (one new order and one new return, then up to `--serve-orders`
out-of-time orders) → monitor (on `--monitor` shapes), in-process (`tests/shape_chain.py`). A cell is `ok`,
`skipped` (with the product's one-line reason, listed under the table) or `FAILED`.

`--cli SHAPE …` also runs the real commands (`triage validate / features / train / score /
backtest / policy tune / monitor`, each a separate process, MLflow registration included) on
those shapes and reports each command's exit code and whether a traceback reached the user.
Run by hand; not a test.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.shape_chain import chain_cutoff, run_chain  # noqa: E402
from triage.contract import load_dataset  # noqa: E402
from triage.simulator import simulate  # noqa: E402
from triage.simulator.shapes import SHAPES, ShapeContext, apply_shape, tables_of, write_dataset  # noqa: E402

STAGES = ("validate", "train", "score", "backtest", "tune", "serve", "monitor")
METRICS = (("late_roc_auc", "late AUC"), ("fraud_pr_auc", "fraud AP"), ("abuse_pr_auc", "abuse AP"),
           ("disposition_log_loss", "disp LL"))


def _cli(folder: Path, work: Path, cutoff) -> list[tuple[str, int, bool, str]]:
    """Run the real commands on `folder`; (command, exit code, traceback shown, last stderr line)."""
    env = {**os.environ, "TRIAGE_HOME": str(work / "home"),
           "MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlflow.db'}"}
    env.pop("TRIAGE_DEBUG", None)
    exe = str(Path(sys.executable).parent / "triage")
    since = cutoff.isoformat()
    commands = [
        ["validate", str(folder)],
        ["features", "--data", str(folder), "--out", str(work / "features")],
        ["train", "--data", str(folder), "--cutoff", since],
        ["score", "--data", str(folder), "--out", str(work / "scores"), "--since", since],
        ["backtest", "--data", str(folder), "--html", str(work / "backtest.html")],
        ["policy", "tune", "--data", str(folder), "--out", str(work / "policy.yaml")],
        ["monitor", "--out", str(work / "monitor")],
    ]
    out = []
    for cmd in commands:
        p = subprocess.run([exe, *cmd], env=env, capture_output=True, text=True, cwd=work)
        err = [line for line in p.stderr.splitlines() if line.strip() and "Warning" not in line]
        out.append((" ".join(cmd[:2] if cmd[0] == "policy" else cmd[:1]), p.returncode,
                    "Traceback" in p.stderr, err[-1][:160] if err else ""))
    return out


def _status(r, stage: str) -> str:
    return next((s.status for s in r.stages if s.name == stage), "-")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--orders", type=int, default=6000)
    ap.add_argument("--days", type=int, default=150)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--shapes", nargs="*", default=list(SHAPES), choices=list(SHAPES), metavar="SHAPE")
    ap.add_argument("--serve-orders", type=int, default=250, help="out-of-time orders posted for the monitor")
    ap.add_argument("--monitor", nargs="*", default=["as_simulated", "null_optional_columns", "one_node"],
                    choices=list(SHAPES), metavar="SHAPE",
                    help="shapes that also go through the monitor (Evidently: ~1 min each)")
    ap.add_argument("--cli", nargs="*", default=[], choices=list(SHAPES), metavar="SHAPE",
                    help="also run the real commands on these shapes")
    ap.add_argument("--keep", type=Path, help="keep the shaped datasets and state here")
    args = ap.parse_args()

    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-shapes-"))
    t0 = time.perf_counter()
    simulate(root / "sim", orders=args.orders, days=args.days, seed=args.seed, fmt="parquet")
    ds = load_dataset(root / "sim")
    tables, cutoff = tables_of(ds), chain_cutoff(ds["orders"])
    print(f"simulated {args.orders} orders over {args.days} days in {time.perf_counter() - t0:.0f}s; "
          f"cut-off {cutoff.isoformat()}")

    results, cutoffs = [], {}
    for name in args.shapes:
        t1 = time.perf_counter()
        shaped = apply_shape(SHAPES[name], tables, ShapeContext(cutoff=cutoff))
        folder = write_dataset(shaped, root / name / "data")
        at = cutoffs[name] = min(cutoff, chain_cutoff(shaped["orders"]))  # fewer orders: a cut-off inside them
        r = run_chain(name, folder, root / name / "work", cutoff=at, monitor=name in args.monitor,
                      serve_orders=args.serve_orders if name in args.monitor else 0)
        results.append((r, time.perf_counter() - t1))
        cells = " ".join(f"{s.name}={s.status}" for s in r.stages)
        print(f"  {name:<30} {time.perf_counter() - t1:6.1f}s  {cells}", flush=True)

    width = max(len(n) for n in args.shapes)
    head = f"{'shape':<{width}}  " + "  ".join(f"{s:<8}" for s in STAGES) + "  " + \
        "  ".join(f"{label:>9}" for _, label in METRICS) + f"  {'seconds':>7}"
    print("\n" + head + "\n" + "-" * len(head))
    for r, secs in results:
        cells = "  ".join(f"{_status(r, s):<8}" for s in STAGES)
        mets = "  ".join(f"{r.metrics[k]:9.3f}" if k in r.metrics else f"{'-':>9}" for k, _ in METRICS)
        print(f"{r.shape:<{width}}  {cells}  {mets}  {secs:7.1f}")
    failed = sum(bool(r.failed) for r, _ in results)
    print(f"\n{len(results)} shapes, {failed} with a FAILED stage; "
          f"{sum(s.status == 'skipped' for r, _ in results for s in r.stages)} stages skipped with a reason")
    print("\nreasons given (skipped models and stages, failures):")
    for r, _ in results:
        for model, why in r.skipped.items():
            print(f"  {r.shape}: {model} — {why}")
        for s in r.stages:
            if s.status != "ok" or s.name in ("backtest", "monitor"):
                print(f"  {r.shape}/{s.name} {s.status}: {s.detail[:240]}")

    for name in args.cli:
        work = root / name / "cli"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        print(f"\nreal commands on {name}:")
        for cmd, rc, tb, last in _cli(root / name / "data", work, cutoffs.get(name, cutoff)):
            print(f"  triage {cmd:<12} exit {rc}  {'TRACEBACK' if tb else 'no traceback'}  {last}")
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
