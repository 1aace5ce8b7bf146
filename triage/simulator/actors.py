"""Fraudsters. Their identity is latent; what they leave in the data is observable:
fresh accounts sharing devices and e-mails (rings), bursts of small orders from one
device (card testing), foreign cards and IPs, billing/shipping mismatches, electronics,
express shipping to addresses the account never used (account takeover).
"""

from __future__ import annotations

import numpy as np

from triage.simulator import config as C
from triage.simulator.customers import DEVICE_SPACE, Customers
from triage.simulator.geo import choice_p
from triage.simulator.master import Master
from triage.simulator.orders import allocate, basket, foreign_or_us

RING, CARD_TEST, LONE, TAKEOVER = 1, 2, 3, 4


class Actors:
    """Counters for fresh devices and e-mails, carried across chunks."""

    def __init__(self, m: Master) -> None:
        self.next_device = DEVICE_SPACE
        self.next_email = DEVICE_SPACE
        elec = np.flatnonzero(m.sku_cat == C.ELECTRONICS)
        self.hot_skus = elec[m.sku_price[elec] >= np.quantile(m.sku_price[elec], 0.5)]
        self.cheap_skus = np.flatnonzero(m.sku_price < 12)
        if len(self.cheap_skus) == 0:
            self.cheap_skus = np.argsort(m.sku_price)[:20]

    def fresh(self, what: str, n: int) -> np.ndarray:
        first = getattr(self, what)
        setattr(self, what, first + n)
        return np.arange(first, first + n, dtype=np.int64)

    def plan(self, rng: np.random.Generator, n_orders: int) -> dict[str, np.ndarray | int]:
        """How many of each actor's orders this chunk holds (replacing everyday orders)."""
        n_rings = rng.poisson(n_orders * 0.0055 / 12)
        ring_size = rng.integers(3, 9, n_rings)
        ring_orders = [rng.integers(1, 4, s) for s in ring_size]
        n_bursts = rng.poisson(n_orders * 0.0022 / 14)
        burst = rng.integers(6, 24, n_bursts)
        return {
            "ring_size": ring_size,
            "ring_orders": np.concatenate(ring_orders) if ring_orders else np.zeros(0, np.int64),
            "burst": burst,
            "lone": rng.binomial(n_orders, 0.0028),
            "ato": rng.binomial(n_orders, 0.0012),
        }

    def orders(self, rng, m: Master, cust: Customers, plan, lo: int, hi: int) -> tuple[dict, dict]:
        parts = [self._rings(rng, m, cust, plan, lo, hi), self._bursts(rng, m, cust, plan, lo, hi),
                 self._lone(rng, m, cust, plan["lone"], lo, hi), self._takeover(rng, m, cust, plan["ato"], lo, hi)]
        return _concat(parts)

    def _finish(self, rng, m, o, ftype_p, sku_pool, mean_extra, discount=None) -> tuple[dict, dict]:
        n = len(o["t"])
        o.setdefault("promo", np.full(n, -1))
        ftype = choice_p(rng, np.tile(ftype_p, (n, 1)))
        allocate(rng, m, o, ftype)
        if "express" in o:
            shipped = o["service"] != C.PICKUP
            o["service"] = np.where(shipped & o.pop("express"), C.EXPRESS, o["service"])
            o["carrier"] = np.where(o["service"] == C.EXPRESS, rng.integers(0, 2, n), o["carrier"])
            o["carrier"] = np.where(o["service"] == C.PICKUP, -1, o["carrier"])
            from triage.simulator.orders import promise
            o["promised"] = promise(o["t"], o["service"])
        lines = basket(rng, m, n, np.zeros(n) if discount is None else discount, sku_pool, mean_extra, 4)
        return o, lines

    def _address(self, rng, n, o, metro=None):
        metro = rng.choice(len(C.METRO_W), n, p=C.METRO_W) if metro is None else metro
        o["ship_metro"] = metro
        o["ship_pc"] = C.METRO_PREFIX[metro] * 100 + rng.integers(0, 100, n)
        o["ship_lat"] = C.METRO_LAT[metro] + rng.normal(0, 0.15, n)
        o["ship_lon"] = C.METRO_LON[metro] + rng.normal(0, 0.18, n)

    def _rings(self, rng, m, cust, plan, lo, hi):
        sizes = plan["ring_size"]
        n_r = len(sizes)
        per_acc = plan["ring_orders"]
        if n_r == 0:
            return None
        ring_of_acc = np.repeat(np.arange(n_r), sizes)
        n_dev = rng.integers(1, 4, n_r)
        n_mail = rng.integers(1, 3, n_r)
        dev0, mail0 = self.fresh("next_device", 3 * n_r), self.fresh("next_email", 3 * n_r)
        start = rng.integers(lo, hi, n_r)
        span = np.minimum(rng.integers(C.DAY, 5 * C.DAY, n_r), hi - start)
        acc_first = start[ring_of_acc] + (rng.random(len(ring_of_acc)) * span[ring_of_acc]).astype(np.int64)
        mail = mail0[3 * ring_of_acc + rng.integers(0, n_mail[ring_of_acc])]
        acc = cust.add(rng, acc_first - rng.integers(600, 2 * C.DAY, len(acc_first)), guest=rng.random(len(acc_first)) < 0.2,
                       weight_scale=0.0, email=mail)
        oacc = np.repeat(np.arange(len(acc)), per_acc)
        ring = ring_of_acc[oacc]
        n = len(oacc)
        t = np.minimum(acc_first[oacc] + (rng.random(n) * np.maximum(hi - acc_first[oacc], 1) * 0.3).astype(np.int64), hi - 1)
        drop_metro = rng.choice(len(C.METRO_W), n_r, p=C.METRO_W)
        o = {"t": t, "cust": acc[oacc], "channel": np.where(rng.random(n) < 0.6, C.WEB, C.APP),
             "payment": np.where(rng.random(n) < 0.88, C.CARD, C.BNPL), "card_cc": foreign_or_us(rng, n, 0.7),
             "device": dev0[3 * ring + rng.integers(0, n_dev[ring])], "email": mail[oacc],
             "bill_pc": C.METRO_PREFIX[rng.choice(len(C.METRO_W), n, p=C.METRO_W)] * 100 + rng.integers(0, 100, n),
             "actor": np.full(n, RING), "express": rng.random(n) < 0.6}
        o["ip_cc"] = np.where(rng.random(n) < 0.55, foreign_or_us(rng, n, 1.0), 0)
        self._address(rng, n, o, drop_metro[ring])
        return self._finish(rng, m, o, np.array([0.85, 0.15, 0.0, 0.0]), self.hot_skus, 0.8)

    def _bursts(self, rng, m, cust, plan, lo, hi):
        sizes = plan["burst"]
        if len(sizes) == 0:
            return None
        b = np.repeat(np.arange(len(sizes)), sizes)
        n = len(b)
        start = rng.integers(lo, max(lo + 1, hi - C.HOUR), len(sizes))
        t = start[b] + rng.integers(0, C.HOUR, n)
        acc = cust.add(rng, t - rng.integers(5, 90, n), guest=np.ones(n, bool), weight_scale=0.0)
        dev = self.fresh("next_device", len(sizes))
        cc = foreign_or_us(rng, len(sizes), 0.75)
        o = {"t": t, "cust": acc, "channel": np.full(n, C.WEB), "payment": np.full(n, C.CARD),
             "card_cc": cc[b], "ip_cc": np.where(rng.random(n) < 0.5, foreign_or_us(rng, n, 1.0), 0),
             "device": dev[b], "email": cust["email"][acc], "actor": np.full(n, CARD_TEST)}
        self._address(rng, n, o)
        o["bill_pc"] = o["ship_pc"] + np.where(rng.random(n) < 0.5, 1, 0)
        return self._finish(rng, m, o, np.array([1.0, 0, 0, 0]), self.cheap_skus, 0.0)

    def _lone(self, rng, m, cust, n, lo, hi):
        if n == 0:
            return None
        t = rng.integers(lo, hi, n)
        acc = cust.add(rng, t - rng.integers(300, 3 * C.DAY, n), guest=rng.random(n) < 0.35, weight_scale=0.0)
        o = {"t": t, "cust": acc, "channel": np.where(rng.random(n) < 0.7, C.WEB, C.APP),
             "payment": np.where(rng.random(n) < 0.8, C.CARD, np.where(rng.random(n) < 0.5, C.GIFT_CARD, C.BNPL)),
             "device": self.fresh("next_device", n), "email": cust["email"][acc], "actor": np.full(n, LONE),
             "express": rng.random(n) < 0.5}
        o["card_cc"] = np.where(o["payment"] == C.GIFT_CARD, -1, foreign_or_us(rng, n, 0.4))
        o["ip_cc"] = foreign_or_us(rng, n, 0.35)
        self._address(rng, n, o)
        o["bill_pc"] = np.where(rng.random(n) < 0.6, o["ship_pc"] + 1 + rng.integers(0, 90, n), o["ship_pc"])
        pool = self.hot_skus if rng.random() < 0.5 else None
        return self._finish(rng, m, o, np.array([0.8, 0.1, 0.1, 0.0]), pool, 0.6)

    def _takeover(self, rng, m, cust, n, lo, hi):
        if n == 0:
            return None
        t = rng.integers(lo, hi, n)
        acc = cust.pick_existing(rng, n, lo)
        o = {"t": t, "cust": acc, "channel": np.where(rng.random(n) < 0.6, C.WEB, C.APP),
             "payment": np.full(n, C.CARD), "card_cc": np.zeros(n, np.int64),
             "ip_cc": foreign_or_us(rng, n, 0.5), "device": self.fresh("next_device", n),
             "email": cust["email"][acc], "bill_pc": cust["postcode"][acc], "actor": np.full(n, TAKEOVER),
             "express": rng.random(n) < 0.6}
        self._address(rng, n, o)
        return self._finish(rng, m, o, np.array([0.9, 0.1, 0.0, 0.0]), self.hot_skus, 0.5)


def _concat(parts):
    parts = [p for p in parts if p is not None]
    if not parts:
        return None
    orders, lines, offset = [], [], 0
    for o, ln in parts:
        orders.append(o)
        lines.append({**ln, "o": ln["o"] + offset})
        offset += len(o["t"])
    cat = lambda ds: {k: np.concatenate([d[k] for d in ds]) for k in ds[0]}  # noqa: E731
    return cat(orders), cat(lines)
