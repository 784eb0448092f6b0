"""The run loop (lab/core/runloop.py) against a fake world on a virtual clock: the phases,
the rollback that is always reached and in what order, the stop condition, the fault
timeline, and the aborts before injection."""

import dataclasses
import re
from pathlib import Path

import pytest

from lab.core.experiment import TimedFault
from lab.core.faults import Fault, FaultKind
from lab.core.history import Event, Kind
from lab.core.plan import DEFAULT_ENDPOINTS
from lab.core.runloop import FIRST_PLAN_WITHIN_S, READY_WITHIN_S, RunLoop
from lab.core.verdict import Verdict
from lab.errors import LabError
from lab.scenario import load
from tests.support.runworld import FakeClock, FakeWorld

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
PAUSE_A = Fault(FaultKind.PAUSE, "enactor-a", 30.0)
KILL_B = Fault(FaultKind.KILL, "enactor-b", 1.0)
DELAY_A = Fault(FaultKind.DELAY, "enactor-a", 12.0, "after-freshness-check")
ROLLBACK_STEPS = ("disarm", "restore", "roll_back")


def small(**changes):
    """The steady-state experiment, shrunk: 4 clients, 2 s windows, a 4 s method."""
    s = load(EXPERIMENTS / "steady-state.yaml")
    base = dict(clients=4, prober_containers=1, client_interval_s=0.5, steady_state_s=2.0,
                duration_s=4.0, hold_stuck_s=1.0, recover_s=1.0)
    return dataclasses.replace(s, **{**base, **changes})


def run(s, world=None, **kwargs):
    world = world or FakeWorld(s)
    clock = FakeClock(world)
    echoes: list[str] = []
    loop = RunLoop(s, world, clock, sink=world.sink, echo=echoes.append, **kwargs)
    result = loop.run()
    return result, loop, world, clock, echoes


def phases(loop) -> list[str]:
    return [e.data["phase"] for e in loop.history.events(Kind.PHASE)]


def phase_t(loop, phase: str) -> float:
    return next(e.t for e in loop.history.events(Kind.PHASE) if e.data["phase"] == phase)


def rollback_trace(world) -> list:
    """From the rollback phase on: the world's rollback calls and FAULT_ENDED events."""
    start = next(i for i, x in enumerate(world.log)
                 if x[0] == "event" and x[1] is Kind.PHASE and x[3]["phase"] == "rollback")
    out = []
    for x in world.log[start:]:
        if x[0] == "call" and x[1] in ROLLBACK_STEPS:
            out.append(x[1] if x[1] != "restore" else ("restore", x[3][0]))
        elif x[0] == "event" and x[1] is Kind.FAULT_ENDED:
            out.append(("fault-ended", x[3]["index"]))
    return out


def inject_t(world, index: int) -> float:
    [found] = [c[2] for c in world.calls("inject") if c[3][0] == index]
    return found


# -- the phases ------------------------------------------------------------------------------
def test_a_run_goes_through_every_phase_in_order_and_rolls_back():
    s = small()
    result, loop, world, clock, echoes = run(s)
    assert result.status is None and result.reason is None and not result.interrupted
    assert phases(loop) == ["setup", "start", "steady-state-before", "inject", "observe",
                            "steady-state-after", "rollback"]
    assert echoes[:3] == ["run: setup", "run: start", "run: steady-state-before"]
    assert [c[1] for c in world.calls() if c[1] != "check"] == [
        "set_up", "start_control_plane", "start_clients", "disarm", "roll_back"]
    # The windows last what the file says, on the virtual clock.
    assert phase_t(loop, "inject") - phase_t(loop, "steady-state-before") >= s.steady_state_s
    assert phase_t(loop, "observe") - phase_t(loop, "inject") == pytest.approx(s.duration_s,
                                                                                abs=0.11)
    assert result.steady_after["held"] is True
    assert result.steady_after["total_probes"] >= s.clients * 3
    assert result.steady_after["failed_probes"] == 0


