"""The cascade observed (issue 18): the workers' metrics from the fleet manager's and the
lease service's events, the cascade dashboard's queries, the FleetCollapsedAfterDNS alert
(its promtool unit test, when promtool is installed) and the report's fleet panels, all from
windows of the virtual-clock cascade (lab/sim/cascade.py) made into the run's events."""

import dataclasses
import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from functools import cache
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from lab.core.blast import summarize
from lab.core.cascade import CascadeParams
from lab.core.history import Event, Kind
from lab.metrics import REESTABLISH_STAGES, WorkerMetrics
from lab.report import render_html
from lab.sim.cascade import simulate_cascade

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "images" / "prometheus"
NS = "{http://www.w3.org/2000/svg}"
EPOCH = 1_761_000_000.0          # a real run's history is on the host clock
OUTAGE = (30.0, 75.0)            # the fleet's lookup fails 30-75 s: it stays collapsed
JUDGING = {"renew_period_s": 5.0, "lease_ttl_s": 15.0}


@cache
def windows(outage):
    return tuple(simulate_cascade(CascadeParams(), outage, duration_s=150).windows)


def cascade_events(outage=OUTAGE, shift: float = EPOCH) -> list[Event]:
    """A run's history with a fleet: its start, the manager's lookups (ok until the outage,
    none in it), one cascade-window and one service-window per window at the window's end."""
    events = [Event(shift, "runner", Kind.PHASE, {"phase": "setup"}),
              Event(shift + 0.5, "fleet-manager", Kind.CASCADE_DNS,
                    {"ok": True, "addresses": ["10.0.0.45"]})]
    if outage is not None:
        events += [Event(shift + outage[0], "fleet-manager", Kind.CASCADE_DNS,
                         {"ok": False, "addresses": []}),
                   Event(shift + outage[1], "fleet-manager", Kind.CASCADE_DNS,
                         {"ok": True, "addresses": ["10.0.0.45"]})]
    for w in windows(outage):
        events.append(Event(shift + w.t1, "fleet-manager", Kind.CASCADE_WINDOW,
                            dataclasses.asdict(w)))
        events.append(Event(shift + w.t1, "lease-service", Kind.SERVICE_WINDOW, {
            "t0": w.t0, "t1": w.t1, "useful_units": w.service_useful_units,
            "wasted_units": w.service_wasted_units, "shed_units": w.service_shed_units,
            "queue_units": w.service_queue_units, "goodput": w.service_goodput}))
    return sorted(events, key=lambda e: e.t)


def exposition(events) -> dict[str, dict[tuple, float]]:
    """name -> {sorted labels: value} of what a worker's registry exposes after ``events``,
    read back with prometheus_client's own text parser."""
    registry = CollectorRegistry()
    m = WorkerMetrics(registry)
    for e in events:
        m(e)
    out: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for s in family.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


# -- metrics ------------------------------------------------------------------------------
def test_the_exposition_has_the_fleet_and_the_lease_service_after_a_collapse():
    events = cascade_events()
    got = exposition(events)
    fleet, service = (("manager", "fleet-manager"),), (("service", "lease-service"),)
    last = windows(OUTAGE)[-1]
    assert got["dnslab_fleet_goodput_ratio"] == {fleet: last.fleet_goodput} == {fleet: 0.0}
    assert got["dnslab_fleet_healthy_capacity_ratio"] == {fleet: last.healthy_capacity}
    assert got["dnslab_fleet_leases_held"] == {fleet: last.leases_held}
    assert got["dnslab_fleet_hosts_healthy"] == {fleet: last.healthy_hosts}
    assert got["dnslab_fleet_propagation_backlog"] == {fleet: last.propagation_backlog}
    assert got["dnslab_fleet_hosts_out_of_service"] == {fleet: last.out_of_service}
    assert got["dnslab_fleet_reestablishments_waiting"] == {fleet: last.manager_queue}
    assert got["dnslab_fleet_lookup_ok"] == {fleet: 1.0}       # DNS is back, the fleet is not
    assert got["dnslab_fleet_lookup_addresses"] == {fleet: 1.0}
    # Counters: the sum of every window's count.
    ws = windows(OUTAGE)
    assert got["dnslab_fleet_leases_lapsed_total"] == {fleet: sum(w.lapsed for w in ws)}
    stages = {dict(k)["stage"]: v for k, v in got["dnslab_fleet_reestablishments_total"].items()}
    assert stages == {stage: sum(getattr(w, key) for w in ws)
                      for stage, key in REESTABLISH_STAGES.items()}
    assert stages["timed-out"] > 0 and stages["duplicate"] > 0
    renewals = {dict(k)["result"]: v for k, v in got["dnslab_fleet_renewals_total"].items()}
    assert renewals == {"ok": sum(w.renewals_ok for w in ws),
                        "failed": sum(w.renewals_failed for w in ws)}
    work = {dict(k)["result"]: v for k, v in got["dnslab_lease_service_work_units_total"].items()}
    assert work == {"useful": sum(w.service_useful_units for w in ws),
                    "wasted": sum(w.service_wasted_units for w in ws),
                    "shed": sum(w.service_shed_units for w in ws)}
    assert work["wasted"] > work["useful"]          # the collapse: the service works for nobody
    assert got["dnslab_lease_service_queue_units"] == {service: last.service_queue_units}
    assert got["dnslab_lease_service_goodput_units_per_second"] == {service: last.service_goodput}


