"""The contract loader: each kind of broken input gets its precise message; nothing is lost."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest

from triage.cli import main
from triage.contract import load_dataset, validate_dataset
from triage.errors import ContractError

ORDER = {
    "order_id": "O1",
    "customer_id": "C1",
    "created_at": "2026-03-01T14:05:00Z",
    "channel": "web",
    "order_total": "40.5",
    "item_count": "2",
    "payment_method": "card",
    "card_country": "NL",
    "ip_country": "",
    "device_id": "D1",
    "email_hash": "e1",
    "billing_postcode": "0101",
    "shipping_postcode": "0101",
    "ship_lat": "52.1",
    "ship_lon": "4.3",
    "promo_code": "",
    "fulfillment_node_id": "N1",
    "fulfillment_type": "ship_from_dc",
    "carrier": "ups",
    "service_level": "standard",
    "promised_at": "2026-03-04T14:05:00Z",
}


def _tables(**overrides: list[dict]) -> dict[str, list[dict]]:
    tables = {
        "nodes": [dict(node_id="N1", node_type="dc", region="north", lat="52", lon="4", daily_capacity="500")],
        "products": [
            dict(sku="S1", category="apparel", list_price="20", unit_cost="8", weight_kg="0.3", vendor_id="V1",
                 is_returnable="TRUE")
        ],
        "customers": [
            dict(customer_id="C1", created_at="2025-01-01T00:00:00+02:00", loyalty_tier="none", is_guest="false",
                 home_region="north")
        ],
        "orders": [dict(ORDER)],
        "order_lines": [dict(order_id="O1", line_no="1", sku="S1", quantity="2", unit_price="20.25")],
    }
    tables.update(overrides)
    return tables


def _write(folder: Path, tables: dict[str, list[dict]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in tables.items():
        with open(folder / f"{name}.csv", "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return folder


def _errors(folder: Path) -> list[str]:
    return [str(p) for p in validate_dataset(folder).errors]


def test_valid_minimal_dataset_loads_with_contract_dtypes(tmp_path):
    ds = load_dataset(_write(tmp_path, _tables()))
    orders = ds["orders"]
    assert str(orders["created_at"].dtype) == "datetime64[ns, UTC]"
    assert orders["billing_postcode"].iloc[0] == "0101"  # leading zero kept
    assert pd.isna(orders["ip_country"].iloc[0]) and orders["item_count"].dtype == "int64"
    assert ds["products"]["is_returnable"].iloc[0]
    # an offset is converted to UTC
    assert ds["customers"]["created_at"].iloc[0] == pd.Timestamp("2024-12-31T22:00:00Z")
    # optional tables absent: present as empty frames, and not counted as present
    assert len(ds["returns"]) == 0 and not ds.has("returns") and ds.has("orders")
    assert list(ds["fulfillment_outcomes"].columns)[-1] == "cancelled_at"


def test_timestamp_without_zone_is_reported_with_table_row_and_column(tmp_path):
    orders = [dict(ORDER), dict(ORDER, order_id="O2", created_at="2026-03-01T14:05:00")]
    errors = _errors(_write(tmp_path, _tables(orders=orders)))
    assert errors == [
        "ERROR orders.created_at: timestamp without time zone; expected ISO 8601 with 'Z' or an offset "
        "like +02:00 — 1 row (row 2)"
    ]


@pytest.mark.parametrize(
    ("table", "row", "message"),
    [
        ("order_lines", dict(order_id="O1", line_no="2", sku="S1", quantity="-1", unit_price="3"),
         "order_lines.quantity: below the minimum 1"),
        ("order_lines", dict(order_id="O1", line_no="2", sku="S1", quantity="two", unit_price="3"),
         "order_lines.quantity: not an integer"),
        ("order_lines", dict(order_id="O9", line_no="1", sku="S1", quantity="1", unit_price="3"),
         "order_lines.order_id: no matching orders.order_id"),
        ("order_lines", dict(order_id="O1", line_no="1", sku="S1", quantity="1", unit_price="3"),
         "order_lines.order_id,line_no: duplicate key"),
        ("orders", dict(ORDER, order_id="O2", created_at="yesterday-ish Z"), "orders.created_at: unparseable"),
        ("orders", dict(ORDER, order_id="O2", order_total=""), "orders.order_total: missing value"),
        ("products", dict(sku="S2", category="home", list_price="1", unit_cost="1", weight_kg="1", vendor_id="V",
                          is_returnable="maybe"), "products.is_returnable: not a boolean"),
    ],
)
def test_each_broken_value_names_table_column_and_row(tmp_path, table, row, message):
    tables = _tables()
    tables[table] = [*tables[table], row]
    errors = _errors(_write(tmp_path, tables))
    assert len(errors) == 1, errors
    assert message in errors[0] and "(row 2)" in errors[0]


def test_missing_required_table_and_column_are_errors(tmp_path):
    tables = _tables()
    del tables["products"]
    tables["orders"] = [{k: v for k, v in ORDER.items() if k != "channel"}]
    errors = _errors(_write(tmp_path, tables))
    assert any("products: required table missing" in e for e in errors)
    assert any("orders.channel: required column missing" in e for e in errors)


def test_unseen_categories_and_extra_columns_are_information_not_errors(tmp_path):
    orders = [dict(ORDER, channel="social_commerce", loyalty_points="12")]
    report = validate_dataset(_write(tmp_path, _tables(orders=orders)))
    assert report.ok
    infos = " ".join(str(p) for p in report.infos)
    assert "social_commerce" in infos and "loyalty_points" in infos
    ds = load_dataset(tmp_path)
    assert ds["orders"]["channel"].iloc[0] == "social_commerce"
    assert "loyalty_points" not in ds["orders"].columns


def test_broken_rows_fail_the_load_by_default(tmp_path):
    lines = [dict(order_id="O1", line_no="1", sku="S1", quantity="0", unit_price="3")]
    with pytest.raises(ContractError, match="order_lines.quantity: below the minimum 1"):
        load_dataset(_write(tmp_path, _tables(order_lines=lines)))


def test_quarantine_sets_broken_rows_aside_with_reasons_and_cascades_references(tmp_path):
    orders = [dict(ORDER), dict(ORDER, order_id="O2", customer_id="C404")]
    lines = [
        dict(order_id="O1", line_no="1", sku="S1", quantity="1", unit_price="3"),
        dict(order_id="O2", line_no="1", sku="S1", quantity="1", unit_price="3"),
    ]
    folder = _write(tmp_path / "d", _tables(orders=orders, order_lines=lines))
    ds = load_dataset(folder, quarantine=tmp_path / "q.csv")
    assert list(ds["orders"]["order_id"]) == ["O1"] and list(ds["order_lines"]["order_id"]) == ["O1"]
    q = pd.read_csv(tmp_path / "q.csv", dtype=str)
    assert list(q["table"]) == ["orders", "order_lines"]
    assert "no matching customers.customer_id" in q["reasons"].iloc[0]
    assert '"customer_id": "C404"' in q["record"].iloc[0]
    assert ds.report.rows_quarantined == {"orders": 1, "order_lines": 1}


def test_csv_and_parquet_of_one_table_together_are_refused(tmp_path):
    folder = _write(tmp_path, _tables())
    pd.DataFrame({"node_id": ["N1"]}).to_parquet(folder / "nodes.parquet")
    with pytest.raises(ContractError, match="both nodes.csv and nodes.parquet"):
        load_dataset(folder)


def test_parquet_tables_load_like_csv(tmp_path):
    csv_ds = load_dataset(_write(tmp_path / "csv", _tables()))
    pq = tmp_path / "pq"
    pq.mkdir()
    for name in ("nodes", "products", "customers", "orders", "order_lines"):
        csv_ds[name].to_parquet(pq / f"{name}.parquet", index=False)
    pq_ds = load_dataset(pq)
    pd.testing.assert_frame_equal(pq_ds["orders"], csv_ds["orders"])


def test_header_only_optional_table_means_no_records(tmp_path):
    folder = _write(tmp_path, _tables())
    (folder / "fraud_labels.csv").write_text("order_id,fraud_type,reported_at\n")
    ds = load_dataset(folder)
    assert ds.has("fraud_labels") and len(ds["fraud_labels"]) == 0


def test_validate_command_exits_nonzero_on_errors_and_zero_with_quarantine(tmp_path, capsys):
    lines = [dict(order_id="O1", line_no="1", sku="S404", quantity="1", unit_price="3")]
    folder = _write(tmp_path / "d", _tables(order_lines=lines))
    assert main(["validate", str(folder)]) == 1
    assert "order_lines.sku: no matching products.sku" in capsys.readouterr().out
    assert main(["validate", str(folder), "--quarantine", str(tmp_path / "q.csv")]) == 0
    assert "1 rows set aside" in capsys.readouterr().out
