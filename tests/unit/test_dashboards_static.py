"""Dashboards and alert rules as code, checked statically (the Docker tier evaluates every
query against a real race): every panel queries the provisioned Prometheus datasource, ids
are unique, Prometheus loads the rule file, and metric names follow the conventions."""

import json
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DATASOURCE = yaml.safe_load((ROOT / "grafana/provisioning/datasources/prometheus.yaml")
                            .read_text())["datasources"][0]


def dashboards():
    return {p.stem: json.loads(p.read_text()) for p in (ROOT / "grafana/dashboards").glob("*.json")}


def test_two_dashboards_are_provisioned_from_the_mounted_directory():
    assert set(dashboards()) == {"blast-radius", "lab-health"}
    provider = yaml.safe_load((ROOT / "grafana/provisioning/dashboards/dnslab.yaml").read_text())
    path = provider["providers"][0]["options"]["path"]
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    assert f"./grafana/dashboards:{path}:ro" in compose["services"]["grafana"]["volumes"]


def test_every_panel_queries_the_provisioned_datasource():
    for name, d in dashboards().items():
        ids = [p["id"] for p in d["panels"]]
        assert len(ids) == len(set(ids)), name
        assert d["uid"].startswith("dnslab-") and d["editable"] is False
        for p in d["panels"]:
            assert p["datasource"]["uid"] == DATASOURCE["uid"], (name, p["title"])
            assert p["targets"] and all(t["expr"].strip() for t in p["targets"])
            assert {"x", "y", "w", "h"} <= set(p["gridPos"])


def test_blast_radius_covers_what_the_issue_lists():
    exprs = " ".join(t["expr"] for p in dashboards()["blast-radius"]["panels"]
                     for t in p["targets"])
    for metric in ("dnslab_client_probes_total", "dnslab_clients_failing",
                   "dnslab_endpoint_addresses", "dnslab_endpoint_applied_generation",
                   "dnslab_planner_generation", "dnslab_enactor_lock_losses_total",
                   "dnslab_enactor_endpoint_retries_total", "dnslab_fault_active",
                   "dnslab_invariant_violations_total"):
        assert metric in exprs, metric
    annotations = dashboards()["blast-radius"]["annotations"]["list"]
    assert any("dnslab_fault_active" in a.get("expr", "") for a in annotations)


def test_prometheus_loads_the_alert_rules_and_names_follow_conventions():
    config = yaml.safe_load((ROOT / "images/prometheus/prometheus.yml").read_text())
    assert config["rule_files"] == ["alerts.yml"]
    rules = yaml.safe_load((ROOT / "images/prometheus/alerts.yml").read_text())
    names = [r["alert"] for g in rules["groups"] for r in g["rules"]]
    assert set(names) == {"EndpointHasNoAddresses", "AppliedGenerationWentBackwards",
                          "AutomationStuck", "ProbeFailureRatioHigh"}
    tests = yaml.safe_load((ROOT / "images/prometheus/alerts.test.yml").read_text())
    tested = {t["alertname"] for case in tests["tests"] for t in case["alert_rule_test"]}
    assert tested == set(names)
    source = (ROOT / "lab/metrics.py").read_text()
    for name in re.findall(r'(?:Counter|Gauge|Histogram)\("([a-z_]+)"', source):
        assert re.fullmatch(r"dnslab_[a-z_]+", name) and not name.endswith("_total"), name
