"""`simulate`: the simulated retailer's history, written chunk by chunk in the contract shape."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from triage.progress import Progress, report
from triage.simulator import config as C
from triage.simulator import delay, fraud, tables
from triage.simulator.actors import Actors
from triage.simulator.calendar import build_calendar, order_times
from triage.simulator.customers import Customers
from triage.simulator.history import History
from triage.simulator.master import build_master
from triage.simulator.orders import LINE_COLS, ORDER_COLS, everyday_orders
from triage.simulator.returns import ReturnBook, candidates
from triage.simulator.syncs import chunk_syncs
from triage.simulator.writer import Writer

CHUNK_ORDERS = 60_000


@dataclass
class SimulationSummary:
    out_dir: Path
    rows: dict[str, int] = field(default_factory=dict)
    late_rate: float = 0.0
    fraud_rate: float = 0.0
    orders_with_return: float = 0.0
    apparel_orders_with_return: float = 0.0
    abuse_rate: float = 0.0
    mean_p_late: float = 0.0
    mean_p_fraud: float = 0.0

    def lines(self) -> list[str]:
        out = [f"simulated retailer written to {self.out_dir}"]
        out += [f"  {name:<22}{n:>12,} rows" for name, n in self.rows.items()]
        out += [
            f"  late orders            {self.late_rate:8.2%}  (mean p_late {self.mean_p_late:.2%})",
            f"  fraud orders           {self.fraud_rate:8.2%}  (mean p_fraud {self.mean_p_fraud:.2%})",
            f"  orders with a return   {self.orders_with_return:8.2%}  (apparel orders {self.apparel_orders_with_return:.2%})",
            f"  abuse among returns    {self.abuse_rate:8.2%}  (inspected returns)",
        ]
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())


def _merge(a, b):
    """Everyday and actor orders of a chunk in one time-sorted batch, lines re-pointed."""
    if b is not None:
        (oa, la), (ob, lb) = a, b
        n_a = len(oa["t"])
        o = {k: np.concatenate([oa[k], ob[k]]) for k in ORDER_COLS}
        ln = {k: np.concatenate([la[k], lb[k] + (n_a if k == "o" else 0)]) for k in LINE_COLS}
    else:
        o, ln = a[0], a[1]
    order = np.argsort(o["t"], kind="stable")
    o = {k: o[k][order] for k in ORDER_COLS}
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    ln["o"] = rank[ln["o"]]
    lo = np.argsort(ln["o"], kind="stable")
    ln = {k: v[lo] for k, v in ln.items()}
    starts = np.searchsorted(ln["o"], ln["o"], "left")
    ln["line_no"] = np.arange(len(ln["o"])) - starts + 1
    return o, ln


def simulate(out_dir: Path, *, orders: int = 200_000, days: int = 365, seed: int = 7, fmt: str = "csv",
             start: str = "2025-01-01", progress: Progress | None = None) -> SimulationSummary:
    """Write a simulated omnichannel retailer's history (all contract tables + `truth/`) to `out_dir`.

    `progress` (see `triage.progress`) hears the orders written so far after each chunk."""
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"fmt must be 'csv' or 'parquet'. Got {fmt!r} instead.")
    if orders < 1 or days < 1:
        raise ValueError(f"orders and days must be at least 1. Got orders={orders}, days={days} instead.")
    start_s = int(np.datetime64(start, "D").astype("datetime64[s]").astype(np.int64))
    end_s = start_s + days * C.DAY
    base = start_s - 30 * C.DAY
    m = build_master(np.random.default_rng([seed, 1]), orders=orders, days=days, start_s=start_s)
    cal = build_calendar(np.random.default_rng([seed, 2]), orders=orders, days=days, start_s=start_s)
    cust = Customers()
    cust.initial_pool(np.random.default_rng([seed, 3]), max(200, int(orders * 0.25)), start_s)
    actors, hist, book = Actors(m), History(base, start_s, m.n_nodes), ReturnBook(base)
    w = Writer(Path(out_dir), fmt)
    w.table("nodes", tables.nodes(m))
    w.table("products", tables.products(m))
    total = int(cal.day_orders.sum())
    report(progress, "simulate: orders", 0, total)
    n_done, late_n, fraud_n, p_late_sum, p_fraud_sum = 0, 0, 0, 0.0, 0.0
    returned_orders = np.zeros(0, np.int64)
    soft_orders = []
    for k, (d0, d1) in enumerate(cal.chunks(CHUNK_ORDERS)):
        rng = np.random.default_rng([seed, 100 + k])
        lo, hi = start_s + d0 * C.DAY, start_s + d1 * C.DAY
        counts = cal.day_orders[d0:d1]
        plan = actors.plan(rng, int(counts.sum()))
        bad = actors.orders(rng, m, cust, plan, lo, hi)
        n_bad = 0 if bad is None else len(bad[0]["t"])
        legit_counts = rng.multivariate_hypergeometric(counts, max(int(counts.sum()) - n_bad, 0))
        t = order_times(rng, cal, legit_counts, d0)
        o, lines = _merge(everyday_orders(rng, m, cust, t, cal.day_promo[d0:d1], lo), bad)
        n = len(o["t"])
        no = n_done + np.arange(n)
        s_node, s_t = chunk_syncs(rng, m, lo, hi)
        f = hist.observe(m, cust, o, lines, (s_node, s_t), lo, hi)
        pl = delay.p_late(m, o, f, cal, rng)
        late = rng.random(n) < pl
        out = delay.outcomes(rng, m, o, f, late)
        pf = fraud.p_fraud(o, f, cust, rng)
        is_fraud = rng.random(n) < pf
        w.table("customers", tables.customers(cust, cust.pending()))
        w.table("orders", tables.orders(o, f, no))
        w.table("order_lines", tables.order_lines(lines, no))
        by_time = np.argsort(s_t, kind="stable")
        w.table("inventory_syncs", {"node_id": tables.node_ids(s_node[by_time]),
                                    "synced_at": tables.stamps(s_t[by_time])})
        w.table("fulfillment_outcomes", tables.fulfillment(out, no))
        w.table("fraud_labels", tables.fraud_labels(fraud.labels(rng, o["t"], is_fraud), no))
        w.truth("orders", tables.truth_orders(no, pl, pf))
        book.add(candidates(rng, m, cust, o, lines, no, late, out))
        soft = np.isin(m.sku_cat[lines["sku"]], (C.APPAREL, C.FOOTWEAR))
        soft_orders.append(no[np.unique(lines["o"][soft])])
        returned_orders = _write_returns(w, book.release(rng, m, len(cust), hi, end_s), returned_orders)
        n_done += n
        report(progress, "simulate: orders", min(n_done, total), total)
        late_n, fraud_n = late_n + int(late.sum()), fraud_n + int(is_fraud.sum())
        p_late_sum, p_fraud_sum = p_late_sum + float(pl.sum()), p_fraud_sum + float(pf.sum())
    rng = np.random.default_rng([seed, 99])
    returned_orders = _write_returns(w, book.release(rng, m, len(cust), end_s + 1, end_s), returned_orders)
    w.finish()
    report(progress, f"simulate: {n_done:,} orders written to {out_dir}")
    soft_all = np.concatenate(soft_orders) if soft_orders else np.zeros(0, np.int64)
    rows = {k: v for k, v in w.rows.items()}
    return SimulationSummary(
        out_dir=Path(out_dir), rows=rows, late_rate=late_n / max(n_done, 1), fraud_rate=fraud_n / max(n_done, 1),
        orders_with_return=len(returned_orders) / max(n_done, 1),
        apparel_orders_with_return=np.isin(soft_all, returned_orders).mean() if len(soft_all) else 0.0,
        abuse_rate=book.abuse_n / max(book.inspected_n, 1), mean_p_late=p_late_sum / max(n_done, 1),
        mean_p_fraud=p_fraud_sum / max(n_done, 1),
    )


def _write_returns(w: Writer, r: dict | None, returned: np.ndarray) -> np.ndarray:
    if r is None or len(r["return_no"]) == 0:
        return returned
    w.table("returns", tables.returns(r))
    w.table("return_outcomes", tables.return_outcomes(r))
    w.truth("returns", tables.truth_returns(r))
    return np.union1d(returned, r["order_no"])
