"""Inventory syncs: every node pushes its stock on a schedule, except during feed outages.

A store whose feed has been down for hours sells stock it no longer has (oversell), so
its orders go to backorder and run late; the gap is visible in `inventory_syncs`.
"""

from __future__ import annotations

import numpy as np

from triage.simulator.master import Master


def chunk_syncs(rng: np.random.Generator, m: Master, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """Sync times in [lo, hi), sorted by (node, time)."""
    every = m.node_sync_every
    count = (hi - lo) // every
    node = np.repeat(np.arange(m.n_nodes), count)
    slot = np.arange(len(node)) - np.repeat(np.cumsum(count) - count, count)
    t = lo + slot * every[node] + rng.integers(0, np.maximum(every[node] // 3, 1))
    # drop syncs that fall inside an outage of their node
    o_order = np.lexsort((m.outage_start, m.outage_node))
    o_node, o_start, o_end = m.outage_node[o_order], m.outage_start[o_order], m.outage_end[o_order]
    base = lo - 30 * 86_400
    if len(o_node):
        okey = (o_node << 34) | np.maximum(o_start - base, 0)
        idx = np.searchsorted(okey, (node << 34) | (t - base), "right") - 1
        j = np.maximum(idx, 0)
        down = (idx >= 0) & (o_node[j] == node) & (o_end[j] > t)
    else:
        down = np.zeros(len(node), bool)
    keep = ~down & (rng.random(len(node)) > 0.01)
    return node[keep].astype(np.int64), t[keep].astype(np.int64)
