"""Fulfillment delay: P(late) from what the OMS could see at capture, then the outcome.

Every term is observable at `created_at`: the node's orders so far today and yesterday
against its capacity, hours since its last inventory sync (oversell -> backorder), the
vendors in the basket (lead-time variance), the carrier and the seller (reliability),
the distance against the promise window, and the carrier's regional disruption, whose
onset shows in that carrier's late deliveries from that region's nodes.
"""

from __future__ import annotations

import numpy as np

from triage.simulator import config as C
from triage.simulator.geo import sigmoid

HANDLING_H = np.array([20.0, 8.0, 1.5, 30.0])  # by fulfillment type
INTERCEPT = -4.0


def softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


def p_late(m, o: dict, f: dict, cal, rng: np.random.Generator) -> np.ndarray:
    ftype, service, carrier = o["ftype"], o["service"], o["carrier"]
    fast = (service == C.EXPRESS) | (service == C.SAME_DAY)
    x = INTERCEPT + np.where(carrier >= 0, C.CARRIER_LATE_LOGIT[np.maximum(carrier, 0)], -0.3)
    x += m.node_late_logit[o["node"]]
    load = f["node_load"]
    x += 0.6 * softplus(4 * (load - 0.9)) + 0.5 * fast * np.maximum(load - 0.9, 0)
    x += 0.3 * softplus(4 * (f["node_yday"] - 1.0))
    stale_w = np.where(m.node_type[o["node"]] == C.DC, 0.4, 1.0)
    x += stale_w * 1.1 * np.log1p(np.maximum(f["stale_h"] - 1.5, 0) / 2)
    x += np.where(ftype == C.F_STORE, 0.2, 0.55) * np.where(ftype == C.F_PICKUP, 0.3, 1.0) * f["vendor_risk"]
    req = HANDLING_H[ftype] + f["dist_km"] / 45.0
    tight = req / np.maximum(f["window_h"], 0.5)
    x += 2.5 * sigmoid(6 * (tight - 1.0)) + 0.8 * np.minimum(tight, 2.5)
    car, region, d0, d1 = cal.disruption
    day = (o["t"] - cal.start_s) / C.DAY
    ramp = np.clip(np.minimum(day - d0, d1 - day) / 2.0, 0, 1)
    x += 1.9 * ramp * (carrier == car) * (m.node_region[o["node"]] == region)
    x += 0.12 * (f["n_lines"] - 1) + 0.15 * (f["weekday"] >= 5)
    x += rng.normal(0, 0.15, len(x))  # what no export shows (weather, staffing)
    return sigmoid(x)


def outcomes(rng: np.random.Generator, m, o: dict, f: dict, late: np.ndarray) -> dict:
    """shipped_at, delivered_at, cancelled, cancelled_at consistent with the drawn label."""
    t, promised = o["t"], o["promised"]
    n = len(t)
    window = np.maximum(promised - t, 60)
    p_cancel = 0.1 + 0.25 * (f["stale_h"] > 6) + 0.1 * (o["ftype"] == C.F_SELLER)
    cancelled = late & (rng.random(n) < p_cancel)
    on_time_del = t + (window * rng.uniform(0.45, 0.98, n)).astype(np.int64)
    late_del = promised + 60 + rng.lognormal(np.log(20 * C.HOUR), 0.8, n).astype(np.int64)
    delivered = np.where(late, late_del, on_time_del)
    pickup = o["service"] == C.PICKUP
    shipped = t + ((np.minimum(delivered, promised) - t) * rng.uniform(0.15, 0.6, n)).astype(np.int64)
    shipped = np.where(pickup, delivered, shipped)
    cancelled_at = t + rng.integers(2 * C.HOUR, 3 * C.DAY, n)
    return {
        "shipped": np.where(cancelled, -1, shipped),
        "delivered": np.where(cancelled, -1, delivered),
        "cancelled": cancelled,
        "cancelled_at": np.where(cancelled, cancelled_at, -1),
    }
