"""Offline policy tools: replay a policy over scored history and compare or tune it.

`backtest` (one or more policies over the same events, capacity and cost), `report` (the
backtest's table), `tune` (thresholds chosen on the cost curves), `plots` (the
self-contained HTML pages). The CLI's `triage backtest` and `triage policy tune` call
them; the service never does.
"""
