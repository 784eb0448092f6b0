"""Dashboards and alert rules as code, checked statically (the Docker tier evaluates every
query against a real race): the committed JSON is what lab/dashboards.py generates
(tests/unit/test_dashboards_code.py), every panel and annotation queries the provisioned
Prometheus datasource, ids are unique, every metric a query names is one the lab exports,
Prometheus loads the rule file, and metric names follow the conventions."""

import json
import re
from pathlib import Path

import yaml

from lab.dashboards import ALL as SOURCES

ROOT = Path(__file__).resolve().parents[2]
DATASOURCE = yaml.safe_load((ROOT / "grafana/provisioning/datasources/prometheus.yaml")
                            .read_text())["datasources"][0]
# Series Prometheus itself makes: scrape health and the state of the alert rules.
PROMETHEUS_OWN = {"up", "scrape_duration_seconds", "ALERTS"}


def dashboards():
    return {p.stem: json.loads(p.read_text()) for p in (ROOT / "grafana/dashboards").glob("*.json")}


def queries(d):
    """(where, expr) of every panel target and every Prometheus annotation of ``d``."""
    for p in d["panels"]:
        for t in p["targets"]:
            yield p["title"], t["expr"]
    for a in d["annotations"]["list"]:
        if a["datasource"]["type"] == "prometheus":
            yield f"annotation {a['name']}", a["expr"]


def exported_metrics() -> set[str]:
    """Names the lab's workers and prober service export, as Prometheus exposes them."""
    names = set()
    for module in ("lab/metrics.py", "lab/prober.py"):
        text = (ROOT / module).read_text()
        for kind, name in re.findall(r'(Counter|Gauge|Histogram)\(\s*"([a-z_]+)"', text):
            names |= {"Counter": {name + "_total"}, "Gauge": {name},
                      "Histogram": {name + s for s in ("_bucket", "_sum", "_count")}}[kind]
    return names


def test_the_dashboards_are_provisioned_from_the_mounted_directory():
    assert set(dashboards()) == set(SOURCES) == {"blast-radius", "cascade", "lab-health"}
    provider = yaml.safe_load((ROOT / "grafana/provisioning/dashboards/dnslab.yaml").read_text())
    path = provider["providers"][0]["options"]["path"]
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    assert f"./grafana/dashboards:{path}:ro" in compose["services"]["grafana"]["volumes"]


def test_every_panel_queries_the_provisioned_datasource():
    uids = [d["uid"] for d in dashboards().values()]
    assert len(uids) == len(set(uids))
    for name, d in dashboards().items():
        ids = [p["id"] for p in d["panels"]]
        assert len(ids) == len(set(ids)), name
        titles = [p["title"] for p in d["panels"]]
        assert len(titles) == len(set(titles)), name
        assert d["uid"] == SOURCES[name].uid and d["uid"].startswith("dnslab-")
        assert d["editable"] is False
        for p in d["panels"]:
            assert p["datasource"]["uid"] == DATASOURCE["uid"], (name, p["title"])
            assert p["targets"] and all(t["expr"].strip() for t in p["targets"])
            assert all(t["datasource"]["uid"] == DATASOURCE["uid"] for t in p["targets"])
            refs = [t["refId"] for t in p["targets"]]
            assert len(refs) == len(set(refs)), (name, p["title"])
            assert {"x", "y", "w", "h"} <= set(p["gridPos"])
            assert p["gridPos"]["x"] + p["gridPos"]["w"] <= 24
        for a in d["annotations"]["list"]:
            if not a.get("builtIn"):
                assert a["datasource"]["uid"] == DATASOURCE["uid"] and a["expr"].strip(), a


def test_panels_do_not_overlap():
    for name, d in dashboards().items():
        cells = set()
        for p in d["panels"]:
            g = p["gridPos"]
            mine = {(x, y) for x in range(g["x"], g["x"] + g["w"])
                    for y in range(g["y"], g["y"] + g["h"])}
            assert not cells & mine, (name, p["title"])
            cells |= mine


def test_every_query_names_a_metric_the_lab_exports():
    known = exported_metrics() | PROMETHEUS_OWN
    for name, d in dashboards().items():
        for where, expr in queries(d):
            for metric in re.findall(r"\b(dnslab_[a-z_]+|up|scrape_[a-z_]+|ALERTS)\b", expr):
                assert metric in known, (name, where, metric)


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


def test_blast_radius_shows_page_times_and_the_safeguards_at_work():
    d = dashboards()["blast-radius"]
    panels = {p["title"]: p for p in d["panels"]}
    pages = panels["Page times: alerts firing"]
    assert pages["type"] == "state-timeline"
    assert 'ALERTS{alertstate="firing"}' in pages["targets"][0]["expr"]
    (paged,) = [a for a in d["annotations"]["list"] if a["name"] == "Pages"]
    assert paged["expr"] == 'ALERTS{alertstate="firing", severity="page"}'
    # Every severity the rules page with is one the annotation matches.
    rules = yaml.safe_load((ROOT / "images/prometheus/alerts.yml").read_text())
    assert "page" in {r["labels"]["severity"] for g in rules["groups"] for r in g["rules"]}
    safeguards = " ".join(t["expr"] for title, p in panels.items() if "Safeguards" in title
                          for t in p["targets"])
    for metric in ("dnslab_enactor_writes_refused_total", "dnslab_cleanup_skipped_plans_total",
                   "dnslab_safeguard_refusals_total"):
        assert metric in safeguards, metric


def test_prometheus_loads_the_alert_rules_and_names_follow_conventions():
    config = yaml.safe_load((ROOT / "images/prometheus/prometheus.yml").read_text())
    assert config["rule_files"] == ["alerts.yml"]
    rules = yaml.safe_load((ROOT / "images/prometheus/alerts.yml").read_text())
    names = [r["alert"] for g in rules["groups"] for r in g["rules"]]
    assert set(names) == {"EndpointHasNoAddresses", "AppliedGenerationWentBackwards",
                          "AutomationStuck", "ProbeFailureRatioHigh", "FleetCollapsedAfterDNS"}
    tests = yaml.safe_load((ROOT / "images/prometheus/alerts.test.yml").read_text())
    tested = {t["alertname"] for case in tests["tests"] for t in case["alert_rule_test"]}
    assert tested == set(names)
    source = (ROOT / "lab/metrics.py").read_text()
    for name in re.findall(r'(?:Counter|Gauge|Histogram)\(\s*"([a-z_]+)"', source):
        assert re.fullmatch(r"dnslab_[a-z_]+", name) and not name.endswith("_total"), name
