"""One full race, end to end, on the real stack: `dnslab run experiments/dynamodb-race.yaml`.
The run's own history is the evidence: the summary contract, the invariants, automation
stuck until the operator's repair, the rollback, and the blast radius per client group."""

import json
import subprocess
import time
from collections import defaultdict

import pytest
import requests
import yaml

from lab import config
from lab.core.history import Kind
from lab.eventlog import read_events
from lab.faults import EtcdFaults
from lab.etcd import EtcdGateway
from lab.runtime import Workers
from lab.scenario import load
from tests.docker.helpers import promql_range

RACE = "experiments/dynamodb-race.yaml"


@pytest.fixture(scope="module")
def race(suites):
    """The suite's run of the race on PowerDNS (one real run per experiment and backend)."""
    run = suites("powerdns")
    out = run.run("dynamodb-race")
    return run.proc, run.summary("dynamodb-race"), read_events(out / "events.jsonl"), load(RACE)


def test_race_empties_the_endpoint_and_automation_stays_stuck(race):
    proc, s, events, _ = race
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]
    assert s["verdict"] == "hypothesis-violated" and s["as_expected"] is True
    assert s["backend"] == "powerdns" and s["seed"] == 1
    for key in ("detected", "duration_s", "clients_affected_fraction", "client_seconds_lost",
                "failed_probes", "total_probes"):
        assert key in s["outage"], key
    assert s["outage"]["detected"] and s["outage"]["failed_probes"] > 0
    assert s["outage"]["clients"] >= 50
    assert "dynamodb.us-east-1" in s["emptied"]["endpoints"]
    held = {v["name"]: v for v in s["invariants"]}
    assert held["never-delete-active-plan"]["held"] is False
    assert held["never-delete-active-plan"]["first_violation"]["source"] in ("enactor-b", "enactor-c")
    assert held["applied-generation-monotonic"]["held"] is False
    assert held["endpoint-never-empty"]["held"] is False
    assert s["automation_stuck"] is True and s["recovered_by"] == "operator-repair"
    assert 0 <= s["detection_lag_ms"] < 1000
    assert s["steady_state_after"]["held"] is True   # every client resolves again

    # Between the emptying and the repair, enactors reported themselves stuck and none
    # applied a plan to an emptied endpoint; after the repair they apply plans again.
    t_empty = s["emptied"]["t"]
    t_repair = min(e.t for e in events if e.kind is Kind.REPAIRED)
    between = [e for e in events if t_empty < e.t < t_repair]
    assert len({e.source for e in between if e.kind is Kind.ENACTOR_STUCK}) >= 2
    assert not [e for e in between if e.kind is Kind.ENDPOINT_APPLIED
                and e.data["endpoint"] in s["emptied"]["endpoints"]]
    assert any(e.kind is Kind.ENDPOINT_APPLIED and e.t > t_repair and e.source.startswith("enactor")
               for e in events)


def test_one_history_from_every_part(race):
    _, _, events, _ = race
    assert [e.t for e in events] == sorted(e.t for e in events)
    sources = {e.source for e in events}
    assert {"planner", "enactor-a", "enactor-b", "enactor-c", "clients-1", "clients-2",
            "runner", "faults", "operator"} <= sources
    phases = [e.data["phase"] for e in events if e.kind is Kind.PHASE]
    assert phases == ["setup", "start", "steady-state-before", "inject", "observe", "repair",
                      "recover", "steady-state-after", "rollback"]
    started = [e for e in events if e.kind is Kind.FAULT_STARTED]
    assert {(e.data["target"], e.data["step"]) for e in started} == {
        ("enactor-a", "after-freshness-check"), ("enactor-a", "before-cleanup"),
        ("enactor-b", "before-cleanup"), ("enactor-c", "before-cleanup")}


def test_rollback_leaves_no_worker_fault_or_paused_container(race, lab):
    workers = Workers(lab.client, run_id="check", net_prefix="", scoped=False)
    assert workers.all() == []
    assert lab.client.containers.list(filters={"label": "com.docker.compose.project=dnslab",
                                               "status": "paused"}) == []
    assert EtcdFaults(EtcdGateway(lab.address("plan-store"))).active() == []


