"""Everyday orders: who buys, through which channel, what, and how the OMS allocates them."""

from __future__ import annotations

import numpy as np

from triage.simulator import config as C
from triage.simulator.customers import Customers
from triage.simulator.geo import choice_cum, choice_p
from triage.simulator.master import Master

ORDER_COLS = ("t", "cust", "channel", "payment", "card_cc", "ip_cc", "device", "email", "bill_pc", "ship_pc",
              "ship_lat", "ship_lon", "ship_metro", "promo", "node", "ftype", "carrier", "service", "promised",
              "actor")
LINE_COLS = ("o", "sku", "qty", "price")


def foreign_or_us(rng: np.random.Generator, n: int, p_foreign: float | np.ndarray) -> np.ndarray:
    foreign = rng.choice(len(C.COUNTRIES), n, p=C.FOREIGN_P)
    return np.where(rng.random(n) < p_foreign, foreign, 0)


def promise(t: np.ndarray, service: np.ndarray) -> np.ndarray:
    """The promise the storefront shows, by service level only (not by distance)."""
    day0 = t - t % C.DAY
    hour = (t % C.DAY) // C.HOUR
    out = day0 + 5 * C.DAY + 23 * C.HOUR
    out = np.where(service == C.EXPRESS, day0 + 2 * C.DAY + 23 * C.HOUR, out)
    same = day0 + np.where(hour < 15, 23 * C.HOUR, C.DAY + 23 * C.HOUR)
    out = np.where(service == C.SAME_DAY, same, out)
    pick = t + 4 * C.HOUR
    pick = pick - pick % C.HOUR + C.HOUR
    return np.where(service == C.PICKUP, pick, out)


def allocate(rng: np.random.Generator, m: Master, o: dict[str, np.ndarray], ftype: np.ndarray) -> None:
    """OMS allocation: node, service level, carrier and promise, written into `o`."""
    n = len(ftype)
    metro = o["ship_metro"]
    near = m.metro_dc[metro]
    node = np.where(rng.random(n) < 0.85, near, 1 - near)
    store = m.metro_store_start[metro] + (rng.random(n) * m.metro_store_count[metro]).astype(np.int64)
    node = np.where((ftype == C.F_STORE) | (ftype == C.F_PICKUP), store, node)
    seller = C.N_DCS + C.N_STORES + choice_cum(rng, m.seller_cum, n)
    node = np.where(ftype == C.F_SELLER, seller, node)
    service = choice_p(rng, C.SERVICE_P[np.where(ftype == C.F_PICKUP, 0, ftype)])
    service = np.where(ftype == C.F_PICKUP, C.PICKUP, service)
    carrier = np.where(service == C.EXPRESS, choice_p(rng, np.tile(C.CARRIER_EXPRESS_P, (n, 1))),
                       choice_p(rng, np.tile(C.CARRIER_STANDARD_P, (n, 1))))
    carrier = np.where(service == C.SAME_DAY, C.METRODASH, carrier)
    carrier = np.where(service == C.PICKUP, -1, carrier)
    pickup = ftype == C.F_PICKUP
    o["ship_lat"] = np.where(pickup, np.nan, o["ship_lat"])
    o["ship_lon"] = np.where(pickup, np.nan, o["ship_lon"])
    o["ship_pc"] = np.where(pickup, m.node_postcode[node], o["ship_pc"])
    o.update(node=node, ftype=ftype, service=service, carrier=carrier, promised=promise(o["t"], service))


def basket(rng: np.random.Generator, m: Master, n: int, discount: np.ndarray,
           sku_pool: np.ndarray | None = None, mean_extra: float = 0.55, max_lines: int = 6) -> dict:
    """Order lines for n orders: popularity-weighted SKUs (or drawn from `sku_pool`)."""
    n_lines = np.minimum(1 + rng.poisson(mean_extra, n), max_lines)
    o = np.repeat(np.arange(n), n_lines)
    k = len(o)
    sku = choice_cum(rng, m.sku_pop_cum, k) if sku_pool is None else sku_pool[rng.integers(0, len(sku_pool), k)]
    qty = 1 + (rng.random(k) < np.where(m.sku_cat[sku] == C.GROCERY, 0.4, 0.12)) + (rng.random(k) < 0.03)
    markdown = np.where(rng.random(k) < 0.08, rng.uniform(0.1, 0.4, k), 0.0)
    price = np.round(m.sku_price[sku] * (1 - np.maximum(discount[o], markdown)), 2)
    return {"o": o, "sku": sku.astype(np.int64), "qty": qty.astype(np.int64), "price": price}


