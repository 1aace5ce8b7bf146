"""The chain every dataset shape goes through: validate → train → score → backtest → tune →
serve one order and one return decision (→ monitor, in the bench).

`run_chain` calls the domain core in-process, the way the commands do, and records each
stage as ok, skipped (with the one-line reason the product gives) or FAILED (an exception
that is not one of the product's own errors, or a result that is silently wrong: a trained
head without a test metric, a trained model that leaves scores empty, a degraded decision).
Used by `tests/test_shapes.py` (a fast subset) and `bench/bench_shapes.py` (every shape).
"""

from __future__ import annotations

import logging
import math
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from triage.errors import TriageError

__all__ = ["Stage", "ChainResult", "run_chain", "chain_cutoff", "FAST"]

# few, shallow trees: the shapes test the chain, not the models' quality
FAST = {"max_rounds": 30, "early_stopping_rounds": 5, "num_leaves": 7}


@dataclass
class Stage:
    name: str
    status: str  # "ok" | "skipped" | "FAILED"
    detail: str = ""
    seconds: float = 0.0


@dataclass
class ChainResult:
    shape: str
    stages: list[Stage] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    trained: set[str] = field(default_factory=set)  # registered names of the models trained
    skipped: dict[str, str] = field(default_factory=dict)  # model (or model/head) → the reason given

    @property
    def failed(self) -> list[Stage]:
        return [s for s in self.stages if s.status == "FAILED"]

    def stage(self, name: str) -> Stage:
        return next(s for s in self.stages if s.name == name)

    def explain(self) -> str:
        return "\n".join(f"{self.shape}/{s.name}: {s.status} ({s.seconds:.1f}s) {s.detail}" for s in self.stages)


class _ErrorLog(logging.Handler):
    """Collects ERROR records logged while the service runs."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(f"{record.name}: {record.getMessage()}")


class _Failed(Exception):
    """A stage finished but its result is wrong."""


def chain_cutoff(orders: pd.DataFrame, fraction: float = 0.75) -> pd.Timestamp:
    """The training cut-off the chain uses: `fraction` of the way through the orders' time span."""
    lo, hi = orders["created_at"].min(), orders["created_at"].max()
    return (lo + (hi - lo) * fraction).floor("s")


def _json(v: Any) -> Any:
    if isinstance(v, pd.Timestamp):
        return None if pd.isna(v) else v.tz_convert("UTC").isoformat().replace("+00:00", "Z")
    if v is None or v is pd.NaT or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, np.generic):
        return v.item()
    return v


def _new_events(ds) -> tuple[dict, dict]:
    """One new order (like the latest one) and one new return (of an existing order), both
    a minute after the data ends, as the workflow engine would post them."""
    from triage.schema import TABLES

    at = ds.max_event_time + pd.Timedelta(minutes=1)
    o = ds["orders"].sort_values("created_at").iloc[-1]
    order = {c: _json(o[c]) for c in TABLES["orders"].column_names}
    order.update(order_id="SHAPE-O-1", created_at=_json(at),
                 promised_at=_json(at + (o["promised_at"] - o["created_at"])))
    lines = ds["order_lines"][ds["order_lines"]["order_id"] == o["order_id"]]
    order["lines"] = [{c: _json(r[c]) for c in TABLES["order_lines"].column_names if c != "order_id"}
                      for r in lines.to_dict("records")]
    if len(ds["returns"]):
        r = ds["returns"].sort_values("requested_at").iloc[-1]
        ret = {c: _json(r[c]) for c in TABLES["returns"].column_names}
    else:
        line = ds["order_lines"].iloc[0]
        first = ds["orders"].set_index("order_id").loc[line["order_id"]]
        ret = {"order_id": line["order_id"], "sku": line["sku"], "customer_id": first["customer_id"],
               "quantity": 1, "return_channel": "mail", "reason_code": "wrong_size", "reason_text": None,
               "reported_condition": "unopened", "refund_amount": float(line["unit_price"])}
    ret.update(return_id="SHAPE-R-1", requested_at=_json(at + pd.Timedelta(minutes=1)))
    return order, ret