def test_blast_radius_follows_the_ttls(race):
    """Direct clients fail at once and recover at the repair. Resolver clients keep their
    cached addresses until the record TTL runs out, then cache the empty answer for the
    negative TTL: they keep failing long after the repair, until it expires."""
    _, s, events, scenario = race
    ttl, neg, interval = scenario.record_ttl_s, scenario.negative_ttl_s, scenario.client_interval_s
    t_empty = s["emptied"]["t"]
    t_repair = min(e.t for e in events if e.kind is Kind.REPAIRED)
    fails = defaultdict(list)
    for e in events:
        if e.kind is Kind.PROBE and e.data["outcome"] != "ok":
            fails[(e.data["group"], e.data["endpoint"])].append(e.t)
    for endpoint in s["emptied"]["endpoints"]:
        direct, resolver = fails[("direct", endpoint)], fails[("resolver", endpoint)]
        assert direct and resolver, endpoint
        assert direct[0] - t_empty <= interval + 0.3, (endpoint, direct[0] - t_empty)
        assert direct[-1] <= t_repair + interval, (endpoint, direct[-1] - t_repair)
        # No resolver client fails before the deletion (its event is stamped when the
        # clean-up's transaction has returned, a few ms after it took effect). It may fail
        # before the first direct client does: when the resolver's cached answer expired
        # right at the deletion, the first to ask after it is whoever probes first.
        assert resolver[0] >= t_empty - 0.25, (endpoint, resolver[0] - t_empty)
        assert resolver[0] - t_empty <= ttl + interval + 0.5, (endpoint, resolver[0] - t_empty)
        cached_for = resolver[-1] - resolver[0]
        assert neg - interval - 1.0 <= cached_for <= neg + 1.0, (endpoint, cached_for)
        assert resolver[-1] - t_repair > neg - ttl - scenario.hold_stuck_s - 2 * interval - 1


def test_workers_metrics_reached_prometheus(race):
    """Probes, failing clients and applied generations were scraped while the run lasted
    (evaluated at the run's end, over the run)."""
    from tests.docker.helpers import scalar
    _, _, events, _ = race
    start, end = _window(events)
    time.sleep(max(0.0, end - time.time()))
    span = f"[{int(end - start) + 1}s]"
    assert scalar(f'sum(max_over_time(dnslab_clients_failing{{group="direct"}}{span}))', at=end) > 0
    assert scalar(f'sum(max_over_time(dnslab_client_probes_total{{outcome="ok"}}{span}))', at=end) > 0
    assert scalar(f'max(max_over_time(dnslab_endpoint_applied_generation{span}))', at=end) > 1
    assert scalar(f'max(max_over_time(dnslab_planner_generation{span}))', at=end) > 10


# -- dashboards and alerts, against the real Prometheus, over this race -------------------
def _window(events):
    return min(e.t for e in events), max(e.t for e in events) + 4


def _dashboard_queries():
    """Every panel target and every Prometheus annotation (fault windows, pages) of the
    generated dashboards (lab/dashboards.py); an annotation's query is its `expr`, or its
    `target.expr` in the shape Grafana migrates it to."""
    root = config.repo_root() / "grafana" / "dashboards"
    for path in sorted(root.glob("*.json")):
        d = json.loads(path.read_text())
        for p in d["panels"]:
            for t in p["targets"]:
                yield f"{path.stem}: {p['title']}", t["expr"]
        for a in d["annotations"]["list"]:
            if a["datasource"]["type"] == "prometheus":
                expr = a.get("expr") or a.get("target", {}).get("expr")
                assert expr, (path.name, a["name"])
                yield f"{path.stem}: annotation {a['name']}", expr


def _alert_rules():
    doc = yaml.safe_load((config.repo_root() / "images/prometheus/alerts.yml").read_text())
    return {r["alert"]: r["expr"] for g in doc["groups"] for r in g["rules"]}


