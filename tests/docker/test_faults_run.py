"""Every fault kind injected at run time into real workers (no rebuild): lock losses, a
planner burst, a freezer pause, a kill and restart, a delay at a named step. Each is an
event in the run's history, and all of them are rolled back."""

import json
from pathlib import Path

import pytest

from lab.core.history import Kind
from lab.etcd import EtcdGateway
from lab.eventlog import read_events
from lab.faults import EtcdFaults
from lab.runtime import Workers
from tests.docker.helpers import dnslab

SCENARIO = Path(__file__).with_name("faults.yaml")


@pytest.fixture(scope="module")
def run(lab, tmp_path_factory):
    out = tmp_path_factory.mktemp("faults")
    proc = dnslab("run", str(SCENARIO), "--out", str(out), "--no-up")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["verdict"] in ("hypothesis-held", "hypothesis-violated"), \
        (summary.get("reason"), proc.stderr[-2000:])
    return summary, read_events(out / "events.jsonl")


def started(events, fault, target):
    return [e for e in events if e.kind is Kind.FAULT_STARTED and e.data["fault"] == fault
            and e.data["target"] == target]


def ended(events, fault, target):
    return [e for e in events if e.kind is Kind.FAULT_ENDED and e.data["fault"] == fault
            and e.data["target"] == target]


def test_lock_losses_are_retried(run):
    _, events = run
    armed = next(e.t for e in events if e.kind is Kind.FAULT_ARMED and e.data["fault"] == "lose-lock")
    lost = [e for e in events if e.kind is Kind.LOCK_LOST and e.source == "enactor-b" and e.t > armed]
    assert len(lost) >= 3
    after = [e for e in events if e.kind is Kind.ENDPOINT_APPLIED and e.source == "enactor-b"
             and e.t > lost[2].t]
    assert after, "enactor-b never applied an endpoint after its lock losses"


def test_planner_burst(run):
    _, events = run
    [burst] = started(events, "planner-burst", "planner")
    [done] = ended(events, "planner-burst", "planner")
    assert burst.data["count"] == 5
    # Five plans back to back (no wait between them: each only its store round trips),
    # consecutive generations.
    during = [e.data["generation"] for e in events
              if e.kind is Kind.PLAN_PUBLISHED and burst.t <= e.t <= done.t]
    assert len(during) == 5 and during == list(range(during[0], during[0] + 5)), during
    assert done.t - burst.t < 3.0, done.t - burst.t


def test_pause_freezes_the_whole_enactor(run):
    _, events = run
    [pause], [resume] = started(events, "pause", "enactor-a"), ended(events, "pause", "enactor-a")
    # 3 s from when the pause took effect (its event) to the thaw; the thaw's event comes
    # after `docker unpause` returned, a moment later on a loaded host.
    assert 2.95 <= resume.t - pause.t <= 3 + 2.0, resume.t - pause.t
    frozen = [e for e in events if e.source == "enactor-a" and pause.t + 0.3 < e.t < resume.t - 0.1]
    assert frozen == []
    assert any(e.source == "enactor-a" and e.t > resume.t for e in events)


def test_kill_and_restart(run):
    _, events = run
    [kill], [restart] = started(events, "kill", "enactor-c"), ended(events, "kill", "enactor-c")
    # 4 s from the kill to the restart; the restart's event comes after `docker start`
    # returned and the worker's log is followed again, which takes a while on a loaded host.
    assert 3.95 <= restart.t - kill.t <= 4 + 2.5, restart.t - kill.t
    assert not [e for e in events if e.source == "enactor-c" and kill.t + 0.3 < e.t < restart.t]
    assert any(e.kind is Kind.FRESHNESS_CHECKED and e.source == "enactor-c" and e.t > restart.t
               for e in events)


def test_delay_at_a_named_step(run):
    _, events = run
    [delay] = started(events, "delay", "enactor-b")
    assert delay.data["step"] == "before-endpoint"
    assert delay.data["endpoint"] == "dynamodb-streams.us-east-1"
    [done] = ended(events, "delay", "enactor-b")
    assert 0.95 <= done.t - delay.t <= 1.5


def test_everything_rolled_back(run, lab):
    assert Workers(lab.client, run_id="check", net_prefix="", scoped=False).all() == []
    assert lab.client.containers.list(filters={"label": "com.docker.compose.project=dnslab",
                                               "status": "paused"}) == []
    assert EtcdFaults(EtcdGateway(lab.address("plan-store"))).active() == []


def test_every_fault_fired_the_lose_lock_included(run):
    """A lose-lock fault used to leave no "fault started": now every fault of the file ends
    fired, with when."""
    summary, _ = run
    assert [f["status"] for f in summary["faults"]] == ["fired"] * 5, summary["faults"]
    assert summary["faults"][0]["kind"] == "lose-lock"
    assert all(f["fired_at_s"] >= 0 for f in summary["faults"])


NEVER_FIRES = """\
title: A stall the enactor never reaches
expect: hold
clients: 4
prober_containers: 1
steady_state_s: 2
duration_s: 5
planner_period_s: 60
faults:
  - {at_s: 0, kind: delay, target: enactor-a, step: after-freshness-check, seconds: 5}
"""


def test_a_fault_that_never_fires_makes_the_run_an_error(lab, tmp_path):
    """One plan a minute: after the first, no enactor finds a newer plan, so none
    reaches its after-freshness-check step while the run lasts. Quiet clients must not
    make that a pass."""
    path = tmp_path / "never-fires.yaml"
    path.write_text(NEVER_FIRES)
    proc = dnslab("run", str(path), "--out", str(tmp_path / "out"), "--no-up")
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert proc.returncode == 1 and summary["verdict"] == "error", summary.get("reason")
    assert summary["as_expected"] is False
    [fault] = summary["faults"]
    assert fault["status"] == "not-fired" and "never reached after-freshness-check" in fault["why"]
    assert "did not fire" in summary["reason"]
