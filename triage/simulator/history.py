"""Point-in-time observables of an order, computed from what was known strictly before it.

State is carried across day-aligned chunks (first-seen pairs, per-customer counters, the
last hour of device activity, yesterday's node volume, each node's last inventory sync),
so an observable is exact however the window is chunked and memory stays bounded.
"""

from __future__ import annotations

import numpy as np

from triage.simulator import config as C
from triage.simulator.geo import haversine_km

SHIFT = 34  # seconds since the base fit in 34 bits (544 years)


def _key(g: np.ndarray, t_rel: np.ndarray) -> np.ndarray:
    return (g.astype(np.int64) << SHIFT) | t_rel.astype(np.int64)


def count_before(g_hist, t_hist, g, t_lo, t_hi) -> np.ndarray:
    """For each query, how many history rows share its group with time in [t_lo, t_hi)."""
    keys = np.sort(_key(g_hist, t_hist))
    return np.searchsorted(keys, _key(g, t_hi), "left") - np.searchsorted(keys, _key(g, t_lo), "left")


class FirstSeen:
    """When each (a, b) pair was first seen; answers 'distinct b seen with a before t'."""

    def __init__(self) -> None:
        self.pairs = np.zeros(0, np.int64)
        self.first = np.zeros(0, np.int64)
        self.a_first = np.zeros(0, np.int64)

    def observe(self, a: np.ndarray, b: np.ndarray, t_rel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(distinct other b seen with a before t, whether this pair was seen before t)."""
        n = len(a)
        others, seen = np.zeros(n, np.int64), np.zeros(n, bool)
        ok = a >= 0
        a, b, t = a[ok], b[ok], t_rel[ok]
        pk = (a << 31) | b
        order = np.lexsort((t, pk))
        uniq, idx = np.unique(pk[order], return_index=True)
        chunk_first = t[order][idx]
        pos = np.minimum(np.searchsorted(self.pairs, uniq), max(len(self.pairs) - 1, 0))
        found = (self.pairs[pos] == uniq) if len(self.pairs) else np.zeros(len(uniq), bool)
        first = np.where(found, self.first[pos] if len(self.pairs) else 0, chunk_first)
        row_first = first[np.searchsorted(uniq, pk)]
        new = ~found
        allp = np.concatenate([self.pairs, uniq[new]])
        srt = np.argsort(allp, kind="stable")
        self.pairs = allp[srt]
        self.first = np.concatenate([self.first, chunk_first[new]])[srt]
        self.a_first = np.sort(np.concatenate([self.a_first, _key(uniq[new] >> 31, chunk_first[new])]), kind="stable")
        before = np.searchsorted(self.a_first, _key(a, t), "left") - np.searchsorted(self.a_first, _key(a, 0 * t), "left")
        s = row_first < t
        others[ok], seen[ok] = before - s, s
        return others, seen


class History:
    def __init__(self, base_s: int, start_s: int, n_nodes: int) -> None:
        self.base = base_s
        self.device_cust, self.email_cust, self.cust_addr = FirstSeen(), FirstSeen(), FirstSeen()
        self.cust_orders = np.zeros(0, np.int64)
        self.tail_dev = np.zeros(0, np.int64)
        self.tail_t = np.zeros(0, np.int64)
        self.node_prev_day = np.zeros(n_nodes, np.int64)
        self.last_sync = np.full(n_nodes, start_s - 600, np.int64)  # every feed was up at the start

    def observe(self, m, cust, o: dict, lines: dict, syncs: tuple[np.ndarray, np.ndarray], lo: int, hi: int) -> dict:
        """Observables of the chunk's orders (sorted by time), then fold the chunk into the state."""
        t, cid, dev, node = o["t"], o["cust"], o["device"], o["node"]
        tr = t - self.base
        n = len(t)
        f: dict[str, np.ndarray] = {}
        f["acct_age_days"] = np.maximum(t - cust["created"][cid], 0) / C.DAY
        grow = len(cust) - len(self.cust_orders)
        self.cust_orders = np.concatenate([self.cust_orders, np.zeros(grow, np.int64)])
        f["prior_orders"] = self.cust_orders[cid] + count_before(cid, tr, cid, 0 * tr, tr)
        np.add.at(self.cust_orders, cid, 1)
        f["dev_others"], dev_seen = self.device_cust.observe(dev, cid, tr)
        f["email_others"], _ = self.email_cust.observe(o["email"], cid, tr)
        _, addr_seen = self.cust_addr.observe(np.where(o["service"] == C.PICKUP, -1, cid), o["ship_pc"], tr)
        f["new_address"] = (o["service"] != C.PICKUP) & ~addr_seen
        f["new_device"] = (dev >= 0) & ~dev_seen & (f["prior_orders"] > 0)
        # device velocity in the last hour, including the previous chunk's last hour
        hd, ht = np.concatenate([self.tail_dev, dev]), np.concatenate([self.tail_t, tr])
        has = hd >= 0
        v = count_before(hd[has], ht[has], np.maximum(dev, 0), np.maximum(tr - C.HOUR, 0), tr)
        f["dev_orders_1h"] = np.where(dev >= 0, v, 0)
        keep = tr >= (hi - self.base - C.HOUR)
        self.tail_dev, self.tail_t = dev[keep], tr[keep]
        # node load: orders already taken today, and yesterday's total, against capacity
        day = (t - lo) // C.DAY
        day_start = tr - (t - lo) % C.DAY
        cap = m.node_capacity[node]
        f["node_load"] = count_before(node, tr, node, day_start, tr) / cap
        n_days = (hi - lo) // C.DAY
        per_day = np.zeros((n_days + 1, m.n_nodes), np.int64)
        np.add.at(per_day, (day + 1, node), 1)
        per_day[0] = self.node_prev_day
        f["node_yday"] = per_day[day, node] / cap
        self.node_prev_day = per_day[-1]
        # hours since the node last pushed its stock, strictly before the order
        s_node, s_t = syncs
        keys = _key(s_node, s_t - self.base)  # syncs arrive sorted by (node, time)
        idx = np.searchsorted(keys, _key(node, tr), "left") - 1
        same = (idx >= 0) & (s_node[np.maximum(idx, 0)] == node)
        last = np.where(same, s_t[np.maximum(idx, 0)], self.last_sync[node])
        f["stale_h"] = (t - last) / C.HOUR
        if len(s_node):
            np.maximum.at(self.last_sync, s_node, s_t)
        # geography and promise
        dist = haversine_km(m.node_lat[node], m.node_lon[node], o["ship_lat"], o["ship_lon"])
        f["dist_km"] = np.where(np.isnan(dist), 0.0, dist)
        f["window_h"] = (o["promised"] - t) / C.HOUR
        f["hour"] = (t % C.DAY) // C.HOUR
        f["weekday"] = ((t // C.DAY) + 3) % 7
        # basket
        value = lines["qty"] * lines["price"]
        cat = m.sku_cat[lines["sku"]]
        f["total"] = np.bincount(lines["o"], value, n)
        f["items"] = np.bincount(lines["o"], lines["qty"], n).astype(np.int64)
        f["n_lines"] = np.bincount(lines["o"], minlength=n)
        f["elec_share"] = np.bincount(lines["o"], value * (cat == C.ELECTRONICS), n) / np.maximum(f["total"], 0.01)
        vr = np.zeros(n)
        np.maximum.at(vr, lines["o"], m.vendor_late_logit[m.sku_vendor[lines["sku"]]])
        f["vendor_risk"] = vr
        return f
