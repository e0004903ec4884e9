#!/usr/bin/env python3
"""Writes tollgate.json, the Grafana dashboard (`python3 generate.py`).

Edit the panels here, not the JSON: the test (tests/e2e/test_ops.py) checks
that the JSON is this script's output and that every metric it queries is
one tollgate exports.
"""
import json
from pathlib import Path

DS = {"type": "prometheus", "uid": "${datasource}"}
panels = []
y = 0


def row(title):
    global y
    panels.append({"type": "row", "title": title, "collapsed": False,
                   "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "id": len(panels) + 1, "panels": []})
    y += 1


def panel(title, targets, x, w, h=8, kind="timeseries", unit="short", description="", stack=False):
    p = {
        "type": kind, "title": title, "description": description, "datasource": DS,
        "id": len(panels) + 1, "gridPos": {"h": h, "w": w, "x": x, "y": y},
        "targets": [{"refId": chr(65 + i), "expr": e, "legendFormat": lf, "datasource": DS}
                    for i, (e, lf) in enumerate(targets)],
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "table", "placement": "right", "calcs": ["mean", "max"]}}
        if kind == "timeseries" else {},
    }
    if stack:
        p["fieldConfig"]["defaults"]["custom"] = {"stacking": {"mode": "normal"}, "fillOpacity": 30}
    panels.append(p)
    return p


SEL = 'pod=~"$pod"'
row("Decisions")
panel("Decisions by action", [(f'sum by (action) (rate(tollgate_decisions_total{{{SEL}}}[$__rate_interval]))', "{{action}}")],
      0, 8, unit="reqps", stack=True)
panel("Decisions by provider and action", [(f'sum by (provider, action) (rate(tollgate_decisions_total{{{SEL}}}[$__rate_interval]))', "{{provider}} {{action}}")],
      8, 8, unit="reqps")
panel("Reasons given", [(f'topk(10, sum by (reason) (rate(tollgate_decision_reasons_total{{{SEL}}}[$__rate_interval])))', "{{reason}}")],
      16, 8, unit="reqps", description="Reason codes on scored sends (a send may carry several).")
y += 8
panel("Decision latency (p50, p99)", [
    (f'histogram_quantile(0.5, sum by (le) (rate(tollgate_decision_seconds_bucket{{{SEL}}}[$__rate_interval])))', "p50"),
    (f'histogram_quantile(0.99, sum by (le) (rate(tollgate_decision_seconds_bucket{{{SEL}}}[$__rate_interval])))', "p99"),
], 0, 12, unit="s")
panel("Blocked and held share by country", [
    (f'sum by (country) (rate(tollgate_decisions_total{{action!="allow",{SEL}}}[$__rate_interval])) / sum by (country) (rate(tollgate_decisions_total{{{SEL}}}[$__rate_interval]))', "{{country}}"),
], 12, 12, unit="percentunit")
y += 8

row("Cost and friction by country")
panel("Stopped cost by country (per hour)", [
    (f'sum by (country) (rate(tollgate_stopped_cost_total{{{SEL}}}[$__rate_interval])) * 3600', "{{country}}"),
], 0, 12, unit="currencyUSD", stack=True,
      description="What the blocked sends would have cost (policies/prices.toml), not counted in shadow mode.")
panel("Stopped cost today by country", [
    (f'sort_desc(sum by (country) (increase(tollgate_stopped_cost_total{{{SEL}}}[1d])))', "{{country}}"),
], 12, 6, kind="bargauge", unit="currencyUSD")
panel("Held sends by country (organic friction)", [
    (f'sum by (country) (rate(tollgate_decisions_total{{action="hold",{SEL}}}[$__rate_interval]))', "{{country}}"),
], 18, 6, unit="reqps", description="Holds are the friction organic users feel; blocks are in the decisions panels.")
y += 8
panel("Friction budget exhausted", [
    ('max by (country) (tollgate_friction_budget_exhausted)', "{{country}}"),
], 0, 12, kind="state-timeline", description="1 while a country's organic-friction budget for the day is spent and the engine has degraded to probes.")
panel("Sends let through on a spent budget", [
    (f'sum by (country) (rate(tollgate_friction_degraded_total{{{SEL}}}[$__rate_interval]))', "{{country}}"),
], 12, 12, unit="reqps")
y += 8

