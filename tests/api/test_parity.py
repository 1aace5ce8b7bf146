"""The contract between training and serving: features used by the API equal the offline ones.

A simulated retailer's orders and returns are replayed through the API in time order,
with each outcome posted to /v1/outcomes when it becomes known; the features the
service audited for every event must equal `build_order_features` /
`build_return_features` for the same event. Real (tiny) model bundles are served, so
scores are real and no decision may be degraded.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from features import build_order_features, build_return_features
from models import save_bundle
from triage.contract import load_dataset
from triage.keys import create_key
from triage.schema import TABLES
from triage.settings import Settings
from triage.simulator import simulate
from triage.stores import open_store

pytestmark = pytest.mark.slow


def _json(v: Any) -> Any:
    if v is pd.NaT:
        return None
    if isinstance(v, pd.Timestamp):
        return None if pd.isna(v) else v.isoformat().replace("+00:00", "Z")
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, np.generic):
        return v.item()
    return v


def _row(table: str, rec: dict[str, Any]) -> dict[str, Any]:
    return {c: _json(rec.get(c)) for c in TABLES[table].column_names if c in rec}


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[dict[str, Any]]:
    """A simulated dataset, tiny real bundles trained on it, and a master-data folder."""
    from training.train import train_all

    root = tmp_path_factory.mktemp("parity")
    simulate(root / "sim", orders=2000, days=30, seed=11)
    ds = load_dataset(root / "sim")
    result = train_all(ds, register=False, progress=lambda _m: None,
                       estimator_params={"max_rounds": 40, "early_stopping_rounds": 10})
    bundles = root / "bundles"
    for name, m in result.models.items():
        save_bundle(m.bundle, bundles / f"{name}.joblib")
    # master data (and the nodes' stock syncs) bootstrap the online state; events stream in
    master = root / "master"
    master.mkdir()
    for t in ("nodes", "products", "customers", "inventory_syncs"):
        shutil.copy(root / "sim" / f"{t}.csv", master / f"{t}.csv")
    for t in ("orders", "order_lines"):
        (master / f"{t}.csv").write_text(",".join(TABLES[t].column_names) + "\n")
    yield {"ds": ds, "bundles": bundles, "master": master, "trained": sorted(result.models)}


def _timeline(ds) -> list[tuple[pd.Timestamp, int, str, dict]]:
    """Events and outcomes with the time each happened / became known; events first at a tie."""
    items: list[tuple[pd.Timestamp, int, str, dict]] = []
    for r in ds["orders"].to_dict("records"):
        items.append((r["created_at"], 0, "order", r))
    for r in ds["returns"].to_dict("records"):
        items.append((r["requested_at"], 0, "return", r))
    for r in ds["fulfillment_outcomes"].to_dict("records"):
        times = [r[c] for c in ("delivered_at", "cancelled_at", "shipped_at") if pd.notna(r.get(c))]
        if times:
            items.append((times[0], 1, "fulfillment", r))
    for r in ds["fraud_labels"].to_dict("records"):
        items.append((r["reported_at"], 1, "fraud", r))
    for r in ds["return_outcomes"].to_dict("records"):
        items.append((r["inspected_at"], 1, "inspection", r))
    return sorted(items, key=lambda x: (x[0], x[1]))


def _outcome(kind: str, r: dict[str, Any]) -> dict[str, Any]:
    if kind == "fulfillment":
        body = {"type": "delivery", **_row("fulfillment_outcomes", r)}
        body["cancelled"] = bool(r["cancelled"])
        if body["cancelled"] and body.get("cancelled_at"):
            body["type"] = "cancellation"
        return {k: v for k, v in body.items() if v is not None}
    if kind == "fraud":
        return {"type": "chargeback", **_row("fraud_labels", r)}
    return {"type": "inspection", **_row("return_outcomes", r), "abuse_confirmed": bool(r["abuse_confirmed"])}


def _same(a: Any, b: Any) -> bool:
    if a is None or (isinstance(a, float) and np.isnan(a)):
        return b is None or (isinstance(b, float) and np.isnan(b))
    if isinstance(a, float | np.floating):
        return b is not None and b == pytest.approx(float(a), rel=1e-9, abs=1e-9)
    return a == b


def test_replayed_events_use_the_offline_features(world, tmp_path):
    """Check that every decided event's audited features equal the offline pipeline's, that
    scores come from the served models, and that no decision is degraded."""
    ds = world["ds"]
    settings = Settings(home=tmp_path / "home", bundle_dir=world["bundles"], bootstrap_dir=world["master"])
    key = create_key(settings, "replay", "decide,outcomes,read")
    lines = {k: g.to_dict("records") for k, g in ds["order_lines"].groupby("order_id")}
    customers = ds["customers"].set_index("customer_id", drop=False)
    decided: dict[str, str] = {}
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        c.headers["X-API-Key"] = key
        assert c.get("/readyz").json()["status"] == "ready"
        for i, (_, _, kind, r) in enumerate(_timeline(ds)):
            if kind == "order":
                body = _row("orders", r)
                body["lines"] = [_row("order_lines", x) for x in lines.get(r["order_id"], [])]
                if i % 2:  # half the orders carry their customer record, as a new customer would
                    body["customer"] = _row("customers", customers.loc[r["customer_id"]].to_dict())
                resp = c.post("/v1/orders/decisions", json=body)
            elif kind == "return":
                resp = c.post("/v1/returns/decisions", json=_row("returns", r))
            else:
                resp = c.post("/v1/outcomes", json=_outcome(kind, r))
            assert resp.status_code == 200, (kind, resp.text)
            if kind in ("order", "return"):
                d = resp.json()
                assert d["degraded"] is False, d
                decided[d["event_id"]] = d["decision_id"]
        sample = next(iter(decided.values()))
        assert c.get(f"/v1/decisions/{sample}").json()["features"]

    _assert_offline_features(ds, settings, world)


def _assert_offline_features(ds, settings, world) -> None:
    store = open_store(settings.audit_url)
    try:
        records = {r.event_id: r for r in store.iter_decisions()}
    finally:
        store.close()
    assert len(records) == len(ds["orders"]) + len(ds["returns"])
    trained = set(world["trained"])
    score_of = {"triage-delay": "p_late", "triage-fraud": "p_fraud", "triage-returns": "p_abuse"}
    for kind, offline in (("order", build_order_features(ds).set_index("order_id")),
                          ("return", build_return_features(ds).set_index("return_id"))):
        wanted = [score_of[n] for n in trained if (n == "triage-returns") == (kind == "return")]
        mismatches = []
        for event_id, row in offline.iterrows():
            rec = records[str(event_id)]
            assert rec.kind == kind and not rec.degraded and rec.features is not None
            assert all(rec.scores.get(s) is not None for s in wanted), rec.scores
            for col, want in row.drop(offline.columns[0]).items():
                got = rec.features.get(col)
                if not _same(want, got):
                    mismatches.append(f"{event_id}.{col}: offline {want!r}, served {got!r}")
        assert not mismatches, f"{len(mismatches)} feature mismatches, e.g. {mismatches[:10]}"


def test_replayed_batches_use_the_offline_features(world, tmp_path):
    """Check the same through the batch routes: the timeline's events in batches (runs of one
    kind between outcomes, up to 60, shuffled), each item audited with the offline features —
    so an item sees the earlier items of its own batch, never a same-time one."""
    ds = world["ds"]
    settings = Settings(home=tmp_path / "home", bundle_dir=world["bundles"], bootstrap_dir=world["master"])
    key = create_key(settings, "replay", "decide,outcomes,read")
    lines = {k: g.to_dict("records") for k, g in ds["order_lines"].groupby("order_id")}
    customers = ds["customers"].set_index("customer_id", drop=False)
    rng = np.random.default_rng(5)
    sizes: list[int] = []
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        c.headers["X-API-Key"] = key
        run: list[tuple[str, dict]] = []

        def flush() -> None:
            if not run:
                return
            kind = run[0][0]
            items = [b for _, b in run]
            rng.shuffle(items)  # type: ignore[arg-type]
            resp = c.post(f"/v1/{kind}s/decisions:batch", json={"items": items})
            assert resp.status_code == 200, resp.text
            for res in resp.json()["results"]:
                assert res["status"] == 200 and res["decision"]["degraded"] is False, res
            sizes.append(len(items))
            run.clear()

        for i, (_, _, kind, r) in enumerate(_timeline(ds)):
            if kind in ("order", "return"):
                if run and (run[0][0] != kind or len(run) >= 60):
                    flush()
                if kind == "order":
                    body = _row("orders", r)
                    body["lines"] = [_row("order_lines", x) for x in lines.get(r["order_id"], [])]
                    if i % 2:
                        body["customer"] = _row("customers", customers.loc[r["customer_id"]].to_dict())
                else:
                    body = _row("returns", r)
                run.append((kind, body))
                continue
            flush()
            resp = c.post("/v1/outcomes", json=_outcome(kind, r))
            assert resp.status_code == 200, (kind, resp.text)
        flush()
    assert max(sizes) > 10, sizes
    _assert_offline_features(ds, settings, world)