def test_an_emptied_endpoint_ends_the_method_and_the_operator_repairs():
    class Deleting(FakeWorld):
        """Plan 1, which every endpoint points at, is deleted 1 s into the method."""

        def advance(self, now):
            super().advance(now)
            began = [e.t for e in self.history.events(Kind.PHASE)
                     if e.data["phase"] == "inject"]
            if began and now >= began[0] + 1 and not self.history.events(Kind.PLAN_DELETED):
                self.history.add(Event(now, "enactor-b", Kind.PLAN_DELETED,
                                       {"generation": 1, "newest": 7}))

    s = small(duration_s=30.0)
    result, loop, world, _, echoes = run(s, Deleting(s))
    assert result.status is None
    assert phases(loop) == ["setup", "start", "steady-state-before", "inject", "observe",
                            "repair", "recover", "steady-state-after", "rollback"]
    assert phase_t(loop, "observe") - phase_t(loop, "inject") < 1.5    # not duration_s
    assert len(world.calls("repair")) == 1
    assert "run: operator repair pointed every endpoint at plan 1" in echoes
    assert phase_t(loop, "recover") - phase_t(loop, "repair") == pytest.approx(0, abs=1e-9)
    assert phase_t(loop, "steady-state-after") - phase_t(loop, "recover") >= s.recover_s


# -- rollback: always reached, in order ---------------------------------------------------------
def test_ctrl_c_mid_run_aborts_and_rolls_back_in_order():
    s = small(duration_s=10.0, faults=(TimedFault(0.5, PAUSE_A),))
    world = FakeWorld(s)
    world.raise_at("inject", 2.0, KeyboardInterrupt())
    result, loop, world, clock, _ = run(s, world)
    assert result.status is Verdict.ABORTED
    assert result.reason == "interrupted (SIGINT)", result.reason
    assert result.interrupted is True
    assert "steady-state-after" not in phases(loop) and phases(loop)[-1] == "rollback"
    assert rollback_trace(world) == ["disarm", ("restore", 0), ("fault-ended", 0), "roll_back"]
    # Restored by the rollback at once, not when its 30 s would have run out.
    [restore] = world.calls("restore")
    assert restore[2] < phase_t(loop, "inject") + 3


@pytest.mark.parametrize("errors, reason", [((), "RuntimeError: disk on fire"),
                                            ((RuntimeError,), "disk on fire")])
def test_a_crash_in_the_world_is_an_error_and_still_rolls_back(errors, reason):
    s = small(duration_s=10.0, faults=(TimedFault(0.5, PAUSE_A),))
    world = FakeWorld(s)
    world.raise_at("inject", 2.0, RuntimeError("disk on fire"))
    result, loop, world, _, _ = run(s, world, errors=errors)
    assert result.status is Verdict.ERROR
    assert result.reason == reason
    assert result.interrupted is False
    assert rollback_trace(world) == ["disarm", ("restore", 0), ("fault-ended", 0), "roll_back"]


def test_a_failed_injection_is_still_restored_by_the_rollback():
    s = small(faults=(TimedFault(0.5, PAUSE_A),))
    result, loop, world, _, _ = run(s, FakeWorld(s, inject_error=LabError("no such container")),
                                    errors=(LabError,))
    assert result.status is Verdict.ERROR and result.reason == "no such container"
    assert rollback_trace(world) == ["disarm", ("restore", 0), ("fault-ended", 0), "roll_back"]


