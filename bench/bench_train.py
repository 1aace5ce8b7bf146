"""Benchmark: simulate a retailer, train all three models, print quality vs oracle and baselines, and timings.

    python bench/bench_train.py --orders 200000            # quality targets (issue 3)
    python bench/bench_train.py --orders 1000000 --register  # the 10-minute training budget

Uses a temporary MLflow store unless --tracking-uri is given. Run by hand; not a test.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from training.train import train_all
from triage.contract import load_dataset
from triage.settings import Settings
from triage.simulator import simulate

TARGETS = {
    # head: (metric, comparison, target ratio to the oracle)
    "late": ("roc_auc", ">=", 0.97),
    "fraud": ("pr_auc", ">=", 0.90),
    "abuse": ("pr_auc", ">=", 0.90),
    "disposition": ("log_loss", "<=", 1.10),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--orders", type=int, default=200_000)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--data", type=Path, help="an existing contract folder (skips simulation)")
    ap.add_argument("--register", action="store_true", help="log, register and gate in MLflow too")
    ap.add_argument("--save-bundles", type=Path, help="also write the trained bundles here (for bench_score)")
    ap.add_argument("--tracking-uri", help="MLflow store (default: a temporary SQLite store)")
    args = ap.parse_args()

    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data
        if data is None:
            data = Path(tmp) / "data"
            t0 = time.perf_counter()
            simulate(data, orders=args.orders, days=args.days, seed=args.seed, fmt="parquet")
            print(f"simulate {args.orders} orders / {args.days} days: {time.perf_counter() - t0:.1f}s")
        t0 = time.perf_counter()
        ds = load_dataset(data)
        print(f"load_dataset: {time.perf_counter() - t0:.1f}s")
        uri = args.tracking_uri or f"sqlite:///{Path(tmp) / 'mlruns' / 'mlflow.db'}"
        (Path(tmp) / "mlruns").mkdir(exist_ok=True)
        settings = Settings(mlflow_tracking_uri=uri, mlruns_dir=Path(tmp) / "mlruns")
        t0 = time.perf_counter()
        result = train_all(ds, settings=settings, register=args.register, progress=lambda m: print("  " + m))
        t_train = time.perf_counter() - t0
        if args.save_bundles:
            from models import save_bundle

            for name, r in result.models.items():
                save_bundle(r.bundle, args.save_bundles / f"{name}.joblib")

    print()
    print(f"train_all (features + fit + evaluate{' + MLflow' if args.register else ''}): {t_train:.1f}s")
    print(f"total including simulate and load: {time.perf_counter() - t_all:.1f}s")
    print()
    print(
        f"{'head':12} {'metric':10} {'model':>8} {'prior':>8} {'logistic':>8} {'oracle':>8} {'ratio':>7}  target"
    )
    for r in result.models.values():
        for t, h in r.heads.items():
            metric, op, target = TARGETS[t]
            m = {
                ref: h.metrics[ref].get(metric, float("nan"))
                for ref in ("model", "prior", "logistic", "oracle")
                if ref in h.metrics
            }
            ratio = m["model"] / m["oracle"] if "oracle" in m else float("nan")
            ok = (ratio >= target) if op == ">=" else (ratio <= target)
            print(
                f"{t:12} {metric:10} {m['model']:8.4f} {m['prior']:8.4f} {m['logistic']:8.4f} "
                f"{m.get('oracle', float('nan')):8.4f} {ratio:7.3f}  {op} {target} {'OK' if ok else 'MISSED'}"
            )
    for t in ("fraud", "abuse"):
        for r in result.models.values():
            if t in r.heads:
                h = r.heads[t].metrics
                print(
                    f"{t} at top 1 %: recall {h['model']['recall_at_capacity']:.3f} "
                    f"(oracle {h.get('oracle', {}).get('recall_at_capacity', float('nan')):.3f}), "
                    f"precision {h['model']['precision_at_capacity']:.3f} "
                    f"(oracle {h.get('oracle', {}).get('precision_at_capacity', float('nan')):.3f})"
                )
    for name, why in result.skipped.items():
        print(f"{name}: skipped — {why}")


if __name__ == "__main__":
    main()