def test_every_dashboard_panel_and_alert_rule_returns_data(race):
    _, _, events, _ = race
    start, end = _window(events)
    time.sleep(max(0.0, end - time.time()))     # the last scrapes and rule evaluations
    dashboards = list(_dashboard_queries())
    assert [w for w, _ in dashboards if "annotation Pages" in w] and \
        [w for w, _ in dashboards if "annotation Fault windows" in w]
    queries = dashboards + [(f"alert {n}", e) for n, e in _alert_rules().items()]
    assert len(queries) >= 25
    # The cascade's series exist only while a fleet runs: its queries are checked over the
    # cascade's own run (tests/docker/test_cascade.py).
    from tests.docker.test_cascade import is_cascade_query
    queries = [(where, expr) for where, expr in queries if not is_cascade_query(expr)]
    empty = [(where, expr) for where, expr in queries
             if not any(s["values"] for s in promql_range(expr, start, end))]
    assert not empty, f"queries that returned no data over the race: {empty}"


def test_no_addresses_alert_fired_in_the_outage_and_resolved_after_the_repair(race):
    _, s, events, _ = race
    start, end = _window(events)
    repaired = min(e.t for e in events if e.kind is Kind.REPAIRED)
    firing = 'ALERTS{alertname="EndpointHasNoAddresses", alertstate="firing"}'
    during = promql_range(firing, s["emptied"]["t"], repaired + 2)
    assert during and any(x["metric"]["endpoint"] == "dynamodb.us-east-1" for x in during)
    # Direct clients see the addresses again at the repair; one scrape and one rule
    # evaluation (2 s each) later the alert has resolved, and it stays resolved.
    assert promql_range(firing, repaired + 8, end) == []


def test_alert_rules_pass_their_promtool_tests_and_exporters_pass_promtool(lab):
    prometheus = lab.container("prometheus")
    r = prometheus.exec_run(["promtool", "test", "rules", "alerts.test.yml"],
                            workdir="/etc/prometheus")
    assert r.exit_code == 0 and b"SUCCESS" in r.output, r.output.decode()
    r = prometheus.exec_run(["promtool", "check", "config", "/etc/prometheus/prometheus.yml"])
    assert r.exit_code == 0, r.output.decode()
    # The lab's own exporters: the prober service, and a worker's registry fed one event
    # of every kind (what planner, enactor and client workers export).
    prober = requests.get(f"http://{lab.address('prober')}:9100/metrics", timeout=5).text
    assert "dnslab_probes_total" in prober
    assert_promtool_clean(prometheus, prober)
    assert_promtool_clean(prometheus, worker_exposition())


def worker_exposition() -> str:
    from prometheus_client import CollectorRegistry, generate_latest

    from lab.core.history import Event
    from lab.metrics import WorkerMetrics
    registry = CollectorRegistry()
    m = WorkerMetrics(registry)
    m.enactor("enactor-a")
    m.client("direct", "dynamodb.us-east-1")
    data = {Kind.PROBE: {"client": "c1", "group": "direct", "endpoint": "dynamodb.us-east-1",
                         "outcome": "nxdomain", "rcode": "NXDOMAIN", "addresses": 0,
                         "latency_ms": 1.5},
            Kind.PLAN_PUBLISHED: {"generation": 3},
            Kind.ENDPOINT_APPLIED: {"endpoint": "dynamodb.us-east-1", "generation": 2,
                                    "previous": 3},
            Kind.PASS: {"result": "applied", "seconds": 0.2},
            Kind.FAULT_STARTED: {"fault": "delay", "target": "enactor-a"}}
    for kind in Kind:
        m(Event(0.0, "enactor-a", kind, data.get(kind, {"generation": 1, "endpoint": "e"})))
    return generate_latest(registry).decode()


def assert_promtool_clean(prometheus, text: str) -> None:
    proc = subprocess.run(["docker", "exec", "-i", prometheus.id, "promtool", "check",
                           "metrics"], input=text, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and not proc.stdout.strip() and not proc.stderr.strip(), \
        proc.stdout + proc.stderr