def test_rollback_goes_on_when_disarm_and_restore_fail():
    class Broken(FakeWorld):
        def disarm(self):
            super().disarm()
            raise RuntimeError("etcd gone")

        def restore(self, index, fault):
            super().restore(index, fault)
            raise RuntimeError("container gone")

    s = small(duration_s=10.0, faults=(TimedFault(0.5, PAUSE_A),))
    world = Broken(s)
    world.raise_at("inject", 2.0, KeyboardInterrupt())
    result, _, world, _, echoes = run(s, world)
    assert result.status is Verdict.ABORTED
    assert [c[1] for c in world.calls() if c[1] in ROLLBACK_STEPS] == \
        ["disarm", "restore", "roll_back"]
    assert any("could not clear the run's faults: etcd gone" in m for m in echoes)
    assert any("could not restore pause enactor-a: container gone" in m for m in echoes)


# -- the stop condition -------------------------------------------------------------------------
def test_the_stop_condition_aborts_the_method():
    s = small(duration_s=30.0, stop_clients_affected_fraction=0.25,
              faults=(TimedFault(1.0, Fault(FaultKind.PAUSE, "enactor-a", 20.0)),))
    result, loop, world, clock, _ = run(s, FakeWorld(s, fail_while_injected=True))
    assert result.status is Verdict.ABORTED
    assert re.fullmatch(r"stop condition: [234] of 4 clients affected, beyond "
                        r"stop_clients_affected_fraction 0\.25", result.reason)
    assert "steady-state-after" not in phases(loop)
    # Within a check of the first failures, long before the pause would have ended.
    assert clock.t < phase_t(loop, "inject") + 1.0 + 2.0
    assert rollback_trace(world) == ["disarm", ("restore", 0), ("fault-ended", 0), "roll_back"]


def test_without_a_stop_condition_the_same_run_goes_to_the_end():
    s = small(duration_s=30.0, faults=(TimedFault(1.0, Fault(FaultKind.PAUSE, "enactor-a",
                                                             20.0)),))
    result, loop, world, _, _ = run(s, FakeWorld(s, fail_while_injected=True))
    assert result.status is None
    assert "steady-state-after" in phases(loop)
    # Restored on schedule (before the rollback), so the rollback has nothing left to restore.
    [restore] = world.calls("restore")
    assert restore[2] == pytest.approx(phase_t(loop, "inject") + 21.0, abs=0.11)
    assert rollback_trace(world) == ["disarm", "roll_back"]


# -- the fault timeline ------------------------------------------------------------------------
CHAINED = """\
title: chained container faults
expect: hold
clients: 4
prober_containers: 1
steady_state_s: 2
duration_s: 6
hold_stuck_s: 1
faults:
  - {at_s: 1, kind: pause, target: enactor-a, seconds: 2}
  - {after: 0, at_s: 1.5, kind: kill, target: enactor-b, seconds: 1}
"""


def test_a_fault_after_a_container_fault_starts_at_s_after_it_took_effect(tmp_path):
    path = tmp_path / "chained.yaml"
    path.write_text(CHAINED)
    s = load(path)
    result, loop, world, _, _ = run(s)
    assert result.status is None
    started = {e.data["index"]: e.t for e in loop.history.events(Kind.FAULT_STARTED)}
    assert sorted(started) == [0, 1]
    assert inject_t(world, 0) == pytest.approx(phase_t(loop, "inject") + 1.0, abs=0.06)
    assert inject_t(world, 1) - started[0] == pytest.approx(1.5, abs=0.06)
    assert inject_t(world, 1) - started[0] >= 1.5
    # While the kill is pending, the world is told not to count enactor-b as dead.
    assert any(c[3][0] == {"enactor-b"} for c in world.calls("check"))
    ended = [e.data["index"] for e in loop.history.events(Kind.FAULT_ENDED)]
    assert sorted(ended) == [0, 1]


def test_a_fault_whose_time_comes_after_the_method_is_never_injected():
    s = small(duration_s=5.0, faults=(TimedFault(1.0, Fault(FaultKind.PAUSE, "enactor-a", 1.0)),
                                      TimedFault(20.0, KILL_B, after=0)))
    result, loop, world, _, echoes = run(s)
    assert result.status is None
    assert [c[3][0] for c in world.calls("inject")] == [0]
    assert "run: fault [1] kill enactor-b not injected: the method ended before its time" \
        in echoes
    assert [e.data["index"] for e in loop.history.events(Kind.FAULT_STARTED)] == [0]


