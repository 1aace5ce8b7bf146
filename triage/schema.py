"""The canonical data contract, version 1, as data.

One declaration per table and column (`../shared/contract/README.md`), read by the
loader, the validator, the simulator and the API's request models, so the contract
is written down once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "Column",
    "Table",
    "TABLES",
    "TABLE_ORDER",
    "REQUIRED_TABLES",
    "CONTRACT_VERSION",
    "DISPOSITIONS",
    "table",
]

CONTRACT_VERSION = 1

Kind = Literal["string", "timestamp", "float", "int", "bool", "category"]

DISPOSITIONS = ("restock", "refurbish", "liquidate", "return_to_vendor", "recycle")


@dataclass(frozen=True, kw_only=True)
class Column:
    """A contract column: its kind, whether it may be null or absent, its rules."""

    name: str
    kind: Kind
    nullable: bool = False
    optional: bool = False  # the column itself may be absent from the file
    categories: tuple[str, ...] = ()  # the listed set; other values are accepted as unseen
    min_value: float | None = None  # inclusive lower bound for numbers
    references: str | None = None  # "table.column" this value must exist in


@dataclass(frozen=True, kw_only=True)
class Table:
    """A contract table: columns in contract order, key, and whether it must be present."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    required: bool = True
    time_column: str | None = None

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"table {self.name!r} has no column {name!r}")


def _c(name: str, kind: Kind, **kw: object) -> Column:
    return Column(name=name, kind=kind, **kw)  # type: ignore[arg-type]


TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            name="nodes",
            key=("node_id",),
            columns=(
                _c("node_id", "string"),
                _c("node_type", "category", categories=("dc", "store", "marketplace_seller")),
                _c("region", "string"),
                _c("lat", "float"),
                _c("lon", "float"),
                _c("daily_capacity", "int", min_value=0),
            ),
        ),
        Table(
            name="products",
            key=("sku",),
            columns=(
                _c("sku", "string"),
                _c(
                    "category",
                    "category",
                    categories=("electronics", "apparel", "footwear", "home", "beauty", "toys", "grocery"),
                ),
                _c("list_price", "float", min_value=0),
                _c("unit_cost", "float", min_value=0),
                _c("weight_kg", "float", min_value=0),
                _c("vendor_id", "string"),
                _c("is_returnable", "bool"),
            ),
        ),
        Table(
            name="customers",
            key=("customer_id",),
            time_column="created_at",
            columns=(
                _c("customer_id", "string"),
                _c("created_at", "timestamp"),
                _c("loyalty_tier", "category", categories=("none", "silver", "gold", "platinum")),
                _c("is_guest", "bool"),
                _c("home_region", "string"),
            ),
        ),
        Table(
            name="orders",
            key=("order_id",),
            time_column="created_at",
            columns=(
                _c("order_id", "string"),
                _c("customer_id", "string", references="customers.customer_id"),
                _c("created_at", "timestamp"),
                _c("channel", "category", categories=("web", "app", "store", "marketplace", "call_center")),
                _c("order_total", "float", min_value=0),
                _c("item_count", "int", min_value=0),
                _c(
                    "payment_method",
                    "category",
                    categories=("card", "paypal", "gift_card", "bnpl", "store_credit"),
                ),
                _c("card_country", "string", nullable=True),
                _c("ip_country", "string", nullable=True),
                _c("device_id", "string", nullable=True),
                _c("email_hash", "string"),
                _c("billing_postcode", "string"),
                _c("shipping_postcode", "string"),
                _c("ship_lat", "float", nullable=True),
                _c("ship_lon", "float", nullable=True),
                _c("promo_code", "string", nullable=True),
                _c("fulfillment_node_id", "string", references="nodes.node_id"),
                _c(
                    "fulfillment_type",
                    "category",
                    categories=("ship_from_dc", "ship_from_store", "pickup_in_store", "marketplace_seller"),
                ),
                _c("carrier", "string", nullable=True),
                _c("service_level", "category", categories=("standard", "express", "same_day", "pickup")),
                _c("promised_at", "timestamp"),
            ),
        ),
        Table(
            name="order_lines",
            key=("order_id", "line_no"),
            columns=(
                _c("order_id", "string", references="orders.order_id"),
                _c("line_no", "int", min_value=0),
                _c("sku", "string", references="products.sku"),
                _c("quantity", "int", min_value=1),
                _c("unit_price", "float", min_value=0),
            ),
        ),
        Table(
            name="inventory_syncs",
            required=False,
            time_column="synced_at",
            columns=(
                _c("node_id", "string", references="nodes.node_id"),
                _c("synced_at", "timestamp"),
            ),
        ),
        Table(
            name="returns",
            required=False,
            key=("return_id",),
            time_column="requested_at",
            columns=(
                _c("return_id", "string"),
                _c("order_id", "string", references="orders.order_id"),
                _c("sku", "string", references="products.sku"),
                _c("customer_id", "string", references="customers.customer_id"),
                _c("requested_at", "timestamp"),
                _c("quantity", "int", min_value=1),
                _c("return_channel", "category", categories=("mail", "store", "kiosk", "carrier_pickup")),
                _c(
                    "reason_code",
                    "category",
                    categories=(
                        "wrong_size",
                        "defective",
                        "damaged_in_transit",
                        "not_as_described",
                        "wrong_item",
                        "changed_mind",
                        "arrived_late",
                        "other",
                    ),
                ),
                _c("reason_text", "string", nullable=True),
                _c("reported_condition", "category", categories=("unopened", "opened", "used", "damaged")),
                _c("refund_amount", "float", min_value=0),
            ),
        ),
        Table(
            name="fulfillment_outcomes",
            required=False,
            key=("order_id",),
            columns=(
                _c("order_id", "string", references="orders.order_id"),
                _c("shipped_at", "timestamp", nullable=True),
                _c("delivered_at", "timestamp", nullable=True),
                _c("cancelled", "bool"),
                _c("cancelled_at", "timestamp", nullable=True, optional=True),
            ),
        ),
        Table(
            name="fraud_labels",
            required=False,
            columns=(
                _c("order_id", "string", references="orders.order_id"),
                _c("fraud_type", "category", categories=("chargeback", "confirmed_fraud")),
                _c("reported_at", "timestamp"),
            ),
        ),
        # triage's own optional table beside contract v1: every manual review's verdict on an
        # order or a return (`triage export` writes it from the review outcomes; `triage train`
        # labels a reviewed order at once, approved = legitimate, declined = fraud, and an
        # inspected return declined by a reviewer as abuse). Other readers ignore it.
        Table(
            name="review_outcomes",
            required=False,
            columns=(
                _c("order_id", "string", nullable=True, references="orders.order_id"),
                _c("return_id", "string", nullable=True, optional=True, references="returns.return_id"),
                _c("reviewed_at", "timestamp"),
                _c("confirmed", "bool"),
            ),
        ),
        Table(
            name="return_outcomes",
            required=False,
            key=("return_id",),
            columns=(
                _c("return_id", "string", references="returns.return_id"),
                _c("inspected_at", "timestamp"),
                _c("disposition", "category", categories=DISPOSITIONS),
                _c("abuse_confirmed", "bool"),
            ),
        ),
    )
}

# Load order: a table comes after every table it references.
TABLE_ORDER: tuple[str, ...] = tuple(TABLES)
REQUIRED_TABLES: tuple[str, ...] = tuple(n for n, t in TABLES.items() if t.required)


def table(name: str) -> Table:
    """The declaration of a contract table, by name."""
    return TABLES[name]
