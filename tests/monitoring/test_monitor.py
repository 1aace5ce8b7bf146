"""`triage monitor` on a simulated retailer: a carrier disruption is flagged, a quiet window is not.

The champion is trained on the first 90 days; the decisions of the following 30 days
are written to a real audit store exactly as the service audits them (features used,
scores, actions), with the delivery outcomes posted for them. In one run the busiest
carrier delivers every post-cut-off order two days late (a disruption); in the other
nothing changes.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime

import pandas as pd
import pytest

from features import build_order_features
from models.bundle import save_bundle
from training import train_all
from triage import cli
from triage.contract import Dataset, load_dataset
from triage.settings import Settings, get_settings
from triage.simulator import simulate
from triage.stores import open_store
from triage.stores.records import DecisionRecord, OutcomeRecord

CUTOFF = pd.Timestamp("2025-03-31T00:00:00Z")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("monitor")
    simulate(root / "data", orders=12_000, days=120, seed=3)
    ds = load_dataset(root / "data")
    result = train_all(ds, cutoff=CUTOFF, register=False, progress=lambda _m: None)
    bundles = {name: r.bundle for name, r in result.models.items()}
    for name, bundle in bundles.items():
        bundle.versions["registry_version"] = "1"
        save_bundle(bundle, root / "bundles" / f"{name}.joblib")
    return root, ds, bundles


def _disrupted(ds: Dataset) -> tuple[Dataset, str]:
    """The busiest carrier delivers every order after the cut-off two days after its promise."""
    orders = ds["orders"]
    after = orders[orders["created_at"] >= CUTOFF]
    carrier = after["carrier"].value_counts().index[0]
    hit = after.loc[after["carrier"] == carrier, ["order_id", "promised_at"]]
    fo = ds["fulfillment_outcomes"].merge(hit, on="order_id", how="left")
    mask = fo["promised_at"].notna()
    fo.loc[mask, "delivered_at"] = fo.loc[mask, "promised_at"] + pd.Timedelta(days=2)
    fo.loc[mask, "cancelled"] = False
    tables = dict(ds.tables)
    tables["fulfillment_outcomes"] = fo.drop(columns="promised_at")
    return Dataset(tables=tables, present=ds.present), carrier


def _audit(ds: Dataset, bundles: dict, home) -> None:
    """Write the post-cut-off orders as audited decisions, and their delivery outcomes."""
    feats = build_order_features(ds, since=CUTOFF).set_index("order_id")
    names = bundles["triage-delay"].feature_names
    scores = pd.concat([b.predict_frame(feats[b.feature_names]) for n, b in bundles.items()
                        if b.entity == "order"], axis=1)
    orders = ds["orders"].set_index("order_id").loc[feats.index]
    now = datetime(2025, 5, 1, tzinfo=UTC)
    records = []
    for oid, row in orders.iterrows():
        request = {"order_id": oid, **{k: (v.isoformat() if isinstance(v, pd.Timestamp) else v)
                                       for k, v in row.items() if pd.notna(v)}}
        features = {k: (None if pd.isna(v) else (v if isinstance(v, str) else float(v)))
                    for k, v in feats.loc[oid, names].items()}
        records.append(DecisionRecord(
            decision_id=str(uuid.uuid4()), kind="order", event_id=oid, event_time=row["created_at"].to_pydatetime(),
            idempotency_key=f"order:id:{oid}", body_hash=hashlib.sha256(oid.encode()).hexdigest(),
            request=request, features=features, scores={k: float(v) for k, v in scores.loc[oid].items()},
            actions=["release"], reasons=[], priority=1.0, policy_version="test", models={}, degraded=False,
            latency_ms=1.0, received_at=now, api_key=None, response={},
        ))
    store = open_store(f"sqlite:///{home / 'triage.db'}")
    try:
        store.insert_decisions(records)
        fo = ds["fulfillment_outcomes"].set_index("order_id")
        for oid in feats.index.intersection(fo.index):
            o = fo.loc[oid]
            if pd.isna(o["delivered_at"]) and not o["cancelled"]:
                continue
            body = {"order_id": oid, "delivered_at": None if pd.isna(o["delivered_at"]) else o["delivered_at"].isoformat(),
                    "cancelled": bool(o["cancelled"]),
                    "cancelled_at": None if pd.isna(o["cancelled_at"]) else o["cancelled_at"].isoformat()}
            store.insert_outcome(OutcomeRecord(
                outcome_id=str(uuid.uuid4()), type="cancellation" if o["cancelled"] else "delivery", entity_id=oid,
                known_at=(o["delivered_at"] if pd.notna(o["delivered_at"]) else o["cancelled_at"]).to_pydatetime(),
                body_hash=hashlib.sha256(json.dumps(body).encode()).hexdigest(), body=body, received_at=now,
            ))
    finally:
        store.close()


def _run_monitor(tmp_path, root, monkeypatch, capsys) -> tuple[int, dict, str]:
    monkeypatch.setenv("TRIAGE_HOME", str(tmp_path))
    monkeypatch.setenv("TRIAGE_BUNDLE_DIR", str(root / "bundles"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    get_settings.cache_clear()
    try:
        code = cli.main(["monitor", "--since", CUTOFF.isoformat(), "--model", "triage-delay",
                         "--out", str(tmp_path / "reports")])
    finally:
        get_settings.cache_clear()
    summary = json.loads((tmp_path / "reports" / "summary.json").read_text())
    return code, summary, capsys.readouterr().out


def test_monitor_flags_a_carrier_disruption_and_exits_3(world, tmp_path, monkeypatch, capsys):
    root, ds, bundles = world
    shifted, carrier = _disrupted(ds)
    _audit(shifted, bundles, tmp_path)
    code, summary, out = _run_monitor(tmp_path, root, monkeypatch, capsys)
    assert code == 3, out
    delay = summary["models"][0]
    assert delay["model"] == "triage-delay" and summary["status"] == "alert"
    strongest = sorted(delay["drift"]["columns"].items(), key=lambda kv: -kv[1]["score"])[:4]
    assert {"carrier_late_rate_7d", "carrier_late_rate_28d"} <= {name for name, _ in strongest}, strongest
    assert "carrier_late_rate_7d" in out and "ALERT" in out
    assert (tmp_path / "reports" / "triage-delay-v1-drift.html").exists()


def test_monitor_stays_quiet_without_a_shift(world, tmp_path, monkeypatch, capsys):
    root, ds, bundles = world
    _audit(ds, bundles, tmp_path)
    code, summary, out = _run_monitor(tmp_path, root, monkeypatch, capsys)
    assert code == 0, out
    assert summary["status"] == "ok" and "status: ok" in out
    quality = summary["models"][0]["quality"]
    assert quality["labelled"] > 500  # delivery outcomes matured and were judged against training


def test_settings_default_thresholds_are_the_ones_documented():
    s = Settings()
    assert (s.drift_share_threshold, s.drift_score_threshold, s.quality_drop_threshold) == (0.5, 2.0, 0.05)


def test_live_delay_labels_only_orders_whose_outcome_was_posted():
    from types import SimpleNamespace

    from triage.monitoring.monitor import _labels, decisions_frame, outcome_dataset

    def decision(oid: str) -> SimpleNamespace:
        t = datetime(2026, 1, 1, tzinfo=UTC)
        return SimpleNamespace(
            decision_id=f"d-{oid}", kind="order", event_id=oid, event_time=t, received_at=t,
            request={"order_id": oid, "customer_id": "c", "promised_at": "2026-01-03T00:00:00Z",
                     "fulfillment_node_id": "N1", "carrier": "ups", "order_total": 10.0},
            features={}, scores={"p_late": 0.1}, actions=["release"], priority=1.0, degraded=False,
        )

    frame = decisions_frame([decision("posted-late"), decision("posted-on-time"), decision("silent")])
    outcomes = [
        SimpleNamespace(type="delivery", entity_id="posted-late", body={"delivered_at": "2026-01-05T00:00:00Z"}),
        SimpleNamespace(type="delivery", entity_id="posted-on-time", body={"delivered_at": "2026-01-02T00:00:00Z"}),
    ]
    labels = _labels("triage-delay", outcome_dataset(frame, outcomes), pd.Timestamp("2026-02-01T00:00:00Z"), 60)
    assert labels.to_dict() == {"posted-late": 1.0, "posted-on-time": 0.0}  # "silent" is unknown, not late