def test_a_channel_fault_is_armed_and_recorded_with_its_index():
    s = small(faults=(TimedFault(0.0, DELAY_A),))
    result, loop, world, _, echoes = run(s)
    [armed] = loop.history.events(Kind.FAULT_ARMED)
    assert armed.data == {"index": 0, "fault": "delay", "target": "enactor-a", "seconds": 12.0,
                          "step": "after-freshness-check", "times": 1, "count": 0}
    assert armed.t == pytest.approx(phase_t(loop, "inject"), abs=1e-9)
    assert [c[3] for c in world.calls("arm")] == [(0, DELAY_A)]
    assert world.calls("inject") == []          # a channel fault is the workers' to do
    assert "run: armed delay on enactor-a at after-freshness-check" in echoes


@pytest.mark.parametrize("fires_after_s", [2.0, None])
def test_a_fault_after_a_channel_fault_waits_for_the_worker_report(fires_after_s):
    pause = Fault(FaultKind.PAUSE, "enactor-b", 1.0)
    s = small(duration_s=8.0, faults=(TimedFault(0.0, DELAY_A), TimedFault(1.0, pause, after=0)))
    result, loop, world, _, echoes = run(s, FakeWorld(s, fires_after_s=fires_after_s))
    if fires_after_s is None:
        assert world.calls("inject") == []
        assert any(m.startswith("run: fault [1] pause enactor-b not injected") for m in echoes)
    else:
        assert inject_t(world, 1) == pytest.approx(phase_t(loop, "inject") + 3.0, abs=0.11)


# -- aborts before injection -----------------------------------------------------------------
def test_steady_state_not_met_aborts_before_injection():
    s = small()
    result, loop, world, _, _ = run(s, FakeWorld(s, always_fail=True))
    assert result.status is Verdict.ABORTED
    assert result.reason.startswith("steady state not met before injection")
    assert "inject" not in phases(loop) and phases(loop)[-1] == "rollback"
    assert world.calls("inject") == [] and world.calls("arm") == []
    assert [c[1] for c in world.calls() if c[1] in ROLLBACK_STEPS] == ["disarm", "roll_back"]


def test_a_tolerated_failure_ratio_lets_the_run_go_on():
    s = small(max_failed_ratio=1.0)
    result, loop, _, _, _ = run(s, FakeWorld(s, always_fail=True))
    assert result.status is None
    assert "inject" in phases(loop)


def test_endpoints_never_applied_abort_within_60_virtual_seconds():
    s = small()
    missing = list(DEFAULT_ENDPOINTS)[-1]
    applies = [e for e in DEFAULT_ENDPOINTS if e != missing]
    result, loop, world, clock, _ = run(s, FakeWorld(s, applies=applies))
    assert result.status is Verdict.ABORTED
    assert result.reason.startswith("the enactors did not apply a first plan to every endpoint "
                                    "within 60 s")
    assert FIRST_PLAN_WITHIN_S <= clock.t - phase_t(loop, "start") <= FIRST_PLAN_WITHIN_S + 0.2
    assert world.calls("start_clients") == []
    assert "steady-state-before" not in phases(loop)


def test_a_set_up_component_that_never_answers_aborts_before_the_control_plane():
    s = small()
    world = FakeWorld(s, ready=[("the serve-stale resolver", lambda: False)])
    result, loop, world, clock, _ = run(s, world)
    assert result.status is Verdict.ABORTED
    assert result.reason == "the serve-stale resolver did not answer within 30 s"
    assert clock.t == pytest.approx(READY_WITHIN_S, abs=0.2)
    assert world.calls("start_control_plane") == []
    assert world.calls("roll_back")
