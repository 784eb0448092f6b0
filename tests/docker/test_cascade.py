"""The outage's second act on real containers: the suite's run of
experiments/dynamodb-cascade.yaml on PowerDNS (one real run; `backends: [powerdns]`). The
regional endpoint leads to a real lease service (a worker container on the lab network,
its address published by the planner), a real fleet manager renews 2000 leases through it,
looking the endpoint up at the lab's resolver; after the race and the repair DNS answers the
fleet again, but it stays collapsed. Its own history is the evidence, Prometheus shows it
(every cascade dashboard query and the alert, over this run), and the pager was paged.
The same fleet without the DNS fault holds (a second, short real run)."""

import json
import re
import time

import pytest

from lab.core import cascade_judge
from lab.core.history import Kind
from lab.eventlog import read_events
from tests.docker.helpers import dnslab, promql_range

NAME = "dynamodb-cascade"
FILE = "experiments/dynamodb-cascade.yaml"
CASCADE_METRICS = re.compile(r"dnslab_(fleet|lease_service)_")


def is_cascade_query(expr: str) -> bool:
    """A query over the cascade's series: it has data only while a fleet runs (this test's
    run), not over the race's (tests/docker/test_race_run.py leaves them to this file)."""
    return bool(CASCADE_METRICS.search(expr))


@pytest.fixture(scope="module")
def cascade(suites):
    run = suites("powerdns")
    out = run.run(NAME)
    assert (out / "summary.json").exists(), run.proc.stdout[-3000:] + run.proc.stderr[-2000:]
    return run.summary(NAME), read_events(out / "events.jsonl"), out


def test_the_fleet_stays_collapsed_after_dns_is_back(cascade):
    s, events, _ = cascade
    assert s["verdict"] == "hypothesis-violated" and s["as_expected"] is True, s["reason"]
    assert s["emptied"] and "dynamodb.us-east-1" in s["emptied"]["endpoints"]
    c = s["cascade"]
    assert c["metastable"] is True and c["dns_failed"] is True, c
    assert c["recovered_at_s"] is None and c["leases_lapsed_max"] > 1000
    t0 = min(e.t for e in events)
    repaired = min(e.t for e in events if e.kind is Kind.REPAIRED) - t0
    assert c["dns_restored_at_s"] > repaired          # after the repair, through the caches
    windows = cascade_judge.windows_of(events, t0)
    before = [w for w in windows if w.t1 <= s["emptied"]["t"] - t0]
    assert before and all(w.healthy_capacity >= 0.95 for w in before)   # it held first
    # The front's view: healthy capacity is the hosts passing its health checks, and a host
    # that lost its lease is never healthy for long (at most the checks' threshold).
    hosts = windows[0].leases_held + windows[0].out_of_service
    assert all(w.healthy_capacity == round(w.healthy_hosts / hosts, 4)
               and w.healthy_hosts_min <= w.healthy_hosts for w in windows)
    assert min(w.healthy_hosts for w in windows) < hosts / 2
    judged = [w for w in windows if w.t0 >= c["dns_restored_at_s"] + 15]
    assert len(judged) >= 3 and all(w.fleet_goodput < 0.5 for w in judged[:3])
    assert all(w.dns_ok for w in judged)              # DNS answered the fleet all along


def test_the_endpoint_led_to_the_real_lease_service_which_wasted_its_work(cascade):
    _, events, _ = cascade
    lookups = [e for e in events if e.kind is Kind.CASCADE_DNS]
    assert lookups and lookups[0].source == "fleet-manager"
    found = {a for e in lookups if e.data["ok"] for a in e.data["addresses"]}
    assert len(found) == 1 and found.pop().endswith(".45")     # the lease service's address
    assert any(not e.data["ok"] for e in lookups)               # and then none, in the race
    service = [e for e in events if e.kind is Kind.SERVICE_WINDOW]
    assert service and {e.source for e in service} == {"lease-service"}
    back = max(e.t for e in lookups if e.data["ok"])
    # The sustaining effect: after DNS came back the service served work whose client had
    # given up, and its queue stayed long.
    assert sum(e.data["wasted_units"] for e in service if e.t > back) > 1000
    assert max(e.data["queue_units"] for e in service if e.t > back) > 1000


def test_the_pager_was_paged_for_the_collapse_after_dns_returned(cascade):
    s, events, _ = cascade
    t0 = min(e.t for e in events)
    pages = [e for e in events if e.kind is Kind.PAGED
             and e.data.get("alert") == "FleetCollapsedAfterDNS"
             and e.data.get("status") == "firing"]
    assert pages, sorted({e.data.get("alert") for e in events if e.kind is Kind.PAGED})
    assert pages[0].t - t0 > s["cascade"]["dns_restored_at_s"]


def test_every_cascade_dashboard_query_and_the_alert_return_data(cascade):
    from tests.docker.test_race_run import _alert_rules, _dashboard_queries
    _, events, _ = cascade
    start, end = min(e.t for e in events), max(e.t for e in events) + 4
    time.sleep(max(0.0, end - time.time()))
    queries = [(w, e) for w, e in _dashboard_queries() if is_cascade_query(e)]
    queries += [(f"alert {n}", e) for n, e in _alert_rules().items() if is_cascade_query(e)]
    assert len(queries) >= 10 and any(w.startswith("alert ") for w, _ in queries)
    empty = [(w, e) for w, e in queries if not any(x["values"] for x in
                                                   promql_range(e, start, end))]
    assert not empty, f"cascade queries with no data over the cascade's run: {empty}"


def test_the_report_shows_the_collapse_under_the_dns_timeline(cascade):
    _, _, out = cascade
    page = (out / "report.html").read_text()
    assert "Fleet goodput" in page and "metastable" in page


def test_without_the_dns_fault_the_same_fleet_holds(lab, tmp_path):
    text = open(FILE).read()
    text = re.sub(r"(?ms)^faults:\n(  - .*?\n)+", "faults: []\n", text)
    text = text.replace("expect: metastable", "expect: hold")
    path = tmp_path / "cascade-no-fault.yaml"
    path.write_text(text)
    out = tmp_path / "run"
    proc = dnslab("run", str(path), "--no-up", "--out", str(out), timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    s = json.loads((out / "summary.json").read_text())
    assert s["verdict"] == "hypothesis-held" and s["as_expected"]
    c = s["cascade"]
    assert c["metastable"] is False and c["dns_failed"] is False, c
    assert c["healthy_capacity_min"] >= 0.95
    windows = cascade_judge.windows_of(read_events(out / "events.jsonl"))
    assert windows and all(w.propagation_backlog == 0 for w in windows)