row("Hold queue")
panel("Held sends", [(f'tollgate_held_sends{{{SEL}}}', "{{pod}}"), (f'tollgate_held_overdue_sends{{{SEL}}}', "{{pod}} past deadline")],
      0, 12, description="Per replica: a held send is reviewed on the replica that holds it.")
panel("Oldest held send", [(f'tollgate_held_oldest_seconds{{{SEL}}}', "{{pod}}")], 12, 12, unit="s",
      description="Alert TollgateHoldQueueAgeing past 8 minutes (the default [hold] ttl is 10).")
y += 8

row("Upstreams")
panel("Upstream latency p99 by upstream", [
    (f'histogram_quantile(0.99, sum by (upstream, le) (rate(tollgate_upstream_seconds_bucket{{{SEL}}}[$__rate_interval])))', "{{upstream}}"),
], 0, 8, unit="s")
panel("Upstream calls by upstream", [
    (f'sum by (upstream) (rate(tollgate_upstream_seconds_count{{{SEL}}}[$__rate_interval]))', "{{upstream}}"),
], 8, 8, unit="reqps")
panel("Upstream errors by upstream and kind", [
    (f'sum by (upstream, kind) (rate(tollgate_upstream_errors_total{{{SEL}}}[$__rate_interval]))', "{{upstream}} {{kind}}"),
], 16, 8, unit="reqps")
y += 8

row("Replicas, Redis and storage")
panel("Redis connected", [(f'tollgate_shared_connected{{{SEL}}}', "{{pod}}")], 0, 6, kind="state-timeline")
panel("Shared stream: published, applied, dropped", [
    (f'sum by (pod) (rate(tollgate_shared_published_events_total{{{SEL}}}[$__rate_interval]))', "{{pod}} published"),
    (f'sum by (pod) (rate(tollgate_shared_applied_events_total{{{SEL}}}[$__rate_interval]))', "{{pod}} applied"),
    (f'sum by (pod) (rate(tollgate_shared_dropped_total{{{SEL}}}[$__rate_interval]))', "{{pod}} dropped"),
], 6, 6, unit="ops")
panel("Shared apply lag and backlog", [
    (f'tollgate_shared_apply_lag_seconds{{{SEL}}}', "{{pod}} lag (s)"),
    (f'tollgate_shared_buffered_events{{{SEL}}}', "{{pod}} buffered"),
], 12, 6)
panel("Redis errors", [
    (f'sum by (pod) (rate(tollgate_shared_publish_errors_total{{{SEL}}}[$__rate_interval]) + rate(tollgate_shared_read_errors_total{{{SEL}}}[$__rate_interval]))', "{{pod}}"),
], 18, 6, unit="ops")
y += 8
panel("Policy per replica", [(f'tollgate_policy_info{{{SEL}}}', "{{pod}} {{hash}}")], 0, 8, kind="table",
      description="Replicas should run one policy hash; TollgateReplicasDisagree fires otherwise.")
panel("Table sizes (rows)", [(f'tollgate_store_rows{{{SEL}}}', "{{pod}} {{table}}")], 8, 8,
      description="SQLite rows per replica (decisions: the audit log, pruned by retention).")
panel("Audit rows dropped", [(f'sum by (pod) (rate(tollgate_audit_dropped_total{{{SEL}}}[$__rate_interval]))', "{{pod}}")], 16, 8, unit="ops")

dashboard = {
    "title": "tollgate", "uid": "tollgate", "schemaVersion": 39, "version": 1, "editable": True,
    "tags": ["tollgate", "sms"], "timezone": "utc", "refresh": "30s",
    "time": {"from": "now-6h", "to": "now"},
    "templating": {"list": [
        {"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Prometheus"},
        {"name": "pod", "type": "query", "datasource": DS, "label": "Replica",
         "query": {"query": "label_values(tollgate_decisions_total, pod)", "refId": "pod"},
         "definition": "label_values(tollgate_decisions_total, pod)",
         "includeAll": True, "multi": True, "allValue": ".*", "current": {"text": "All", "value": "$__all"},
         "refresh": 2},
    ]},
    "annotations": {"list": []},
    "panels": panels,
}

if __name__ == "__main__":
    out = Path(__file__).with_name("tollgate.json")
    out.write_text(json.dumps(dashboard, indent=2) + "\n")
