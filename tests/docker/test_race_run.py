"""One full race, end to end, on the real stack: `dnslab run experiments/dynamodb-race.yaml`.
The run's own history is the evidence: the summary contract, the invariants, automation
stuck until the operator's repair, the rollback, and the blast radius per client group."""

import json
from collections import defaultdict

import pytest

from lab.core.history import Kind
from lab.eventlog import read_events
from lab.faults import EtcdFaults
from lab.etcd import EtcdGateway
from lab.runtime import Workers
from lab.scenario import load
from tests.docker.helpers import dnslab

RACE = "experiments/dynamodb-race.yaml"


@pytest.fixture(scope="module")
def race(lab, tmp_path_factory):
    out = tmp_path_factory.mktemp("race")
    proc = dnslab("run", RACE, "--out", str(out), "--no-up")
    summary = json.loads((out / "summary.json").read_text())
    return proc, summary, read_events(out / "events.jsonl"), load(RACE)


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
    workers = Workers(lab.client, run_id="check", net_prefix="")
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
        assert resolver[0] >= direct[0]
        assert resolver[0] - t_empty <= ttl + interval + 0.5, (endpoint, resolver[0] - t_empty)
        cached_for = resolver[-1] - resolver[0]
        assert neg - interval - 1.0 <= cached_for <= neg + 1.0, (endpoint, cached_for)
        assert resolver[-1] - t_repair > neg - ttl - scenario.hold_stuck_s - 2 * interval - 1


def test_workers_metrics_reached_prometheus(race):
    """Probes, failing clients and applied generations were scraped while the run lasted."""
    from tests.docker.helpers import scalar
    assert scalar('sum(max_over_time(dnslab_clients_failing{group="direct"}[10m]))') > 0
    assert scalar('sum(max_over_time(dnslab_client_probes_total{outcome="ok"}[10m]))') > 0
    assert scalar('max(max_over_time(dnslab_endpoint_applied_generation[10m]))') > 1
    assert scalar('max(max_over_time(dnslab_planner_generation[10m]))') > 10