def test_the_lookup_gauge_follows_the_managers_lookups():
    in_outage = [e for e in cascade_events() if e.t < EPOCH + 40]
    assert exposition(in_outage)["dnslab_fleet_lookup_ok"] == {(("manager", "fleet-manager"),): 0.0}


def test_workers_without_a_fleet_export_no_cascade_series():
    """No planner, enactor or prober exports a fleet goodput of 0 a min() or the alert
    would read as a collapsed fleet."""
    got = exposition([Event(1.0, "planner", Kind.PLAN_PUBLISHED, {"generation": 2})])
    assert not [name for name in got if "fleet" in name or "lease_service" in name]


def test_a_window_with_fields_missing_or_zero_does_not_break_the_worker():
    """Real runs may leave the service's fields at 0, or a field out: counts as 0."""
    got = exposition([Event(1.0, "fleet-manager", Kind.CASCADE_WINDOW,
                            {"t0": 0, "t1": 5, "fleet_goodput": 0.9, "lapsed": None}),
                      Event(1.0, "lease-service", Kind.SERVICE_WINDOW, {"goodput": 0})])
    assert got["dnslab_fleet_goodput_ratio"] == {(("manager", "fleet-manager"),): 0.9}
    assert got["dnslab_fleet_leases_lapsed_total"] == {(("manager", "fleet-manager"),): 0.0}
    assert "dnslab_fleet_leases_held" not in got


# -- dashboards ---------------------------------------------------------------------------
def cascade_dashboard() -> dict:
    return json.loads((ROOT / "grafana" / "dashboards" / "cascade.json").read_text())


def test_the_cascade_dashboard_shows_goodput_leases_queues_capacity_and_dns():
    d = cascade_dashboard()
    exprs = " ".join(t["expr"] for p in d["panels"] for t in p["targets"])
    names = set(exposition(cascade_events()))
    used = set(re.findall(r"\bdnslab_[a-z_]+", exprs))
    assert used <= names, used - names              # every series a query names is exported
    for metric in ("dnslab_fleet_goodput_ratio", "dnslab_lease_service_goodput_units_per_second",
                   "dnslab_fleet_leases_held", "dnslab_fleet_hosts_out_of_service",
                   "dnslab_fleet_reestablishments_waiting",
                   "dnslab_fleet_healthy_capacity_ratio", "dnslab_fleet_lookup_ok",
                   "dnslab_fleet_hosts_healthy", "dnslab_fleet_propagation_backlog",
                   "dnslab_lease_service_work_units_total"):
        assert metric in used, metric
    annotations = {a["name"]: a["expr"] for a in d["annotations"]["list"] if "expr" in a}
    assert "dnslab_fleet_lookup_ok" in annotations["Fleet lookup without addresses"]
    assert annotations["Pages"] == 'ALERTS{alertstate="firing", severity="page"}'


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed "
                    "(Debian's prometheus package); the Docker tier runs it in the image")
