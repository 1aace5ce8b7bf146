"""Internal integer-coded arrays -> contract tables (names, codes, ids, timestamps)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from triage.schema import DISPOSITIONS
from triage.simulator import config as C
from triage.simulator.text import ALL_TEXTS
from triage.simulator.writer import codes, floats, hex_hash, ids, stamps

EMAIL_SALT, DEVICE_SALT = 0x5EED, 0xD0D0


def node_ids(idx: np.ndarray) -> pa.Array:
    names = [f"DC{i + 1:02d}" for i in range(C.N_DCS)] + [f"S{i + 1:03d}" for i in range(C.N_STORES)]
    names += [f"MS{i + 1:02d}" for i in range(C.N_SELLERS)]
    return codes(tuple(names), idx)


def postcodes(pc: np.ndarray) -> pa.Array:
    return ids("", pc, 5)


def order_ids(no: np.ndarray) -> pa.Array:
    return ids("O", no, 8)


def nodes(m) -> dict:
    n = m.n_nodes
    return {"node_id": node_ids(np.arange(n)), "node_type": codes(C.NODE_TYPES, m.node_type),
            "region": codes(C.REGIONS, m.node_region), "lat": floats(m.node_lat, 4), "lon": floats(m.node_lon, 4),
            "daily_capacity": pa.array(m.node_capacity)}


def products(m) -> dict:
    n = len(m.sku_cat)
    return {"sku": ids("SKU", np.arange(n), 5), "category": codes(C.CATEGORIES, m.sku_cat),
            "list_price": floats(m.sku_price, 2), "unit_cost": floats(m.sku_cost, 2),
            "weight_kg": floats(m.sku_weight, 2), "vendor_id": ids("V", m.sku_vendor, 3),
            "is_returnable": pa.array(m.sku_returnable)}


def customers(cust, idx: np.ndarray) -> dict:
    return {"customer_id": ids("C", idx, 8), "created_at": stamps(cust["created"][idx]),
            "loyalty_tier": codes(C.TIERS, cust["tier"][idx]), "is_guest": pa.array(cust["guest"][idx]),
            "home_region": codes(C.REGIONS, C.METRO_REGION[cust["metro"][idx]])}


def orders(o: dict, f: dict, no: np.ndarray) -> dict:
    return {
        "order_id": order_ids(no), "customer_id": ids("C", o["cust"], 8), "created_at": stamps(o["t"]),
        "channel": codes(C.CHANNELS, o["channel"]), "order_total": floats(f["total"], 2),
        "item_count": pa.array(f["items"]), "payment_method": codes(C.PAYMENTS, o["payment"]),
        "card_country": codes(C.COUNTRIES, o["card_cc"]), "ip_country": codes(C.COUNTRIES, o["ip_cc"]),
        "device_id": hex_hash(o["device"], DEVICE_SALT, 12), "email_hash": hex_hash(o["email"], EMAIL_SALT),
        "billing_postcode": postcodes(o["bill_pc"]), "shipping_postcode": postcodes(o["ship_pc"]),
        "ship_lat": floats(o["ship_lat"], 4), "ship_lon": floats(o["ship_lon"], 4),
        "promo_code": codes(C.PROMO_CODES, o["promo"]), "fulfillment_node_id": node_ids(o["node"]),
        "fulfillment_type": codes(C.FTYPES, o["ftype"]), "carrier": codes(C.CARRIERS, o["carrier"]),
        "service_level": codes(C.SERVICES, o["service"]), "promised_at": stamps(o["promised"]),
    }


def order_lines(lines: dict, no: np.ndarray) -> dict:
    return {"order_id": order_ids(no[lines["o"]]), "line_no": pa.array(lines["line_no"]),
            "sku": ids("SKU", lines["sku"], 5), "quantity": pa.array(lines["qty"]),
            "unit_price": floats(lines["price"], 2)}


def fulfillment(out: dict, no: np.ndarray) -> dict:
    return {"order_id": order_ids(no), "shipped_at": stamps(out["shipped"]),
            "delivered_at": stamps(out["delivered"]), "cancelled": pa.array(out["cancelled"]),
            "cancelled_at": stamps(out["cancelled_at"])}


def fraud_labels(fl: dict, no: np.ndarray) -> dict:
    return {"order_id": order_ids(no[fl["o"]]), "fraud_type": codes(("chargeback", "confirmed_fraud"), fl["type"]),
            "reported_at": stamps(fl["reported"])}


def returns(r: dict) -> dict:
    return {
        "return_id": ids("R", r["return_no"], 8), "order_id": order_ids(r["order_no"]),
        "sku": ids("SKU", r["sku"], 5), "customer_id": ids("C", r["cust"], 8),
        "requested_at": stamps(r["requested"]), "quantity": pa.array(r["qty"]),
        "return_channel": codes(C.RETURN_CHANNELS, r["channel"]), "reason_code": codes(C.REASONS, r["code"]),
        "reason_text": codes(tuple(ALL_TEXTS), np.where(r["text"] == 0, -1, r["text"])),
        "reported_condition": codes(C.CONDITIONS, r["cond"]), "refund_amount": floats(r["refund"], 2),
    }


def return_outcomes(r: dict) -> dict:
    k = r["inspected_ok"]
    return {"return_id": ids("R", r["return_no"][k], 8), "inspected_at": stamps(r["inspected"][k]),
            "disposition": codes(DISPOSITIONS, r["disposition"][k]), "abuse_confirmed": pa.array(r["abuse"][k])}


def truth_orders(no: np.ndarray, p_late: np.ndarray, p_fraud: np.ndarray) -> dict:
    return {"order_id": order_ids(no), "p_late": pa.array(p_late), "p_fraud": pa.array(p_fraud)}


def truth_returns(r: dict) -> dict:
    cols = {"return_id": ids("R", r["return_no"], 8)}
    for j, d in enumerate(DISPOSITIONS):
        cols[f"p_{d}"] = pa.array(r["p_disp"][:, j])
    cols["p_abuse"] = pa.array(r["p_abuse"])
    return cols
