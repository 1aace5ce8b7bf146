"""Master data of the simulated retailer: nodes, products and vendors, sync outages.

Latent traits (a vendor's lead-time reliability, a seller's reliability, a store's flaky
inventory feed) are fixed per entity, so their effect is observable through the entity's
id and its history.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from triage.simulator import config as C
from triage.simulator.geo import haversine_km


@dataclass
class Master:
    # nodes (DCs first, then stores, then marketplace sellers)
    node_type: np.ndarray
    node_region: np.ndarray
    node_lat: np.ndarray
    node_lon: np.ndarray
    node_capacity: np.ndarray
    node_metro: np.ndarray
    node_postcode: np.ndarray
    node_late_logit: np.ndarray  # seller reliability (0 for own nodes)
    node_sync_every: np.ndarray  # seconds between inventory pushes
    metro_store_start: np.ndarray
    metro_store_count: np.ndarray
    metro_dc: np.ndarray  # nearest DC per metro
    seller_cum: np.ndarray
    outage_node: np.ndarray
    outage_start: np.ndarray
    outage_end: np.ndarray
    # products
    sku_cat: np.ndarray
    sku_price: np.ndarray
    sku_cost: np.ndarray
    sku_weight: np.ndarray
    sku_vendor: np.ndarray
    sku_returnable: np.ndarray
    sku_pop_cum: np.ndarray
    vendor_late_logit: np.ndarray
    vendor_rtv: np.ndarray

    @property
    def n_nodes(self) -> int:
        return len(self.node_type)


def _type_shares() -> np.ndarray:
    """Expected share of orders per fulfillment type, from the channel mix."""
    return C.CHANNEL_P @ C.FTYPE_P


def build_master(rng: np.random.Generator, *, orders: int, days: int, start_s: int) -> Master:
    n_metros = len(C.METRO_W)
    # stores: every metro gets at least two, the rest by population
    extra = rng.multinomial(C.N_STORES - 2 * n_metros, C.METRO_W)
    metro_count = extra + 2
    store_metro = np.repeat(np.arange(n_metros), metro_count)
    metro_start = C.N_DCS + np.concatenate([[0], np.cumsum(metro_count)[:-1]])
    n_st = C.N_STORES
    st_lat = C.METRO_LAT[store_metro] + rng.normal(0, 0.12, n_st)
    st_lon = C.METRO_LON[store_metro] + rng.normal(0, 0.15, n_st)
    sl_metro = rng.choice(n_metros, C.N_SELLERS, p=C.METRO_W)
    sl_lat = C.METRO_LAT[sl_metro] + rng.normal(0, 0.5, C.N_SELLERS)
    sl_lon = C.METRO_LON[sl_metro] + rng.normal(0, 0.5, C.N_SELLERS)
    node_type = np.concatenate([np.full(C.N_DCS, C.DC), np.full(n_st, C.STORE), np.full(C.N_SELLERS, C.SELLER)])
    lat = np.concatenate([C.DC_SITES[:, 0], st_lat, sl_lat])
    lon = np.concatenate([C.DC_SITES[:, 1], st_lon, sl_lon])
    region = np.concatenate([C.DC_SITES[:, 2], C.METRO_REGION[store_metro], C.METRO_REGION[sl_metro]]).astype(np.int8)
    node_metro = np.concatenate([np.full(C.N_DCS, -1), store_metro, sl_metro])
    postcode = C.METRO_PREFIX[np.maximum(node_metro, 0)] * 100 + rng.integers(0, 100, len(node_type))

    d_dc = haversine_km(C.METRO_LAT[:, None], C.METRO_LON[:, None], C.DC_SITES[None, :, 0], C.DC_SITES[None, :, 1])
    metro_dc = d_dc.argmin(axis=1)
    seller_w = rng.lognormal(0, 0.8, C.N_SELLERS)
    seller_w /= seller_w.sum()

    # capacity: expected daily orders at the node times a headroom; peaks and promotions overload it
    daily = orders / max(days, 1)
    share = _type_shares()
    exp = np.zeros(len(node_type))
    for k in range(C.N_DCS):
        exp[k] = share[C.F_DC] * (0.85 * C.METRO_W[metro_dc == k].sum() + 0.15 * C.METRO_W[metro_dc != k].sum())
    exp[C.N_DCS:C.N_DCS + n_st] = (share[C.F_STORE] + share[C.F_PICKUP]) * C.METRO_W[store_metro] / metro_count[store_metro]
    exp[C.N_DCS + n_st:] = share[C.F_SELLER] * seller_w
    headroom = np.concatenate([rng.uniform(1.3, 1.45, C.N_DCS), rng.uniform(1.05, 1.9, n_st), rng.uniform(1.1, 2.2, C.N_SELLERS)])
    capacity = np.maximum(1, np.ceil(exp * daily * headroom)).astype(np.int64)

    late_logit = np.zeros(len(node_type))
    late_logit[C.N_DCS + n_st:] = rng.normal(0.0, 0.6, C.N_SELLERS)
    sync_every = np.concatenate([np.full(C.N_DCS, 1800), np.full(n_st, 3600), np.full(C.N_SELLERS, 4 * 3600)])

    # inventory-feed outages: most stores rarely, a few flaky ones often
    flaky = np.where(rng.random(len(node_type)) < 0.12, 6.0, 1.0)
    flaky[:C.N_DCS] = 0.3
    n_out = rng.poisson(flaky * days / 40.0)
    o_node = np.repeat(np.arange(len(node_type)), n_out)
    o_start = start_s - 2 * C.DAY + rng.integers(0, (days + 2) * C.DAY, len(o_node))
    o_end = o_start + (rng.lognormal(np.log(7 * C.HOUR), 0.9, len(o_node))).astype(np.int64)

    # products and vendors
    n_sku = int(np.clip(orders // 60, 1500, 6000))
    n_vendor = max(40, n_sku // 40)
    cat = rng.choice(len(C.CATEGORIES), n_sku, p=C.CAT_SKU_SHARE).astype(np.int8)
    price = np.round(np.exp(np.log(C.CAT_PRICE[cat, 0]) + rng.normal(0, 1, n_sku) * C.CAT_PRICE[cat, 1]), 0) - 0.01
    price = np.maximum(price, 1.99)
    cost = np.round(price * rng.uniform(0.35, 0.7, n_sku), 2)
    weight = np.round(C.CAT_WEIGHT[cat] * rng.lognormal(0, 0.5, n_sku), 2)
    # vendors specialise in a category
    vendor_cat = rng.choice(len(C.CATEGORIES), n_vendor, p=C.CAT_SKU_SHARE)
    vendor = np.empty(n_sku, dtype=np.int32)
    for c in range(len(C.CATEGORIES)):
        vs = np.flatnonzero(vendor_cat == c)
        if len(vs) == 0:
            vs = np.arange(n_vendor)
        m = cat == c
        vendor[m] = vs[rng.integers(0, len(vs), m.sum())]
    vendor_late = np.where(rng.random(n_vendor) < 0.12, rng.uniform(0.9, 1.8, n_vendor), 0.0)
    vendor_rtv = rng.random(n_vendor) < 0.3
    returnable = ~((cat == C.GROCERY) & (rng.random(n_sku) < 0.8)) & (rng.random(n_sku) > 0.02)
    pop = rng.lognormal(0, 1.2, n_sku) * np.where(cat == C.GROCERY, 0.6, 1.0)
    return Master(
        node_type=node_type.astype(np.int8), node_region=region, node_lat=lat, node_lon=lon,
        node_capacity=capacity, node_metro=node_metro, node_postcode=postcode, node_late_logit=late_logit,
        node_sync_every=sync_every, metro_store_start=metro_start, metro_store_count=metro_count,
        metro_dc=metro_dc, seller_cum=np.cumsum(seller_w), outage_node=o_node, outage_start=o_start,
        outage_end=o_end, sku_cat=cat, sku_price=price, sku_cost=cost, sku_weight=weight,
        sku_vendor=vendor, sku_returnable=returnable, sku_pop_cum=np.cumsum(pop) / pop.sum(),
        vendor_late_logit=vendor_late, vendor_rtv=vendor_rtv,
    )
