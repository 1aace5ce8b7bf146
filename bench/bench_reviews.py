"""What reading the review queue costs (run by hand; prints figures).

    .venv/bin/python bench/bench_reviews.py [--url sqlite:///... | postgresql://...]
        [--decisions 20000] [--review-share 0.1] [--reps 7]

Fills a fresh audit store with --decisions order decisions of the last --days days (a
--review-share of them held for review, the rest released; each with a ~1.5 KB request,
features and answer, as the service writes them), resolves a tenth of the held ones, then
times, alternating, --reps times each:

- baseline: `store.iter_decisions(since)` alone — reading the audit window, which the queue
  must do (the records are the items);
- `ReviewQueue.list` (a page of 50 open items: read, latest per event, queues, claims and
  resolutions, outcomes, sort) — what `GET /v1/reviews` runs — cold (the audit window read
  on the call, `refresh_s=0`) and warm (within `refresh_s` of the last read: claims and
  resolutions read fresh, the window's records reused);
- `ReviewQueue.get` of one item, `claim` and `resolve` (with its outcome write).

Prints medians and the queue's ratio to the baseline.
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

from triage.decision.reviews import ReviewFilters, ReviewQueue
from triage.stores import DecisionRecord, open_store
from triage.stores.reviews import ReviewStore


class _Services:
    """What `record_outcome` needs of the decision service: the online state's observer."""

    online = None

    def observe_outcome(self, type_: str, row: Any) -> None:
        return None


def _record(i: int, now: datetime, days: float, held: bool) -> DecisionRecord:
    t = now - timedelta(seconds=(i * 7919) % int(days * 86400))  # spread over the window
    oid = f"o{i}-{uuid.uuid4().hex[:6]}"
    req = {"order_id": oid, "customer_id": f"c{i % 997}", "created_at": t.isoformat(), "channel": "web",
           "order_total": 50.0 + i % 400, "payment_method": "card", "device_id": f"d{i % 311}",
           "fulfillment_node_id": f"n{i % 7}", "carrier": "dhl", "promised_at": (t + timedelta(days=2)).isoformat(),
           "lines": [{"line_no": j, "sku": f"s{j}", "quantity": 1, "unit_price": 9.99 + j} for j in range(3)],
           "note": "x" * 700}
    actions = ["hold_for_review"] if held else ["release"]
    reasons = [{"source": "rule", "code": "fraud.velocity", "text": "many orders from this device"},
               {"source": "model", "code": "amount", "text": "a large basket for this customer"}]
    did = str(uuid.uuid4())
    resp = {"decision_id": did, "actions": actions, "scores": {"p_fraud": 0.7, "p_late": 0.2}, "reasons": reasons,
            "priority": float(i % 13)}
    return DecisionRecord(decision_id=did, kind="order", event_id=oid, event_time=t, idempotency_key=f"order:id:{oid}",
                          body_hash=uuid.uuid4().hex, request=req,
                          features={f"f{k}": float(k) for k in range(40)}, scores=resp["scores"], actions=actions,
                          reasons=reasons, priority=resp["priority"], policy_version="p1", models={"fraud": "1"},
                          degraded=False, latency_ms=0.5, received_at=t, api_key="oms", response=resp)


def _median_ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:8.1f} ms (min {min(samples) * 1000:.1f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url")
    ap.add_argument("--decisions", type=int, default=20_000)
    ap.add_argument("--review-share", type=float, default=0.1)
    ap.add_argument("--days", type=float, default=25.0)
    ap.add_argument("--reps", type=int, default=7)
    args = ap.parse_args()
    tmp = tempfile.TemporaryDirectory()
    url = args.url or f"sqlite:///{Path(tmp.name) / 'triage.db'}"
    store = open_store(url)
    store.group_commit = False  # type: ignore[attr-defined]
    now = datetime.now(UTC)
    every = max(1, round(1 / args.review_share))
    recs = [_record(i, now, args.days, i % every == 0) for i in range(args.decisions)]
    for start in range(0, len(recs), 1000):
        store.insert_decisions(recs[start:start + 1000])
    reviews = ReviewStore(store)
    reviews.migrate()
    queue = ReviewQueue(store=store, reviews=reviews, refresh_s=0)
    warm = ReviewQueue(store=store, reviews=reviews, refresh_s=3600)
    held = [r for r in recs if r.actions == ["hold_for_review"]]
    services = _Services()
    for r in held[: len(held) // 10]:
        queue.resolve(services, r.decision_id, key_name="ana", resolution="approve", reason="ok", note=None,  # type: ignore[arg-type]
                      now=now)
    print(f"store {store.url_for_humans()}: {len(recs)} decisions, {len(held)} held, {len(held) // 10} resolved")  # type: ignore[attr-defined]

    base, listed, warmed, got, claimed, resolved = [], [], [], [], [], []
    warm.list(ReviewFilters(), now=now, limit=50)
    open_items = held[len(held) // 10:]
    for rep in range(args.reps):
        t0 = time.perf_counter()
        n = sum(1 for _ in store.iter_decisions(now - queue.lookback))
        base.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        page = queue.list(ReviewFilters(), now=now, limit=50)
        listed.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        warm.list(ReviewFilters(), now=now, limit=50)
        warmed.append(time.perf_counter() - t0)
        item = open_items[rep]
        t0 = time.perf_counter()
        queue.get(item.decision_id, now=now)
        got.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        queue.claim(item.decision_id, key_name="ben", now=now)
        claimed.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        queue.resolve(services, item.decision_id, key_name="ben", resolution="decline", reason="ring", note=None,  # type: ignore[arg-type]
                      now=now)
        resolved.append(time.perf_counter() - t0)
    print(f"read the audit window ({n} records), baseline: {_median_ms(base)}")
    print(f"GET /v1/reviews core, cold (page of {len(page['items'])}, {page['total']} open): {_median_ms(listed)}"
          f"   = {statistics.median(listed) / statistics.median(base):.2f}x the baseline")
    print(f"GET /v1/reviews core, warm (window read within refresh_s): {_median_ms(warmed)}"
          f"   = {statistics.median(warmed) / statistics.median(base):.3f}x the baseline")
    print(f"GET /v1/reviews/{{id}} core: {_median_ms(got)}")
    print(f"claim: {_median_ms(claimed)}   resolve (with the outcome write): {_median_ms(resolved)}")
    store.close()
    tmp.cleanup()


if __name__ == "__main__":
    main()
