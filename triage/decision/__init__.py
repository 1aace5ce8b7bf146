"""The decision path, in the order a request meets it.

- `interfaces`: the protocols the core calls (the online state, a model bundle, a policy),
  every method required.
- `service`: `DecisionService`, one generation of the machinery (features, scores, the
  policy) turning a validated event into a decision; it imports nothing below.
- `audit_flow`: the write path around it — idempotency, the audit record before any state
  change (`decide_events_async`, `record_outcome`).
- `coalesce`: single decisions arriving together, decided as one batch.
- `model_loading`: a `DecisionService` built from settings (`load_services`).
- `reviews`: the review queue over audited decisions.

Built on `triage.events` (the event vocabulary), `triage.records` (the audit record
format), `triage.policy`, `features`, `models` and `triage.stores`; imported by `api`
and the CLI. Offline tools (simulator, monitoring, tuning, backtest) live beside it.
"""
