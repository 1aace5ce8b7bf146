"""Returns: who sends what back, why, in which state, and where inspection routes it.

Return requests are drawn per delivered line (category rates, the customer's latent
propensity, late deliveries). Disposition and abuse probabilities are computed from what
the request shows: reason code, stated condition, the words of `reason_text`, category,
vendor (some take returns back), price, days since delivery, the customer's prior return
requests, and a refund claim above what was paid. Requests wait in a buffer until no
later chunk can produce an earlier one, so "prior returns" is exact.
"""

from __future__ import annotations

import numpy as np

from triage.simulator import config as C
from triage.simulator import text as T
from triage.simulator.geo import choice_p, sigmoid

REASON_P = {  # latent true reason by category group: fit, defect, transit, nad, wrong, noneed, late, wardrobe, other
    "soft": [0.45, 0.05, 0.03, 0.15, 0.04, 0.25, 0, 0, 0.03],
    "elec": [0, 0.35, 0.10, 0.15, 0.05, 0.30, 0, 0, 0.05],
    "hard": [0, 0.20, 0.12, 0.15, 0.06, 0.40, 0, 0, 0.07],
}
CODE_GIVEN_REASON = np.array([  # wrong_size defective damaged nad wrong_item changed_mind arrived_late other
    [0.85, 0, 0, 0, 0, 0.10, 0, 0.05],
    [0, 0.65, 0, 0.10, 0, 0.15, 0, 0.10],
    [0, 0.10, 0.80, 0, 0, 0, 0, 0.10],
    [0, 0, 0, 0.75, 0, 0.15, 0, 0.10],
    [0, 0, 0, 0, 0.85, 0, 0, 0.15],
    [0, 0, 0, 0, 0, 0.85, 0, 0.15],
    [0, 0, 0, 0, 0, 0.30, 0.70, 0],
    [0.35, 0, 0, 0.20, 0, 0.40, 0, 0.05],
    [0, 0, 0, 0, 0, 0, 0, 1.0],
])
COND_GIVEN_REASON = np.array([  # unopened opened used damaged
    [0.35, 0.55, 0.10, 0], [0.05, 0.55, 0.35, 0.05], [0, 0.2, 0, 0.8], [0.2, 0.65, 0.15, 0],
    [0.7, 0.3, 0, 0], [0.6, 0.35, 0.05, 0], [0.75, 0.25, 0, 0], [0.05, 0.45, 0.5, 0], [0.4, 0.4, 0.2, 0],
])
RETURN_CHANNEL_P = np.array([0.5, 0.3, 0.1, 0.1])


def candidates(rng, m, cust, o: dict, lines: dict, order_no: np.ndarray, late: np.ndarray, out: dict) -> dict:
    """Return requests from the chunk's delivered lines (all fields but the labels)."""
    oi = lines["o"]
    sku = lines["sku"]
    cat = m.sku_cat[sku]
    cid = o["cust"][oi]
    delivered = out["delivered"][oi]
    soft = (cat == C.APPAREL) | (cat == C.FOOTWEAR)
    p = C.CAT_RETURN_RATE[cat] * cust["ret_prop"][cid] * np.where(late[oi], 1.6, 1.0)
    p = p * (delivered >= 0) * m.sku_returnable[sku] * np.where(o["actor"][oi] > 0, 0.2, 1.0)
    pick = rng.random(len(oi)) < np.minimum(p, 0.9)
    idx = np.flatnonzero(pick)
    oi, sku, cat, cid, soft, delivered = oi[idx], sku[idx], cat[idx], cid[idx], soft[idx], delivered[idx]
    n = len(idx)
    group = np.where(soft, 0, np.where(cat == C.ELECTRONICS, 1, 2))
    rp = np.array([REASON_P["soft"], REASON_P["elec"], REASON_P["hard"]])[group]
    reason = choice_p(rng, rp)
    reason = np.where(late[oi] & (rng.random(n) < 0.4), T.LATE_R, reason)
    wardrobe = soft & ((cust["wardrober"][cid] & (rng.random(n) < 0.65)) | (cust["serial"][cid] & (rng.random(n) < 0.15)))
    reason = np.where(wardrobe, T.WARDROBE_R, reason)
    days = np.where(reason == T.WARDROBE_R, rng.gamma(2.0, 1.3, n), 0.5 + rng.gamma(2.0, 4.0, n))
    days = np.where(reason == T.DEFECT_R, 1 + rng.gamma(1.5, 8.0, n), days)
    requested = delivered + (days * C.DAY).astype(np.int64) + rng.integers(60, C.HOUR, n)
    qty = lines["qty"][idx]
    qty = np.where((qty > 1) & (rng.random(n) < 0.3), 1, qty)
    paid = lines["price"][idx]
    abuser = cust["serial"][cid] | cust["wardrober"][cid]
    inflate = abuser & (paid < m.sku_price[sku] - 0.5) & (rng.random(n) < 0.25)
    refund = np.round(qty * np.where(inflate, m.sku_price[sku], paid), 2)
    has_text = rng.random(n) < 0.55
    tclass = np.where(has_text, choice_p(rng, T.CLASS_GIVEN_REASON[reason]), T.NONE)
    return {
        "order_no": order_no[oi], "line_no": lines["line_no"][idx], "sku": sku, "cust": cid,
        "requested": requested, "qty": qty, "channel": rng.choice(4, n, p=RETURN_CHANNEL_P),
        "code": choice_p(rng, CODE_GIVEN_REASON[reason]), "text": T.draw_text(rng, tclass), "tclass": tclass,
        "cond": choice_p(rng, COND_GIVEN_REASON[reason]), "refund": refund, "paid": qty * paid,
        "delivered": delivered,
    }