def run_chain(
    shape: str,
    folder: Path,
    work: Path,
    *,
    cutoff: pd.Timestamp,
    estimator_params: dict | None = None,
    fraud_label_window_days: int = 60,
    monitor: bool = False,
    serve_orders: int = 0,
) -> ChainResult:
    """Run `folder` (a contract dataset) through the chain with state under `work`.

    `serve_orders`: also post up to that many of the out-of-time orders (as new ids) to the
    service, so that `monitor` has decisions to judge."""
    from models import save_bundle
    from triage.contract import load_dataset, validate_dataset
    from triage.settings import Settings

    res = ChainResult(shape=shape)
    settings = Settings(home=work / "home", bundle_dir=work / "bundles", bootstrap_dir=folder,
                        mlflow_tracking_uri=f"sqlite:///{work / 'mlflow.db'}", mlruns_dir=work / "mlruns")
    (work / "bundles").mkdir(parents=True, exist_ok=True)
    ctx: dict[str, Any] = {}

    def stage(name: str, fn) -> None:
        t0 = time.perf_counter()
        try:
            detail = fn() or ""
            status = "skipped" if detail.startswith("skipped") else "ok"
            detail = detail.removeprefix("skipped: ")
        except TriageError as exc:
            status, detail = "skipped", exc.message.splitlines()[0]
        except _Failed as exc:
            status, detail = "FAILED", str(exc)
        except Exception as exc:  # noqa: BLE001 - an unexpected error is what the suite looks for
            tb = traceback.extract_tb(exc.__traceback__)[-1]
            status = "FAILED"
            detail = f"{type(exc).__name__}: {exc} ({Path(tb.filename).name}:{tb.lineno})"
        res.stages.append(Stage(name, status, detail, time.perf_counter() - t0))

    def validate() -> str:
        report = validate_dataset(folder)
        if not report.ok:
            raise _Failed("dataset does not validate: " + "; ".join(str(p) for p in report.errors[:3]))
        ctx["ds"] = load_dataset(folder)
        return ""

    def train() -> str:
        from training import train_all

        lines: list[str] = []
        result = train_all(ctx["ds"], cutoff=cutoff, register=False, progress=lines.append,
                           estimator_params=estimator_params, fraud_label_window_days=fraud_label_window_days)
        res.trained = set(result.models)
        res.skipped = dict(result.skipped)
        res.skipped |= {f"{n}/{t}": why for n, m in result.models.items() for t, why in m.skipped_heads.items()}
        for name, m in result.models.items():
            save_bundle(m.bundle, work / "bundles" / f"{name}.joblib")
            for target, head in m.heads.items():
                for metric in ("roc_auc", "pr_auc", "log_loss"):
                    v = head.metrics["model"].get(metric)
                    if v is not None:
                        res.metrics[f"{target}_{metric}"] = v
                gate = {"late": "roc_auc", "fraud": "pr_auc", "abuse": "pr_auc", "disposition": "log_loss"}[target]
                if not math.isfinite(head.metrics["model"].get(gate, float("nan"))):
                    raise _Failed(f"{name}/{target} trained but has no test {gate}: a model nobody can judge")
        ctx["trained"] = result.models
        parts = [n.removeprefix("triage-") for n in sorted(res.trained)]
        parts += [f"{n.removeprefix('triage-')} skipped ({why})" for n, why in res.skipped.items()]
        return "; ".join(parts)

    def score() -> str:
        from models.registry import load_champions
        from training.replay import decision_columns, scored_history
        from triage.policy import default_policy

        bundles = load_champions(settings)
        history = scored_history(ctx["ds"], bundles, since=cutoff)
        ctx["bundles"], ctx["history"] = bundles, history
        policy = default_policy()
        for kind, frame in (("order", history.orders), ("return", history.returns)):
            if len(frame):
                cols = decision_columns(frame, kind, policy)
                if cols["actions"].eq("").all():
                    raise _Failed(f"no {kind} got an action")
        for name, bundle in bundles.items():
            if bundle is None:
                continue
            frame = history.orders if bundle.entity == "order" else history.returns
            empty = frame[bundle.output_columns].isna().any(axis=1)
            if len(frame) and empty.any():
                raise _Failed(f"{name} is trained but left {int(empty.sum())} of {len(frame)} scores empty")
        return f"{len(history.orders)} orders, {len(history.returns)} returns scored"

    def backtest() -> str:
        from triage.policy import default_policy
        from triage.tuning.backtest import backtest as run_backtest
        from triage.tuning.plots import backtest_page

        h = ctx["history"]
        report = run_backtest(default_policy(), h.orders, h.returns)
        report.to_text()
        backtest_page(report, work / "backtest.html")
        total = report.run("policy").metrics.get("total cost", float("nan"))
        res.metrics["backtest_total_cost"] = total
        return "; ".join([f"{report.n_orders} orders, {report.n_returns} returns", *report.notes])

    def tune() -> str:
        from triage.policy import default_policy
        from triage.tuning.tune import tune_policy

        result = tune_policy(default_policy(), ctx["history"].orders, since=cutoff)
        result.to_text()
        return result.policy.policy_version

    def serve() -> str:
        from api.app import create_app
        from triage.keys import create_key

        order, ret = _new_events(ctx["ds"])
        key = create_key(settings, "shape", "decide,read")
        out: list[str] = []
        errors = _ErrorLog()
        logging.getLogger().addHandler(errors)
        try:
            _serve(c_app=create_app(settings), key=key, order=order, ret=ret, out=out)
        finally:
            logging.getLogger().removeHandler(errors)
        if errors.records:  # e.g. "online bootstrap failed": the service would run without history
            raise _Failed(f"the service logged an error: {errors.records[0]}")
        return ", ".join(out)

    def _serve(c_app, key, order, ret, out) -> None:
        from fastapi.testclient import TestClient

        from triage.schema import TABLES

        with TestClient(c_app, raise_server_exceptions=False) as c:
            c.headers["X-API-Key"] = key
            ready = c.get("/readyz").json()
            if ready["status"] != "ready":
                raise _Failed(f"service not ready: {ready}")
            for kind, body in (("order", order), ("return", ret)):
                resp = c.post(f"/v1/{kind}s/decisions", json=body)
                if resp.status_code != 200:
                    raise _Failed(f"{kind} decision: HTTP {resp.status_code} {resp.text[:300]}")
                d = resp.json()
                if d["degraded"]:
                    raise _Failed(f"{kind} decision degraded: {d['reasons']}")
                trained = [b for b in ctx["bundles"].values() if b is not None and b.entity == kind]
                missing = [col for b in trained for col in b.output_columns if d["scores"].get(col) is None]
                if missing:
                    raise _Failed(f"{kind} decision has no {missing} though the model is trained")
                out.append(f"{kind}: {'+'.join(d['actions'])}")
            if serve_orders:
                ds = ctx["ds"]
                later = ds["orders"][ds["orders"]["created_at"] >= cutoff].head(serve_orders)
                lines = {k: g for k, g in ds["order_lines"].groupby("order_id")}
                bad = 0
                for rec in later.to_dict("records"):
                    body = {col: _json(rec[col]) for col in TABLES["orders"].column_names}
                    body["order_id"] = f"X-{rec['order_id']}"
                    body["lines"] = [{col: _json(r[col]) for col in ("line_no", "sku", "quantity", "unit_price")}
                                     for r in lines[rec["order_id"]].to_dict("records")]
                    bad += c.post("/v1/orders/decisions", json=body).status_code != 200
                if bad:
                    raise _Failed(f"{bad} of {len(later)} replayed orders were refused")
                out.append(f"{len(later)} more orders decided")

    def monitor_() -> str:
        from models.registry import load_champions
        from triage.monitoring.monitor import audited_window
        from triage.monitoring.monitor import monitor as run_monitor

        decisions, outcomes = audited_window(settings, since=None, until=None)
        result = run_monitor(
            decisions, outcomes, load_champions(settings), out_dir=work / "monitor", since=None, until=None,
            as_of=decisions["received_at"].max(), drift_share_threshold=settings.drift_share_threshold,
            quality_drop_threshold=settings.quality_drop_threshold,
            drift_score_threshold=settings.drift_score_threshold, min_rows=settings.min_rows_for_drift,
            min_labels=settings.min_labels_for_quality,
        )
        text = result.to_text()
        return f"exit {result.exit_code}: " + " | ".join(text.splitlines()[:2])

    needs = {"validate": (), "train": ("validate",), "score": ("train",), "backtest": ("score",),
             "tune": ("score",), "serve": ("train",), "monitor": ("serve",)}
    stages = [("validate", validate), ("train", train), ("score", score), ("backtest", backtest),
              ("tune", tune), ("serve", serve)]
    if monitor:
        stages.append(("monitor", monitor_))
    for name, fn in stages:
        broken = [n for n in needs[name] if res.stage(n).status == "FAILED"]
        if broken:
            res.stages.append(Stage(name, "FAILED", f"not run: {broken[0]} failed"))
            continue
        stage(name, fn)
    return res
