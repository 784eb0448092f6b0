"""The endurance benchmark's pure helpers (benchmarks/endurance.py): phase windows from the
runner's phase lines, the seeded kill plan, and how a killed run's results are judged."""

import importlib.util
from pathlib import Path

spec = importlib.util.spec_from_file_location(
    "endurance", Path(__file__).resolve().parents[2] / "benchmarks" / "endurance.py")
endurance = importlib.util.module_from_spec(spec)
spec.loader.exec_module(endurance)

PHASES = [("setup", 1.5), ("start", 3.0), ("steady-state-before", 9.0), ("inject", 11.0),
          ("observe", 101.0), ("steady-state-after", 104.0), ("rollback", 106.0),
          ("decide", 112.0)]


def test_windows_cover_the_run_once():
    w = endurance.phase_windows(PHASES, 113.0)
    assert w["set-up"] == [(0.0, 1.5), (1.5, 3.0), (3.0, 9.0)]
    assert w["steady-state"] == [(9.0, 11.0), (104.0, 106.0)]
    assert w["inject"] == [(11.0, 101.0)]
    assert w["observe/recover"] == [(101.0, 104.0)]
    assert w["rollback"] == [(106.0, 112.0), (112.0, 113.0)]
    assert sum(b - a for spans in w.values() for a, b in spans) == 113.0


def test_plan_is_seeded_interleaved_and_inside_its_phase():
    w = endurance.phase_windows(PHASES, 113.0)
    plan = endurance.plan_kills(w, count=20, seed=7)
    assert plan == endurance.plan_kills(w, count=20, seed=7)
    assert plan != endurance.plan_kills(w, count=20, seed=8)
    assert len(plan) == 60 and [k.signal for k in plan[:3]] == list(endurance.SIGNALS)
    for sig in endurance.SIGNALS:
        groups = {k.group for k in plan if k.signal == sig}
        assert groups == set(endurance.PHASE_GROUPS)     # every phase, for every signal
    for k in plan:
        assert any(a <= k.at_s <= b for a, b in w[k.group])


def test_a_phase_without_a_window_is_skipped():
    w = endurance.phase_windows([("setup", 1.0), ("inject", 2.0)], 3.0)
    plan = endurance.plan_kills(w, count=2, seed=1)
    assert {k.group for k in plan} == {"set-up", "inject"}


def judge(sig, hit, summary, *, before=False, code=1):
    return endurance.judge_results(sig, hit, before, summary, "old", code, "hypothesis-held")[0]


def test_results_judged():
    old = {"run_id": "old", "verdict": "hypothesis-held"}
    aborted = {"run_id": "new", "verdict": "aborted", "reason": "interrupted (SIGTERM)"}
    assert judge("SIGKILL", "inject", old)
    assert not judge("SIGKILL", "inject", None)                  # previous results removed
    assert judge("SIGTERM", "inject", aborted)
    assert not judge("SIGTERM", "inject", old)                   # stale
    assert not judge("SIGTERM", "inject", aborted, code=130)
    assert not judge("SIGINT", "inject", {"run_id": "new", "verdict": "hypothesis-held"})
    assert judge("SIGINT", "rollback", {"run_id": "new", "verdict": "hypothesis-held"})
    assert judge("SIGINT", None, old, code=130)                  # before the run began
    assert not judge("SIGINT", None, aborted)
    assert judge("SIGINT", "inject", {"run_id": "new", "verdict": "hypothesis-held"}, before=True)
    assert endurance.probe_gap([3.0, 1.0, 1.5]) == 1.5
