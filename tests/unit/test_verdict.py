"""Verdicts that cannot pass by accident (lab/core/verdict.py, lab/core/blast.summarize):
faults fired or not, failures explained or not, histories complete or not."""

import json
from dataclasses import dataclass

import pytest

from lab.core.blast import summarize
from lab.core.checkers import check_all
from lab.core.faults import Fault, FaultKind
from lab.core.history import Event, Kind
from lab.core.verdict import attribute, fault_outcomes
from tests.unit.test_run_model import probe, race_history


@dataclass(frozen=True)
class T:
    fault: Fault
    at_s: float = 0.0
    after: int | None = None


STALL = Fault(FaultKind.DELAY, "enactor-a", 12.0, step="after-freshness-check")
LOCK = Fault(FaultKind.LOSE_LOCK, "enactor-b", times=2)
KILL = Fault(FaultKind.KILL, "enactor-c", 4.0)


def phase(t, name):
    return Event(t, "runner", Kind.PHASE, {"phase": name})


def armed(t, index, fault):
    return Event(t, "runner", Kind.FAULT_ARMED,
                 {"index": index, "fault": fault.kind.value, "target": fault.target,
                  **({"step": fault.step} if fault.step else {})})


def started(t, fault, **extra):
    return Event(t, "faults", Kind.FAULT_STARTED,
                 {"fault": fault.kind.value, "target": fault.target,
                  **({"step": fault.step} if fault.step else {}), **extra})


def complete(events, first=0.0, last=100.0):
    """A whole run around ``events``: phases, an applied endpoint, ok probes throughout."""
    base = [phase(first, "setup"), phase(first + 1, "inject"),
            Event(first + 0.5, "enactor-b", Kind.ENDPOINT_APPLIED,
                  {"endpoint": "r", "generation": 1, "previous": None}),
            phase(last - 5, "steady-state-after"), phase(last, "rollback")]
    oks = [probe(first + 0.5 * i, f"c{i % 4}", "ok") for i in range(int((last - first) * 2))]
    return sorted(base + oks + list(events), key=lambda e: e.t)


def test_channel_fault_fired_when_a_worker_reports_it_after_it_was_armed():
    events = complete([armed(2, 0, STALL), started(5, STALL)])
    [o] = fault_outcomes(events, [T(STALL)])
    assert o.fired and o.fired_at == 5
    # A report from before the fault was armed is not this fault firing.
    events = complete([started(1.5, STALL), armed(2, 0, STALL)])
    [o] = fault_outcomes(events, [T(STALL)])
    assert not o.fired and "never reached after-freshness-check" in o.why


def test_a_lose_lock_fault_now_fires_and_chains():
    """The enactor core records a lose-lock firing like any other fault, so a fault chained
    to it with `after:` can be injected and judged."""
    from lab.core.enactor import Enactor, EnactorSettings
    from lab.core.history import History
    from lab.core.memory import MemoryDns, MemoryPlanStore
    from lab.core.planner import Planner
    import random

    class OneLockLoss:
        fired = False

        def delay(self, *a, **k):
            return 0.0

        def lose_lock(self, enactor, endpoint):
            if not self.fired:
                self.fired = True
                return True
            return False

    clock = iter(range(10_000)).__next__
    history = History(lambda: float(clock()))
    store, dns = MemoryPlanStore(), MemoryDns()
    Planner(store, history, random.Random(1)).publish()
    Enactor("enactor-b", store, dns, history, faults=OneLockLoss(),
            settings=EnactorSettings(), sleep=lambda s: None).run_once()
    kinds = [e.data.get("fault") for e in history.events(Kind.FAULT_STARTED)]
    assert kinds == ["lose-lock"]
    events = [armed(-1, 0, LOCK)] + history.events()
    [o] = fault_outcomes(events, [T(LOCK)])
    assert o.fired


def test_every_not_fired_fault_says_why():
    timeline = [T(STALL), T(KILL, at_s=3, after=0), T(LOCK, at_s=40)]
    events = complete([armed(2, 0, STALL)])
    outcomes = fault_outcomes(events, timeline)
    assert [o.fired for o in outcomes] == [False, False, False]
    assert "armed at +1.0 s" in outcomes[0].why
    assert "follows fault [0], which never fired" in outcomes[1].why
    assert "+40 s after injection start) had not come" in outcomes[2].why