def promo_discount(promo: np.ndarray) -> np.ndarray:
    pct = np.array([0.10, 0.15, 0.20, 0.25, 0.15, 0.30, 0.20, 0.20, 0.35, 0.30, 0.20, 0.15, 0.25])
    return np.where(promo >= 0, pct[np.maximum(promo, 0)], 0.0)


def everyday_orders(rng: np.random.Generator, m: Master, cust: Customers, t: np.ndarray,
                    day_promo: np.ndarray, chunk_start: int) -> tuple[dict, dict]:
    """Legitimate orders at the given (sorted) times."""
    n = len(t)
    u = rng.random(n)
    new_reg, new_guest = u < 0.11, (u >= 0.11) & (u < 0.20)
    cid = cust.pick_existing(rng, n, chunk_start)
    lead = np.where(rng.random(n) < 0.75, rng.integers(60, 1200, n), rng.integers(C.HOUR, 20 * C.DAY, n))
    lead = np.where(new_guest, rng.integers(5, 120, n), lead)
    is_new = new_reg | new_guest
    cid[is_new] = cust.add(rng, t[is_new] - lead[is_new], guest=new_guest[is_new])
    channel = rng.choice(len(C.CHANNELS), n, p=C.CHANNEL_P)
    payment = rng.choice(len(C.PAYMENTS), n, p=C.PAYMENT_P)
    payment = np.where((channel != C.STORE_CH) & (payment == C.STORE_CREDIT), C.CARD, payment)
    carded = (payment == C.CARD) | (payment == C.BNPL)
    online = (channel == C.WEB) | (channel == C.APP)
    card_cc = np.where(carded, foreign_or_us(rng, n, 0.02), -1)
    ip_cc = np.where(online, foreign_or_us(rng, n, 0.03), -1)
    device = np.where(online, cust["device"][cid] + (rng.random(n) < (cust["n_dev"][cid] - 1) * 0.4), -1)
    home_pc = cust["postcode"][cid]
    bill_pc = np.where(rng.random(n) < 0.97, home_pc, home_pc - home_pc % 100 + rng.integers(0, 100, n))
    alt = rng.random(n) < 0.09
    alt_metro = rng.choice(len(C.METRO_W), n, p=C.METRO_W)
    metro = np.where(alt, alt_metro, cust["metro"][cid]).astype(np.int64)
    ship_pc = np.where(alt, C.METRO_PREFIX[alt_metro] * 100 + rng.integers(0, 100, n), home_pc)
    ship_lat = np.where(alt, C.METRO_LAT[metro] + rng.normal(0, 0.15, n), cust["lat"][cid])
    ship_lon = np.where(alt, C.METRO_LON[metro] + rng.normal(0, 0.18, n), cust["lon"][cid])
    event = day_promo[(t - chunk_start) // C.DAY]
    promo = np.where((event >= 0) & (rng.random(n) < 0.45), event, -1)
    promo = np.where((promo < 0) & is_new & ~new_guest & (rng.random(n) < 0.3), 0, promo)
    promo = np.where((promo < 0) & (cust["tier"][cid] >= 2) & (rng.random(n) < 0.08), 1, promo)
    o = {
        "t": t, "cust": cid, "channel": channel, "payment": payment, "card_cc": card_cc, "ip_cc": ip_cc,
        "device": device, "email": cust["email"][cid], "bill_pc": bill_pc, "ship_pc": ship_pc,
        "ship_lat": ship_lat, "ship_lon": ship_lon, "ship_metro": metro, "promo": promo,
        "actor": np.zeros(n, dtype=np.int64),
    }
    allocate(rng, m, o, choice_p(rng, C.FTYPE_P[channel]))
    return o, basket(rng, m, n, promo_discount(promo))
