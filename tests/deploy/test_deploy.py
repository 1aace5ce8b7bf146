"""deploy/: the Grafana dashboard and Prometheus rules load, and name only metrics /metrics exports."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from jsonschema import validate
from prometheus_client.parser import text_string_to_metric_families

from api.metrics import SCRAPE_GAUGES, Metrics, scrape_gauges

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
RULES = DEPLOY / "prometheus" / "triage-alerts.yml"
DASHBOARD = DEPLOY / "grafana" / "triage-dashboard.json"
METRIC = re.compile(r"\btriage_[a-z0-9_]+\b")

# The part of Grafana's dashboard model the import needs (schemaVersion 39).
TARGET = {"type": "object", "required": ["refId", "expr"],
          "properties": {"refId": {"type": "string"}, "expr": {"type": "string", "minLength": 1}}}
PANEL = {
    "type": "object",
    "required": ["id", "type", "title", "gridPos", "targets", "datasource"],
    "properties": {
        "id": {"type": "integer"},
        "type": {"enum": ["timeseries", "stat", "table", "gauge", "bargauge"]},
        "title": {"type": "string", "minLength": 1},
        "gridPos": {"type": "object", "required": ["x", "y", "w", "h"],
                    "properties": {k: {"type": "integer", "minimum": 0} for k in ("x", "y", "w", "h")}},
        "targets": {"type": "array", "minItems": 1, "items": TARGET},
    },
}
DASHBOARD_SCHEMA = {
    "type": "object",
    "required": ["title", "uid", "schemaVersion", "panels"],
    "properties": {"uid": {"type": "string", "pattern": "^[a-zA-Z0-9_-]{1,40}$"},
                   "schemaVersion": {"type": "integer", "minimum": 30},
                   "panels": {"type": "array", "minItems": 1, "items": PANEL}},
}


def _dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def _rules() -> list[dict]:
    return [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]


def _exported(tmp_path: Path) -> set[str]:
    """Sample names the service's /metrics text holds once it has served, decided and been monitored."""
    m = Metrics()
    m.observe_request("POST", "/v1/orders/decisions", 200, 0.002)
    m.observe_decision("order", ["hold_for_review"], degraded=True)
    m.replays.labels("order").inc()
    m.group_size.observe(3)
    m.set_versions("p1", {"triage-fraud": "3"})
    summary = tmp_path / "summary.json"
    summary.write_text(json.dumps({"models": [{"model": "triage-fraud", "alerts": ["drift"]}],
                                   "exceptions": {"exceptions": 4}}))
    text = m.render(scrape_gauges(lambda: None, summary)).decode()
    return {s.name for f in text_string_to_metric_families(text) for s in f.samples}


def _promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        message = "promtool not installed (apt-get install prometheus)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message}; CI=true requires it", pytrace=False)
        pytest.skip(message)
    return found


def test_dashboard_has_the_operator_panels_and_matches_the_dashboard_schema():
    dash = _dashboard()
    validate(dash, DASHBOARD_SCHEMA)
    titles = " | ".join(p["title"].lower() for p in dash["panels"])
    for wanted in ("decisions per second", "p50 / p99", "degraded", "actions mix", "review queue", "drift"):
        assert wanted in titles
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))


def test_alert_rules_cover_the_failure_modes_and_each_has_severity_and_summary():
    rules = _rules()
    assert {r["alert"] for r in rules} >= {
        "TriageDegradedDecisions", "TriageHigh5xxRate", "TriageDecisionLatencyP99High",
        "TriageDriftAlert", "TriageAuditStoreDown",
    }
    for r in rules:
        assert r["labels"]["severity"] in {"info", "warning", "critical"} and r["annotations"]["summary"]


def test_every_metric_the_dashboard_and_rules_name_is_one_the_service_exports(tmp_path):
    exported = _exported(tmp_path)
    exprs = [t["expr"] for p in _dashboard()["panels"] for t in p["targets"]] + [r["expr"] for r in _rules()]
    named = {name for e in exprs for name in METRIC.findall(e)}
    assert named and named <= exported, sorted(named - exported)
    assert set(SCRAPE_GAUGES) <= {n for n in named}


def test_scrape_gauges_say_the_audit_store_is_down_and_there_is_no_drift_status_before_a_monitor_run(tmp_path):
    def refuse():
        raise ConnectionError("refused")

    text = scrape_gauges(refuse, tmp_path / "missing.json").decode()
    samples = {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}
    assert samples == {"triage_audit_store_up": 0.0}


def test_promtool_accepts_the_alert_rules_and_every_dashboard_query(tmp_path):
    promtool = _promtool()
    checked = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # the dashboard's queries as recording rules: promtool parses each PromQL expression
    recording = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:panel{p['id']}_{t['refId'].lower()}", "expr": t["expr"]}
        for p in _dashboard()["panels"] for t in p["targets"]
    ]}]}
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump(recording))
    checked = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