def test_a_run_with_a_not_fired_fault_is_an_error_never_as_expected():
    events = complete([armed(2, 0, STALL), started(5, STALL)])
    timeline = [T(STALL), T(KILL, at_s=30, after=0)]
    s = summarize(events, backend="powerdns", seed=1, faults=timeline, expected="hold",
                  last_phase="steady-state-after")
    assert s["verdict"] == "error" and s["as_expected"] is False
    assert "fault [1] kill enactor-c did not fire" in s["reason"]
    assert [f["status"] for f in s["faults"]] == ["fired", "not-fired"]
    assert s["faults"][0]["fired_at_s"] == pytest.approx(4.0)


def test_a_failure_before_any_cause_is_unexplained_not_an_outage():
    """One timeout during start-up used to satisfy `expect: outage`."""
    events = complete([probe(0.7, "c9", "timeout")])
    explained, unexplained = attribute(events)
    assert explained == [] and [e.data["client"] for e in unexplained] == ["c9"]
    s = summarize(events, backend="powerdns", seed=1, expected="outage",
                  last_phase="steady-state-after")
    assert s["outage"]["detected"] is False
    assert s["verdict"] == "error" and "nothing in the history explains" in s["reason"]
    assert s["unexplained_failures"]["count"] == 1 and s["as_expected"] is False
    # Within the steady-state tolerance it is reported, and the run is decided on the rest.
    s = summarize(events, backend="powerdns", seed=1, expected="hold", max_failed_ratio=0.05,
                  last_phase="steady-state-after")
    assert s["verdict"] == "hypothesis-held" and s["unexplained_failures"]["count"] == 1
    assert s["as_expected"] is True


def test_failures_are_attributed_to_their_cause():
    s = summarize(race_history(), backend="powerdns", seed=1)
    assert s["verdict"] == "hypothesis-violated"
    assert s["unexplained_failures"]["count"] == 0
    [cause] = s["outage"]["causes"]
    assert cause["cause"].startswith("plan 3 deleted by enactor-b") and cause["failed_probes"] == 4
    # A fault that took effect explains failures after it (e.g. the authoritative paused).
    pause = Fault(FaultKind.PAUSE, "authoritative", 20.0)
    events = complete([started(10, pause, index=0), probe(11, "c1", "timeout")])
    explained, unexplained = attribute(events)
    assert unexplained == [] and explained[0][1].what == "pause authoritative"


@pytest.mark.parametrize("events,why", [
    ([], "no probe"),
    ([probe(1, "c1", "ok")], "no planner or enactor event"),
])
def test_an_empty_history_is_an_error(events, why):
    s = summarize(events, backend="powerdns", seed=1, expected="hold")
    assert s["verdict"] == "error" and why in s["reason"] and s["as_expected"] is False


def test_a_truncated_history_is_an_error():
    events = [e for e in complete([]) if e.t < 50]      # cut before steady-state-after
    s = summarize(events, backend="powerdns", seed=1, expected="hold",
                  last_phase="steady-state-after")
    assert s["verdict"] == "error" and "ends before the run's last phase" in s["reason"]
    assert s["history"]["complete"] is False
    whole = summarize(complete([]), backend="powerdns", seed=1, expected="hold",
                      last_phase="steady-state-after")
    assert whole["verdict"] == "hypothesis-held" and whole["history"]["complete"] is True


def test_checkers_on_a_history_without_plans_are_unknown():
    assert all(v.held is None for v in check_all([]))
    assert all(v.held is None for v in check_all([probe(1, "c1", "ok")]))


def test_a_summary_is_decided_once_and_cannot_change():
    from lab.core.blast import summarize
    from lab.core.verdict import Verdict
    s = summarize([], backend="powerdns", seed=1, expected="hold", last_phase="steady-state-after")
    assert s.verdict is Verdict.ERROR and not s.finished and not s.interrupted
    for change in (lambda: s.__setitem__("verdict", "hypothesis-held"),
                   lambda: s.update(verdict="hypothesis-held"), lambda: s.pop("verdict")):
        with pytest.raises(TypeError, match="decided once"):
            change()
    assert s["verdict"] == "error" and json.loads(json.dumps(s))["verdict"] == "error"
