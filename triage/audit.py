"""The audit as the CLI sees it: retention purge, and export as a contract folder.

`purge(settings, before)` deletes audited decisions and outcomes received before a
time (audit rows hold personal data). `export(settings, out_dir, since)` writes what
the service saw — the decided orders with their lines and any customers sent with
them, the returns, and the outcomes posted for those events — as contract tables
(CSV), so retraining uses exactly what serving saw. Master data (`nodes`,
`products`) never passes through the API: combine the export with the retailer's
master data before training.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from triage.progress import Progress, report
from triage.schema import TABLES
from triage.settings import Settings
from triage.stores import Store, open_store

__all__ = ["purge", "purge_expired", "export", "outcome_rows", "EXPORTED_TABLES"]

EXPORTED_TABLES = (
    "customers",
    "orders",
    "order_lines",
    "returns",
    "fulfillment_outcomes",
    "fraud_labels",
    "review_outcomes",
    "return_outcomes",
)


def _with_store(settings: Settings, store: Store | None):
    return (store, False) if store is not None else (open_store(settings.audit_url), True)


def purge(settings: Settings, before: datetime, *, store: Store | None = None) -> dict[str, int]:
    """Delete decisions and outcomes received before `before` (aware); counts per table."""
    if before.tzinfo is None:
        raise ValueError("before must carry a time zone")
    db, owned = _with_store(settings, store)
    try:
        return db.purge(before)
    finally:
        if owned:
            db.close()


def purge_expired(settings: Settings, *, now: datetime, store: Store | None = None) -> dict[str, int]:
    """Apply `settings.retention_days` as of `now`."""
    return purge(settings, now - timedelta(days=settings.retention_days), store=store)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _write(path: Path, table: str, rows: Iterable[Mapping[str, Any]]) -> int:
    cols = TABLES[table].column_names
    n = 0
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(cols)
        for row in rows:
            w.writerow([_cell(row.get(c)) for c in cols])
            n += 1
    return n


def _ts(value: Any) -> datetime:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)


def outcome_rows(outcomes: Iterable[Any]) -> dict[str, list[dict[str, Any]]]:
    """Posted outcome records (`OutcomeRecord`s) as contract outcome rows, per table.

    One place for how posts become rows, shared by `export` and `triage monitor`:
    `fulfillment_outcomes` is one row per order, the union of its delivery and
    cancellation posts (a later post never erases a time; any cancellation cancels);
    `fraud_labels` holds every chargeback and every confirmed review (a cleared review
    is not a fraud label); `review_outcomes` every review, cleared or confirmed (training
    labels a reviewed order from its review at once); `return_outcomes` holds every inspection as posted, in order
    (the caller decides about a return inspected twice). Other types are not rows here.
    """
    fulfillment: dict[str, dict[str, Any]] = {}
    fraud: list[dict[str, Any]] = []
    reviews: list[dict[str, Any]] = []
    inspections: list[dict[str, Any]] = []
    for o in outcomes:
        body = o.body
        if o.type in ("delivery", "cancellation"):
            row = fulfillment.setdefault(
                o.entity_id,
                {
                    "order_id": o.entity_id,
                    "shipped_at": None,
                    "delivered_at": None,
                    "cancelled": False,
                    "cancelled_at": None,
                },
            )
            for f in ("shipped_at", "delivered_at", "cancelled_at"):
                if body.get(f) is not None:
                    row[f] = body[f]
            if o.type == "cancellation" or body.get("cancelled"):
                row["cancelled"] = True
        elif o.type in ("chargeback", "review"):
            if o.type == "review":
                entity = "return_id" if body.get("order_id") is None and body.get("return_id") else "order_id"
                reviews.append({entity: o.entity_id, "reviewed_at": body["reported_at"],
                                "confirmed": bool(body.get("confirmed", True))})
                if entity == "return_id":
                    continue  # a return's review: abuse, not a fraud label
            if o.type == "review" and not body.get("confirmed", True):
                continue  # a cleared review is not a fraud label
            fraud.append(
                {
                    "order_id": o.entity_id,
                    "fraud_type": body.get("fraud_type"),
                    "reported_at": body["reported_at"],
                }
            )
        elif o.type == "inspection":
            inspections.append({"return_id": o.entity_id, **body})
    return {
        "fulfillment_outcomes": list(fulfillment.values()),
        "fraud_labels": fraud,
        "review_outcomes": reviews,
        "return_outcomes": inspections,
    }


def export(
    settings: Settings,
    out_dir: str | Path,
    since: datetime | None = None,
    *,
    store: Store | None = None,
    progress: Progress | None = None,
) -> dict[str, int]:
    """Write audited events (event time ≥ `since`) and their outcomes as contract CSVs.

    An event decided more than once (retries under different Idempotency-Keys) is
    written once, as last received. Returns rows written per table.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    db, owned = _with_store(settings, store)
    try:
        orders: dict[str, dict[str, Any]] = {}
        returns: dict[str, dict[str, Any]] = {}
        customers: dict[str, dict[str, Any]] = {}
        for n, rec in enumerate(db.iter_decisions(since), 1):
            if n % 10_000 == 0:
                report(progress, "export: audited decisions read", n, None)
            if rec.kind == "order":
                orders[rec.event_id] = rec.request
                if isinstance(rec.request.get("customer"), Mapping):
                    customers[rec.request["customer"]["customer_id"]] = rec.request["customer"]
            else:
                returns[rec.event_id] = rec.request
        report(progress, f"export: {len(orders) + len(returns):,} events read; reading outcomes, writing tables")
        rows = outcome_rows(
            o
            for o in db.iter_outcomes(set(orders) | set(returns))
            if o.entity_id in (returns if o.type == "inspection" or (o.type == "review" and o.body.get("order_id")
                                                                      is None) else orders)
        )
        # a return inspected more than once: its last inspection
        inspections = {r["return_id"]: r for r in rows["return_outcomes"]}
        lines = [
            {"order_id": oid, **line} for oid, order in orders.items() for line in order.get("lines", [])
        ]
        counts = {
            "customers": _write(out / "customers.csv", "customers", customers.values()),
            "orders": _write(out / "orders.csv", "orders", orders.values()),
            "order_lines": _write(out / "order_lines.csv", "order_lines", lines),
            "returns": _write(out / "returns.csv", "returns", returns.values()),
            "fulfillment_outcomes": _write(
                out / "fulfillment_outcomes.csv", "fulfillment_outcomes", rows["fulfillment_outcomes"]
            ),
            "fraud_labels": _write(
                out / "fraud_labels.csv",
                "fraud_labels",
                sorted(rows["fraud_labels"], key=lambda r: _ts(r["reported_at"])),
            ),
            "review_outcomes": _write(
                out / "review_outcomes.csv",
                "review_outcomes",
                sorted(rows["review_outcomes"], key=lambda r: _ts(r["reviewed_at"])),
            ),
            "return_outcomes": _write(out / "return_outcomes.csv", "return_outcomes", inspections.values()),
        }
        return counts
    finally:
        if owned:
            db.close()
