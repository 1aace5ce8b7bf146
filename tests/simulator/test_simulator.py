"""The simulated retailer: deterministic, complete, referentially sound, realistic label rates."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from triage.contract import validate_dataset
from triage.schema import DISPOSITIONS, TABLES
from triage.simulator import SimulationSummary, simulate

SMALL = {"orders": 3_000, "days": 40}


def _read(folder: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(folder / f"{name}.csv", dtype=str, keep_default_na=False, na_values=[""])


@pytest.fixture(scope="module")
def year(tmp_path_factory) -> tuple[Path, SimulationSummary]:
    """20,000 orders over a year: enough for label rates, small enough to stay fast."""
    out = tmp_path_factory.mktemp("sim") / "year"
    return out, simulate(out, orders=20_000, days=365, seed=11)


@pytest.fixture(scope="module")
def tables(year) -> dict[str, pd.DataFrame]:
    out, _ = year
    frames = {name: _read(out, name) for name in TABLES}
    frames["truth_orders"] = pd.read_csv(out / "truth" / "orders.csv", dtype={"order_id": str})
    frames["truth_returns"] = pd.read_csv(out / "truth" / "returns.csv", dtype={"return_id": str})
    return frames


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_seed_writes_identical_files(tmp_path):
    """Check that two runs with the same arguments write byte-identical datasets."""
    simulate(tmp_path / "a", seed=3, **SMALL)
    simulate(tmp_path / "b", seed=3, **SMALL)
    a, b = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert a.keys() == b.keys()
    assert all(a[k] == b[k] for k in a)


def test_different_seeds_write_different_data(tmp_path):
    simulate(tmp_path / "a", seed=3, **SMALL)
    simulate(tmp_path / "b", seed=4, **SMALL)
    assert (tmp_path / "a" / "orders.csv").read_bytes() != (tmp_path / "b" / "orders.csv").read_bytes()


def test_every_contract_table_is_written_with_the_contract_columns(year):
    out, summary = year
    for name, table in TABLES.items():
        with open(out / f"{name}.csv", newline="") as fh:
            header = next(csv.reader(fh))
        assert header == table.column_names, name
    assert summary.rows["orders"] == 20_000


def test_output_passes_contract_validation(year):
    out, _ = year
    report = validate_dataset(out)
    assert report.errors == [], report.to_text()


def test_label_rates_are_realistic(year, tables):
    """Check late 5-15 %, fraud 0.5-2 %, returns 5-20 % of orders (apparel highest), abuse a few %."""
    _, s = year
    assert 0.05 <= s.late_rate <= 0.15
    assert 0.005 <= s.fraud_rate <= 0.02
    assert 0.05 <= s.orders_with_return <= 0.20
    assert s.apparel_orders_with_return > s.orders_with_return
    assert 0.005 <= s.abuse_rate <= 0.08
    lines = tables["order_lines"].merge(tables["products"], on="sku")
    returned = tables["returns"].merge(tables["products"], on="sku")
    rate = returned.category.value_counts() / lines.category.value_counts()
    assert rate.idxmax() in ("apparel", "footwear")


def test_labels_are_drawn_from_the_truth_probabilities(tables):
    """Check the labels agree with the oracle's probabilities (mean label within 4 sigma of mean p)."""
    o = tables["orders"].merge(tables["truth_orders"], on="order_id").merge(tables["fulfillment_outcomes"], on="order_id")
    late = (o.cancelled == "true") | o.delivered_at.isna() | (o.delivered_at > o.promised_at)
    fraud = o.order_id.isin(tables["fraud_labels"].order_id)
    for label, p in ((late, o.p_late), (fraud, o.p_fraud)):
        sigma = np.sqrt((p * (1 - p)).sum()) / len(p)
        assert abs(label.mean() - p.mean()) < 4 * sigma + 1e-4
    r = tables["returns"].merge(tables["truth_returns"], on="return_id").merge(tables["return_outcomes"], on="return_id")
    abuse = r.abuse_confirmed == "true"
    assert abs(abuse.mean() - r.p_abuse.mean()) < 4 * np.sqrt((r.p_abuse * (1 - r.p_abuse)).sum()) / len(r) + 1e-3


