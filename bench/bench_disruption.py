"""Benchmark: delay ranking through a month-long transport strike the model never saw in training.

    python bench/bench_disruption.py --data /tmp/sim11            # a simulated retailer (triage simulate)
    python bench/bench_disruption.py --orders 80000 --seed 11      # simulate one first

A strike is laid over an existing dataset: for deliveries due in a 30-day window after the
training cut-off, each delivery area (postcode prefix) gets a severity drawn once, ramping
up over the first days, and that share of its orders is delivered 1–4 days after the
promise. The delay model is trained at the cut-off (before the strike) twice in the same
run — with every order feature, and without the features that read recent or regional
outcomes (the 3-day, delivery-area and route late rates, the vendors' 7-day rate) — and
both score every order created in the strike window, features computed point in time from
the strike-hit history. Printed: ROC-AUC over the strike window and over the 30 days before
it, for both, and their ratio. Run by hand; not a test.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from features.orders import RECENT_LATE_RATES
from features.outcomes import late_labels
from features.streams import ship_areas
from models import SPECS
from training.featureset import default_feature_source
from training.split import delay_events
from training.train import train_risk
from triage.contract import Dataset, load_dataset
from triage.simulator import simulate

RECENT = [f"{label}_{kind}_{wl}" for label, wl, _ in RECENT_LATE_RATES for kind in ("late_rate", "known")]
RECENT += ["vendor_late_rate_max_7d", "vendor_late_rate_mean_7d"]


def with_strike(ds: Dataset, start: pd.Timestamp, days: int, seed: int) -> Dataset:
    """The dataset with a strike over deliveries promised in [start, start + days)."""
    rng = np.random.default_rng(seed)
    orders = ds["orders"]
    fo = ds["fulfillment_outcomes"].set_index("order_id")
    promised = orders.set_index("order_id")["promised_at"]
    due = promised[(promised >= start) & (promised < start + pd.Timedelta(days=days))]
    area = pd.Series(ship_areas(orders.set_index("order_id").loc[due.index, "shipping_postcode"]), index=due.index)
    codes, uniques = pd.factorize(area)
    severity = rng.uniform(0.05, 0.8, len(uniques) + 1)[np.where(codes < 0, len(uniques), codes)]
    ramp = np.clip((due - start).dt.total_seconds().to_numpy() / (4 * 86_400), 0.2, 1.0)
    hit = due.index[rng.random(len(due)) < severity * ramp]
    fo = fo.copy()
    in_fo = hit.intersection(fo.index)
    delay = pd.to_timedelta(rng.uniform(1, 4, len(in_fo)), unit="D")
    fo.loc[in_fo, "delivered_at"] = promised.loc[in_fo] + delay
    fo.loc[in_fo, "cancelled"] = False
    tables = dict(ds.tables)
    tables["fulfillment_outcomes"] = fo.reset_index()
    return Dataset(tables=tables, present=ds.present, source=None, report=ds.report)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, help="an existing contract folder (else one is simulated)")
    ap.add_argument("--orders", type=int, default=80_000)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--strike-days", type=int, default=30)
    ap.add_argument("--before-end-days", type=int, default=45, help="strike starts this many days before the end")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        data = args.data
        if data is None:
            data = Path(tmp) / "data"
            simulate(data, orders=args.orders, seed=args.seed, fmt="parquet")
        ds = load_dataset(data)
    end = ds["orders"]["created_at"].max()
    start = (end - pd.Timedelta(days=args.before_end_days)).floor("D")
    struck = with_strike(ds, start, args.strike_days, args.seed)
    t0 = time.perf_counter()
    source = default_feature_source()
    frame = source.build(struck, "order")
    print(f"order features on the struck history: {time.perf_counter() - t0:.1f}s")
    labels = late_labels(struck, end + pd.Timedelta(days=30)).astype(bool)
    created = frame["created_at"]
    windows = {"30 days before": (created >= start - pd.Timedelta(days=30)) & (created < start),
               "strike window": (created >= start) & (created < start + pd.Timedelta(days=args.strike_days))}
    for name, mask in windows.items():
        ids = frame.index[mask.to_numpy()].intersection(labels.index)
        print(f"{name}: {len(ids)} orders, late {labels.loc[ids].mean():.1%}")
    events = delay_events(struck, start)
    assert not isinstance(events, str), events
    all_names = source.order_features
    without = [n for n in all_names if n not in RECENT]
    results: dict[str, dict[str, float]] = {}
    for label, names in (("all features", all_names), ("without recent/regional rates", without)):
        src = default_feature_source()
        src.order_features = names
        t0 = time.perf_counter()
        r = train_risk(SPECS["delay"], events, frame, struck, source=src, progress=lambda _m: None)
        head = r.bundle.heads["late"]
        results[label] = {}
        for name, mask in windows.items():
            ids = frame.index[mask.to_numpy()].intersection(labels.index)
            p = head.estimator.predict_proba(frame.loc[ids, names])[:, 1]
            results[label][name] = float(roc_auc_score(labels.loc[ids].to_numpy(), p))
        print(f"{label}: {len(names)} features, trained in {time.perf_counter() - t0:.1f}s: "
              + ", ".join(f"{k} ROC-AUC {v:.4f}" for k, v in results[label].items()))
    a, b = results["all features"], results["without recent/regional rates"]
    print("ratio all / without: " + ", ".join(f"{k} {a[k] / b[k]:.3f}" for k in a))


if __name__ == "__main__":
    main()
