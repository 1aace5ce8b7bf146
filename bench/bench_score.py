"""Benchmark: batch scoring of a contract folder, and the single-row paths the API uses.

    python bench/bench_score.py --orders 1000000                   # simulate, train, then time scoring
    python bench/bench_score.py --data DIR --bundles DIR          # reuse data and saved bundles

Prints: feature building and prediction times for all orders and returns (the 2-minute
budget is for 1,000,000 orders), and per-row latency of encode / predict / reasons
(path attribution and exact TreeSHAP) on real feature rows. Run by hand; not a test.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from models import load_bundle, save_bundle
from training.featureset import default_feature_source
from training.score import score_dataset, write_scores
from training.train import train_all
from triage.contract import load_dataset
from triage.simulator import simulate


def _per_call_us(fn, n: int) -> tuple[float, float]:
    times = np.empty(n)
    for i in range(n):
        t0 = time.perf_counter()
        fn(i)
        times[i] = time.perf_counter() - t0
    return float(np.median(times) * 1e6), float(np.quantile(times, 0.99) * 1e6)


def _row_timings(bundle, rows: list[dict]) -> dict[str, tuple[float, float]]:
    enc = [bundle.encode_row(r) for r in rows]
    n = len(rows)
    return {
        "encode_row": _per_call_us(lambda i: bundle.encode_row(rows[i]), n),
        "predict_row": _per_call_us(lambda i: bundle.predict_row(rows[i], enc[i]), n),
        "reasons path": _per_call_us(lambda i: bundle.explain_row(rows[i], encoded=enc[i], method="path"), n),
        "reasons shap": _per_call_us(
            lambda i: bundle.explain_row(rows[i], encoded=enc[i], method="shap"), min(n, 500)
        ),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--orders", type=int, default=1_000_000)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--data", type=Path)
    ap.add_argument("--bundles", type=Path, help="folder of <name>.joblib bundles (else: train first)")
    ap.add_argument("--rows", type=int, default=2000, help="rows for the single-row timings")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        data = args.data
        if data is None:
            data = Path(tmp) / "data"
            simulate(data, orders=args.orders, days=args.days, seed=args.seed, fmt="parquet")
        t0 = time.perf_counter()
        ds = load_dataset(data)
        print(
            f"load_dataset: {time.perf_counter() - t0:.1f}s ({len(ds['orders'])} orders, {len(ds['returns'])} returns)"
        )
        if args.bundles:
            bundles = {p.stem: load_bundle(p) for p in sorted(args.bundles.glob("triage-*.joblib"))}
        else:
            t0 = time.perf_counter()
            result = train_all(ds, register=False, progress=lambda _m: None)
            bundles = {name: r.bundle for name, r in result.models.items()}
            print(f"(trained first, not timed as scoring: {time.perf_counter() - t0:.1f}s)")
            for name, b in bundles.items():
                save_bundle(b, Path(tmp) / "bundles" / f"{name}.joblib")

        t0 = time.perf_counter()
        orders, returns = score_dataset(ds, bundles=bundles, progress=lambda m: print("  " + m))
        t_score = time.perf_counter() - t0
        t0 = time.perf_counter()
        write_scores(orders, returns, Path(tmp) / "out")
        t_write = time.perf_counter() - t0
        print(
            f"score_dataset: {t_score:.1f}s for {len(orders)} orders + {len(returns)} returns; "
            f"writing CSVs {t_write:.1f}s; total {t_score + t_write:.1f}s"
        )

        source = default_feature_source()
        print(f"\nsingle row ({args.rows} real rows; median / p99 µs):")
        for name, bundle in bundles.items():
            recent = ds.max_event_time - np.timedelta64(3, "D")  # real rows, without rebuilding all history
            frame = source.build(ds, bundle.entity, since=recent).head(args.rows)
            rows = [{k: (None if v != v else v) for k, v in r.items()} for r in frame.to_dict("records")]
            results = _row_timings(bundle, rows)
            trees = {t: h.estimator.booster_.num_trees() for t, h in bundle.heads.items()}
            print(f"  {name} (trees {trees}):")
            for what, (p50, p99) in results.items():
                print(f"    {what:14} {p50:8.1f} / {p99:8.1f}")
            head = bundle.risk_head
            Xm = head.estimator.encode(frame)
            from models.explain import shap_contributions

            a = head.explainer.contributions(head.estimator.forest_, Xm)
            s = shap_contributions(head.estimator.booster_, Xm)
            top_a, top_s = np.argsort(-a, axis=1)[:, :3], np.argsort(-s, axis=1)[:, :3]
            same1 = np.mean(top_a[:, 0] == top_s[:, 0])
            overlap = np.mean([len(set(x) & set(y)) / 3 for x, y in zip(top_a, top_s, strict=True)])
            print(f"    path vs SHAP: top-1 reason agrees {same1:.0%}, top-3 overlap {overlap:.0%}")


if __name__ == "__main__":
    main()