def test_truth_files_hold_valid_probabilities(tables):
    to, tr = tables["truth_orders"], tables["truth_returns"]
    assert list(to.columns) == ["order_id", "p_late", "p_fraud"]
    assert list(tr.columns) == ["return_id"] + [f"p_{d}" for d in DISPOSITIONS] + ["p_abuse"]
    assert set(to.order_id) == set(tables["orders"].order_id)
    assert set(tr.return_id) == set(tables["returns"].return_id)
    probs = pd.concat([to.drop(columns="order_id").stack(), tr.drop(columns="return_id").stack()])
    assert probs.between(0, 1).all()
    assert np.allclose(tr[[f"p_{d}" for d in DISPOSITIONS]].sum(axis=1), 1.0)


def test_references_hold(tables):
    t = tables
    assert t["orders"].customer_id.isin(t["customers"].customer_id).all()
    assert t["orders"].fulfillment_node_id.isin(t["nodes"].node_id).all()
    assert t["order_lines"].order_id.isin(t["orders"].order_id).all()
    assert t["order_lines"].sku.isin(t["products"].sku).all()
    assert t["inventory_syncs"].node_id.isin(t["nodes"].node_id).all()
    lines = t["order_lines"].merge(t["orders"][["order_id", "customer_id"]], on="order_id")
    r = t["returns"].merge(lines, on=["order_id", "sku"], how="left", suffixes=("", "_order"))
    assert r.line_no.notna().all()
    assert (r.customer_id == r.customer_id_order).all()
    assert t["return_outcomes"].return_id.isin(t["returns"].return_id).all()
    assert t["fraud_labels"].order_id.isin(t["orders"].order_id).all()


def test_event_times_are_in_causal_order(tables):
    t = tables
    o = t["orders"].merge(t["customers"], on="customer_id", suffixes=("", "_cust"))
    assert (o.created_at_cust < o.created_at).all()
    assert (t["orders"].promised_at > t["orders"].created_at).all()
    f = t["fulfillment_outcomes"].merge(t["orders"], on="order_id")
    d = f.dropna(subset=["delivered_at"])
    assert (d.delivered_at > d.created_at).all() and (d.delivered_at >= d.shipped_at).all()
    c = f[f.cancelled == "true"]
    assert c.delivered_at.isna().all() and (c.cancelled_at > c.created_at).all()
    r = t["returns"].merge(f[["order_id", "delivered_at"]], on="order_id")
    assert (r.requested_at > r.delivered_at).all()
    ro = t["return_outcomes"].merge(t["returns"], on="return_id")
    assert (ro.inspected_at > ro.requested_at).all()
    fl = t["fraud_labels"].merge(t["orders"], on="order_id")
    lag = pd.to_datetime(fl.reported_at) - pd.to_datetime(fl.created_at)
    assert (lag >= pd.Timedelta(days=10)).all()


def test_csv_uses_the_contract_text_conventions(tables):
    o = tables["orders"]
    assert o.created_at.str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ").all()
    assert o.shipping_postcode.str.fullmatch(r"\d{5}").all()
    assert o.shipping_postcode.str.startswith("0").any()  # leading zeros survive
    assert set(tables["fulfillment_outcomes"].cancelled) == {"true", "false"}
    pickup = o.service_level == "pickup"
    assert o.ship_lat[pickup].isna().all() and o.carrier[pickup].isna().all()


def test_recent_returns_may_lack_an_inspection(tables):
    r, ro = tables["returns"], tables["return_outcomes"]
    assert 0 < len(ro) < len(r)


def test_parquet_output_has_zoned_timestamps_and_bools(tmp_path):
    simulate(tmp_path / "pq", fmt="parquet", seed=5, **SMALL)
    for name, table in TABLES.items():
        schema = pq.read_schema(tmp_path / "pq" / f"{name}.parquet")
        assert schema.names == table.column_names
        for col in table.columns:
            typ = schema.field(col.name).type
            if col.kind == "timestamp":
                assert str(getattr(typ, "tz", None)) == "UTC", (name, col.name)
            if col.kind == "bool":
                assert str(typ) == "bool"
    assert (tmp_path / "pq" / "truth" / "orders.csv").exists()
    assert validate_dataset(tmp_path / "pq").errors == []


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(ValueError, match="fmt"):
        simulate(tmp_path, orders=10, fmt="xlsx")
