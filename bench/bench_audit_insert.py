"""What the audit write path's commit costs, and what start-up log recovery costs (run by hand).

    /work/venv/bin/python bench/bench_audit_insert.py [--url sqlite:///... | postgresql://...]
        [--group 1000] [--groups 20] [--reps 5] [--recover]

Times `SqlStore._insert_decisions_now` (one group commit: the transaction the audit writer
thread runs) for --groups groups of --group decision records shaped like an order decision
(a ~1.5 KB request, features, response), --reps times on a fresh database, and prints the
median and min ms per group. To compare with another commit, run this file with PYTHONPATH
pointing at that commit's checkout (it prints where `triage` came from).

--recover (this commit only) then times `recover_log` over every row inserted (all still
pending), against a SQLite log that holds them all: the start-up cost of a restart after
that many decisions.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import triage
from triage.stores import DecisionRecord, open_store, plain


def _event(i: int) -> dict[str, Any]:
    t = datetime(2030, 1, 1, tzinfo=UTC) + timedelta(seconds=i)
    return {
        "order_id": f"o{i}-{uuid.uuid4().hex[:6]}", "customer_id": f"c{i % 997}", "created_at": t,
        "channel": "web", "payment_method": "card", "ship_postcode": "75001", "device_id": f"d{i % 311}",
        "email_domain": "example.com", "fulfillment_node_id": "n1", "promised_at": t + timedelta(days=2),
        "shipping_method": "standard", "order_amount": 123.45,
        "lines": [{"sku": f"s{j}", "quantity": 1 + j, "unit_price": 9.99 + j, "fulfillment_node_id": "n1"}
                  for j in range(3)],
    }


def _record(i: int) -> DecisionRecord:
    from triage.records import jsonable

    ev = _event(i)
    return DecisionRecord(
        decision_id=str(uuid.uuid4()), kind="order", event_id=ev["order_id"], event_time=ev["created_at"],
        idempotency_key=f"order:id:{ev['order_id']}", body_hash=uuid.uuid4().hex, request=jsonable(ev),
        features={f"f{k}": float(k) * 1.5 for k in range(40)}, scores={"p_late": 0.1, "p_fraud": 0.02},
        actions=["approve"], reasons=[{"code": "r1", "text": "ok"}], priority=0.3, policy_version="p1",
        models={"delay": "1"}, degraded=False, latency_ms=0.4, received_at=datetime.now(UTC), api_key="k",
        response={"decision_id": "x", "scores": {"p_late": 0.1}, "actions": ["approve"]},
    )


def _fresh(url: str, tmp: Path, rep: int) -> str:
    if url.startswith("sqlite:///"):
        return f"sqlite:///{tmp / f'audit-{rep}.db'}"
    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="sqlite:///")
    ap.add_argument("--group", type=int, default=1000)
    ap.add_argument("--groups", type=int, default=20)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--recover", action="store_true")
    a = ap.parse_args()
    print(f"triage from {Path(triage.__file__).parent}")
    tmp = Path(tempfile.mkdtemp(prefix="bench-audit-"))
    groups = [[_record(g * a.group + i) for i in range(a.group)] for g in range(a.groups)]
    per_group: list[float] = []
    last_url = ""
    for rep in range(a.reps):
        last_url = _fresh(a.url, tmp, rep)
        store: Any = open_store(last_url)
        store._insert_decisions_now(groups[0][:1])  # connect, warm up
        times = []
        for recs in groups:
            recs = [DecisionRecord(**{**r.__dict__, "decision_id": str(uuid.uuid4()),
                                      "idempotency_key": f"{r.idempotency_key}#{rep}"}) for r in recs]
            t0 = time.perf_counter()
            store._insert_decisions_now(recs)
            times.append((time.perf_counter() - t0) * 1000)
        per_group.append(statistics.median(times))
        store.close()
    print(f"insert group of {a.group}: median {statistics.median(per_group):.2f} ms "
          f"(min {min(per_group):.2f}) over {a.reps} reps x {a.groups} groups")
    if a.recover:
        from triage.stores.log_recovery import recover_log
        from triage.stores.online_sqlite import SqliteLog

        store = open_store(last_url)
        log_ = SqliteLog(tmp / "online.db")
        for recs in groups:
            log_.append([plain.dumps(("order", r.request)) for r in recs])
        t0 = time.perf_counter()
        summary = recover_log(log_, store, settle_s=0.0)
        print(f"recover_log over {summary['pending']} pending rows (all in the log): "
              f"{(time.perf_counter() - t0):.2f} s, appended {summary['appended']}")
        store.close()
        log_.close()


if __name__ == "__main__":
    main()