def probabilities(m, r: dict, prior_returns: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray]:
    """(n, 5) disposition probabilities and P(abuse) from the request's observables."""
    n = len(r["sku"])
    cat = m.sku_cat[r["sku"]]
    code, cond, tc = r["code"], r["cond"], r["tclass"]
    soft = (cat == C.APPAREL) | (cat == C.FOOTWEAR)
    unit = r["paid"] / np.maximum(r["qty"], 1)
    days = (r["requested"] - r["delivered"]) / C.DAY
    defect = (code == 1) | (tc == T.DEFECT)
    damage = (code == 2) | (cond == C.DAMAGED) | (tc == T.DAMAGE)
    rtv = m.vendor_rtv[m.sku_vendor[r["sku"]]]
    hygiene = (cat == C.BEAUTY) | (cat == C.GROCERY)
    cheap = unit < 20
    worn = tc == T.WORN
    z = np.zeros((n, 5))
    cond_w = np.array([[2.2, 0, 0, 0, 0], [0.6, 0.3, 0, 0, 0], [-1.8, 0.8, 1.5, 0, 0], [-2.5, -0.5, 0, 0.3, 2.2]])
    z += cond_w[cond]
    z[:, 0] += 1.2 - 2.4 * defect - 2.5 * hygiene * (cond > 0) - 0.5 * (days > 30) - 1.2 * worn
    z[:, 1] += 1.2 * (cat == C.ELECTRONICS) + 1.0 * defect + 0.3 * (cat == C.HOME) - 0.8 * cheap
    z[:, 2] += -0.3 + 0.8 * (soft & (cond == C.USED)) + 0.5 * cheap + 0.4 * (days > 30) + 0.9 * worn
    z[:, 3] += -1.7 + rtv * (2.6 * defect + 1.0 * damage + 0.6)
    z[:, 4] += -2.6 + 2.0 * damage + 3.0 * (cat == C.GROCERY) + 1.5 * hygiene * (cond > 0) + 0.3 * cheap
    z += rng.normal(0, 0.2, z.shape)
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    p_disp = e / e.sum(axis=1, keepdims=True)
    over = r["refund"] > r["paid"] + 0.01
    x = -4.4 + 0.9 * np.log1p(prior_returns)
    x += 1.3 * (soft & (cond == C.USED)) + 0.9 * (soft & (days < 7) & (cond >= C.OPENED) & (cond <= C.USED))
    x += 2.4 * worn + 0.6 * ((code == 5) & (cond == C.USED)) + 0.4 * ((code == 0) & (cond == C.USED))
    x += 0.35 * np.log(np.maximum(unit, 1) / 50) + 1.3 * over - 0.8 * defect - 1.0 * damage
    x += rng.normal(0, 0.3, n)
    return p_disp, sigmoid(x)


def outcomes(rng, r: dict, p_disp: np.ndarray, p_abuse: np.ndarray) -> dict:
    n = len(p_abuse)
    by_mail = (r["channel"] == 0) | (r["channel"] == 3)
    wait = np.where(by_mail, rng.integers(4 * C.DAY, 12 * C.DAY, n), rng.integers(C.DAY, 5 * C.DAY, n))
    return {"inspected": r["requested"] + wait, "disposition": choice_p(rng, p_disp), "abuse": rng.random(n) < p_abuse}


class ReturnBook:
    """Buffers return requests until every earlier request exists, then labels them in time order."""

    def __init__(self, base_s: int) -> None:
        self.base = base_s
        self.buf: dict[str, np.ndarray] | None = None
        self.prior = np.zeros(0, np.int64)
        self.next_id = 0
        self.abuse_n = 0
        self.inspected_n = 0

    def add(self, r: dict) -> None:
        self.buf = r if self.buf is None else {k: np.concatenate([self.buf[k], r[k]]) for k in r}

    def release(self, rng, m, n_customers: int, before_s: int, end_s: int) -> dict | None:
        """Label the requests made before `before_s` (and not after the export at `end_s`)."""
        from triage.simulator.history import count_before

        if self.buf is None:
            return None
        ready = self.buf["requested"] < before_s
        r = {k: v[ready] for k, v in self.buf.items()}
        self.buf = {k: v[~ready] for k, v in self.buf.items()}
        r = {k: v[r["requested"] <= end_s] for k, v in r.items()}
        order = np.lexsort((r["line_no"], r["order_no"], r["requested"]))
        r = {k: v[order] for k, v in r.items()}
        n = len(order)
        self.prior = np.concatenate([self.prior, np.zeros(n_customers - len(self.prior), np.int64)])
        cid, tr = r["cust"], r["requested"] - self.base
        prior = self.prior[cid] + count_before(cid, tr, cid, 0 * tr, tr)
        np.add.at(self.prior, cid, 1)
        p_disp, p_abuse = probabilities(m, r, prior, rng)
        out = outcomes(rng, r, p_disp, p_abuse)
        r.update(out, p_disp=p_disp, p_abuse=p_abuse, inspected_ok=out["inspected"] <= end_s,
                 return_no=self.next_id + np.arange(n))
        self.next_id += n
        self.abuse_n += int(out["abuse"][r["inspected_ok"]].sum())
        self.inspected_n += int(r["inspected_ok"].sum())
        return r