def test_every_dashboard_query_parses_as_promql(tmp_path):
    """Every panel and annotation query of every dashboard, as a recording rule that
    `promtool check rules` parses (syntax only: tests/docker/test_race_run.py evaluates them
    on a real Prometheus)."""
    rules = []
    for path in sorted((ROOT / "grafana" / "dashboards").glob("*.json")):
        d = json.loads(path.read_text())
        exprs = [t["expr"] for p in d["panels"] for t in p["targets"]]
        exprs += [a["expr"] for a in d["annotations"]["list"] if a.get("expr")]
        rules += [{"record": f"dnslab:{path.stem.replace('-', '_')}:q{i}", "expr": e}
                  for i, e in enumerate(exprs)]
    (tmp_path / "queries.yml").write_text(yaml.safe_dump({"groups": [
        {"name": "dashboards", "rules": rules}]}))
    r = subprocess.run(["promtool", "check", "rules", str(tmp_path / "queries.yml")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr


# -- the alert ----------------------------------------------------------------------------
def test_the_fleet_alert_pages_and_is_tested_for_a_collapse_a_recovery_and_a_healthy_fleet():
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    (rule,) = [r for g in rules["groups"] for r in g["rules"]
               if r["alert"] == "FleetCollapsedAfterDNS"]
    assert rule["labels"] == {"severity": "page"} and "summary" in rule["annotations"]
    assert "dnslab_fleet_goodput_ratio" in rule["expr"] and \
        "dnslab_fleet_lookup_ok" in rule["expr"] and rule["for"] == "15s"
    tests = yaml.safe_load((PROMETHEUS / "alerts.test.yml").read_text())["tests"]
    cases = [c for c in tests if any(t["alertname"] == "FleetCollapsedAfterDNS"
                                     for t in c["alert_rule_test"])]
    fired = [any(t["exp_alerts"] for t in c["alert_rule_test"]) for c in cases]
    assert fired == [True, False, False]            # collapse, recovery, healthy


def test_the_alert_tests_series_are_the_simulated_windows():
    """The promtool cases' goodput series are the simulation's windows (seed 1), so the
    alert is tested on the model's collapse and self-recovery, not on made-up numbers."""
    tests = yaml.safe_load((PROMETHEUS / "alerts.test.yml").read_text())["tests"]
    series = [s["values"] for c in tests for s in c["input_series"]
              if s["series"].startswith("dnslab_fleet_goodput_ratio")]

    def expand(values: str) -> list[float]:
        out = []
        for item in values.split():
            v, _, n = item.partition("x")
            out += [float(v)] * (int(n) + 1 if n else 1)
        return out
    for values, outage in zip(series, [(30.0, 75.0), (30.0, 45.0), None]):
        ws = windows(outage)
        expected = [ws[0].fleet_goodput] + [w.fleet_goodput for w in ws]
        got = expand(values)
        assert got == expected[:len(got)], outage


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed "
                    "(Debian's prometheus package); the Docker tier runs it in the image")
def test_the_alert_rules_pass_their_promtool_tests():
    r = subprocess.run(["promtool", "test", "rules", "alerts.test.yml"], cwd=PROMETHEUS,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "SUCCESS" in r.stdout, r.stdout + r.stderr


# -- the report ---------------------------------------------------------------------------
def report(events) -> tuple[str, ET.Element, dict]:
    summary = summarize(events, backend="powerdns", seed=1, title="cascade",
                        cascade=JUDGING)
    page = render_html(summary, events)
    svg = page[page.index("<svg"):page.index("</svg>") + 6]
    return page, ET.fromstring(svg), summary


def test_the_report_plots_the_collapse_under_the_dns_timeline():
    page, svg, summary = report(cascade_events())
    c = summary["cascade"]
    assert c["metastable"] is True and c["dns_restored_at_s"] == 75.0   # after the first event
    titles = [t.text for t in svg.iter(NS + "text") if t.get("class") == "title"]
    assert titles[0].startswith("Failed probes") and titles[1].startswith("Plan generation")
    assert titles[2].startswith("Fleet goodput") and titles[3].startswith("Hosts out of service")
    series = {p.find(NS + "title").text: p for p in svg.iter(NS + "polyline")
              if "fleet" in (p.get("class") or "")}
    assert set(series) == {"fleet goodput", "healthy capacity", "hosts out of service",
                           "hosts back, network state not propagated"}
    # One step per window on the run's time axis: two points per window.
    n = len(windows(OUTAGE))
    assert all(len(p.get("points").split()) == 2 * n for p in series.values())
    # DNS's return for the fleet is marked on both fleet panels; it never recovered.
    back = [x for x in svg.iter(NS + "line") if x.get("class") == "dns-back"]
    assert len(back) == 2 and not [x for x in svg.iter(NS + "line")
                                   if x.get("class") == "recovered"]
    gaps = [r for r in svg.iter(NS + "rect") if r.get("class") == "nodns"]
    assert len(gaps) == 2                            # the lookup's outage, on both panels
    assert "the fleet stayed collapsed after DNS came back (metastable)" in page
    assert "DNS answered the fleet manager again at +75.0 s" in page
    assert "it did not recover by the end of the run" in page


def test_the_report_marks_a_fleet_that_recovers_by_itself():
    page, svg, summary = report(cascade_events((30.0, 45.0)))
    assert summary["cascade"]["metastable"] is False
    recovered = [x for x in svg.iter(NS + "line") if x.get("class") == "recovered"]
    assert len(recovered) == 2
    at = summary["cascade"]["recovered_at_s"]          # counted from the first event (EPOCH)
    assert "not metastable" in page and f"it recovered at +{at:.1f} s, " in page


def test_a_run_without_a_cascade_has_no_fleet_section():
    events = [e for e in cascade_events() if e.kind not in (
        Kind.CASCADE_WINDOW, Kind.SERVICE_WINDOW, Kind.CASCADE_DNS)]
    page, svg, summary = report(events)          # judged, but the fleet never reported
    assert summary["cascade"]["metastable"] is None
    assert "Fleet goodput" not in page and 'class="cascade' not in page
    page = render_html(summarize(events, backend="powerdns", seed=1), events)
    assert summarize(events, backend="powerdns", seed=1)["cascade"] is None
    assert "Fleet goodput" not in page and "fleet" not in page.split("<h2>Events")[0].lower()
    # Windows in the history but no cascade in the summary (an experiment without one): none.
    events = cascade_events()
    page = render_html(summarize(events, backend="powerdns", seed=1), events)
    assert "Fleet goodput" not in page
