"""Payment fraud: P(fraud) from what was observable at capture, then chargebacks weeks later.

Fraudsters are latent; p_fraud is computed from their traces only: account age, prior
orders, other customers already seen on the device or e-mail, device orders in the last
hour, card/IP country mismatch, billing/shipping mismatch, electronics share, express to
an address the account never used, a new device on an established account, payment type.
"""

from __future__ import annotations

import numpy as np

from triage.simulator import config as C
from triage.simulator.geo import sigmoid

INTERCEPT = -6.6
PAYMENT_LOGIT = np.array([0.0, -0.4, 0.7, 0.35, -1.5])
CHANNEL_LOGIT = np.array([0.0, -0.1, -2.0, -0.6, 0.3])
TIER_LOGIT = np.array([0.0, -0.2, -0.5, -0.7])


def p_fraud(o: dict, f: dict, cust, rng: np.random.Generator) -> np.ndarray:
    age = f["acct_age_days"]
    established = f["prior_orders"] > 0
    mismatch = (o["card_cc"] >= 0) & (o["ip_cc"] >= 0) & (o["card_cc"] != o["ip_cc"])
    foreign_card = o["card_cc"] > 0
    shipped = o["service"] != C.PICKUP
    bill_ship = shipped & (o["bill_pc"] != o["ship_pc"])
    fast = (o["service"] == C.EXPRESS) | (o["service"] == C.SAME_DAY)
    elec = f["elec_share"]
    x = INTERCEPT + PAYMENT_LOGIT[o["payment"]] + CHANNEL_LOGIT[o["channel"]]
    x += TIER_LOGIT[cust["tier"][o["cust"]]] + 0.35 * cust["guest"][o["cust"]]
    x += 1.1 * np.exp(-age / 2.0) + 0.5 * np.exp(-age / 30.0)
    x -= 0.45 * np.log1p(f["prior_orders"])
    x += 1.5 * np.log1p(f["dev_others"]) + 1.2 * np.log1p(f["email_others"])
    x += 1.1 * np.log1p(f["dev_orders_1h"])
    x += 1.3 * mismatch + 0.5 * foreign_card + 0.8 * bill_ship
    x += 1.4 * elec + 0.25 * np.log(np.maximum(f["total"], 1) / 100)
    x += 0.35 * fast + 0.9 * (fast & f["new_address"]) + 0.5 * (fast & (age < 3))
    x += 1.4 * (established & f["new_device"] & f["new_address"])
    x += 0.7 * (mismatch & (elec > 0.5))
    x += 0.3 * ((f["hour"] >= 7) & (f["hour"] <= 12))  # US small hours
    x += rng.normal(0, 0.3, len(x))  # what no export shows
    return sigmoid(x)


def labels(rng: np.random.Generator, t: np.ndarray, fraud: np.ndarray) -> dict:
    """fraud_labels rows: a chargeback 20-90 days on (or an internal confirmation), some confirmed later."""
    idx = np.flatnonzero(fraud)
    n = len(idx)
    chargeback = rng.random(n) < 0.8
    first = t[idx] + np.where(chargeback, rng.integers(20 * C.DAY, 90 * C.DAY, n), rng.integers(10 * C.DAY, 45 * C.DAY, n))
    second = chargeback & (rng.random(n) < 0.35)
    later = first[second] + rng.integers(5 * C.DAY, 30 * C.DAY, second.sum())
    return {
        "o": np.concatenate([idx, idx[second]]),
        "type": np.concatenate([np.where(chargeback, 0, 1), np.ones(second.sum(), np.int64)]),
        "reported": np.concatenate([first, later]),
    }
