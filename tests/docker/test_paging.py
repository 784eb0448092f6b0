"""Alerts that page, and true scrape targets, on the real lab: Prometheus evaluates the
lab's rules, Alertmanager routes pages to the lab's pager, and the pager's `paged` events
join the run's history (read from the suite's race run on PowerDNS: no extra run). The
workers are discovered while they exist, so at idle every target is up."""

import time

import requests

from lab.core.history import Kind
from lab.eventlog import read_events
from tests.docker.helpers import promql_range, prometheus_url, wait_for

WORKER_JOBS = {"planner", "enactor", "clients"}


def _race(suites):
    run = suites("powerdns")
    return run.summary("dynamodb-race"), read_events(run.run("dynamodb-race") / "events.jsonl")


def _targets() -> list[dict]:
    body = requests.get(prometheus_url() + "/api/v1/targets", params={"state": "active"},
                        timeout=5).json()
    return body["data"]["activeTargets"]


def test_alertmanager_and_prometheus_configs_are_valid(lab):
    r = lab.container("alertmanager").exec_run(
        ["amtool", "check-config", "/etc/prometheus/alertmanager.yml"])
    assert r.exit_code == 0, r.output.decode()
    r = lab.container("prometheus").exec_run(
        ["promtool", "check", "config", "/etc/prometheus/prometheus.yml"])
    assert r.exit_code == 0, r.output.decode()
    ams = requests.get(prometheus_url() + "/api/v1/alertmanagers", timeout=5).json()
    assert [a["url"] for a in ams["data"]["activeAlertmanagers"]] == [
        "http://alertmanager:9093/api/v2/alerts"]


def test_a_real_race_pages_through_alertmanager_and_the_summary_has_time_to_page(suites):
    s, events = _race(suites)
    pages = [e for e in events if e.kind is Kind.PAGED and e.data["status"] == "firing"]
    assert pages, "no page reached the run's history"
    assert all(e.source == "alertmanager" and e.data["severity"] == "page" for e in pages)
    empty = [e for e in pages if e.data["alert"] == "EndpointHasNoAddresses"]
    assert any(e.data["labels"].get("endpoint") == "dynamodb.us-east-1" for e in empty)
    emptied_at = s["emptied"]["t"]
    first = min(e.t for e in pages if e.t >= emptied_at)
    assert abs(s["time_to_page_s"] - (first - emptied_at)) < 0.01
    # Scrape and evaluation every 2 s, group_wait 1 s: a page within seconds, not minutes.
    assert 0 < s["time_to_page_s"] < 15, s["time_to_page_s"]
    # A page is stamped by the pager when Alertmanager's notification arrives: after the
    # alert started (Prometheus's view), never before the run began.
    # Only alerts that began in this run are in its history.
    began = min(e.t for e in events)
    assert all(e.data["starts_at"] - 1 <= e.t and e.data["starts_at"] >= began - 1
               for e in pages)


def test_every_worker_of_a_run_was_scraped_under_its_own_name(suites):
    _, events = _race(suites)
    workers = {e.source for e in events
               if e.source.startswith(("planner", "enactor-", "clients-"))}
    start, end = min(e.t for e in events), max(e.t for e in events)
    time.sleep(max(0.0, end + 3 - time.time()))
    up = promql_range('max by (job, worker) (up{job=~"planner|enactor|clients"})', start, end)
    scraped = {x["metric"]["worker"] for x in up if any(v == "1" for _, v in x["values"])}
    assert workers and workers <= scraped, (workers, scraped)


def test_at_idle_every_target_is_up_and_no_worker_is_listed(lab, suites):
    suites("powerdns")      # after a run: its workers' targets must be gone, not down
    # The suite's last run may have ended a moment ago: Prometheus keeps a removed worker's
    # last health ("up") until file discovery re-reads the emptied file (refresh 5 s), so
    # idle is reached once no worker is listed and every target left is up.
    seen: list[set] = []
    def idle():
        targets = _targets()
        seen.append({f'{t["labels"]["job"]}:{t["health"]}' for t in targets})
        jobs = {t["labels"]["job"] for t in targets}
        return (targets if targets and not jobs & WORKER_JOBS
                and all(t["health"] == "up" for t in targets) else None)
    try:
        targets = wait_for(idle, timeout_s=30, interval_s=1,
                           what="no worker listed and every target up")
    except AssertionError as e:
        raise AssertionError(f"{e}; last targets seen: {sorted(seen[-1]) if seen else None}")
    jobs = {t["labels"]["job"] for t in targets}
    assert {"pdns-auth", "recursor", "coredns", "prober", "plan-store", "zone-store",
            "alertmanager", "pager", "prometheus"} <= jobs
