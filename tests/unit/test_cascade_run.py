"""The cascade as a run (experiments/dynamodb-cascade.yaml) in the simulation world: the
fleet judged from the run's own history, the operator's levers after the repair, the
remediations compared, and the file's `cascade:` section refused field by field."""

import dataclasses
import json
from pathlib import Path

import pytest

from lab import compare
from lab.core.history import Kind
from lab.errors import ExperimentError
from lab.eventlog import read_events
from lab.scenario import load
from lab.sim.run import simulate

ROOT = Path(__file__).resolve().parents[2]
CASCADE = ROOT / "experiments" / "dynamodb-cascade.yaml"


def quiet(message: str) -> None:
    pass


@pytest.fixture(scope="module")
def collapsed(tmp_path_factory):
    out = tmp_path_factory.mktemp("cascade") / "run"
    summary = simulate(load(CASCADE), out, echo=quiet)
    return summary, read_events(out / "events.jsonl")


def test_the_race_leaves_the_fleet_metastable_after_dns_is_back(collapsed):
    summary, events = collapsed
    assert summary["verdict"] == "hypothesis-violated" and summary["as_expected"] is True
    c = summary["cascade"]
    assert c["metastable"] is True and c["dns_failed"] is True
    assert c["leases_lapsed_max"] == 2000 and c["healthy_capacity_min"] == 0.0
    assert c["recovered_at_s"] is None
    repaired = next(e.t for e in events if e.kind is Kind.REPAIRED)
    # DNS came back for the fleet after the repair (the resolver's negative cache first).
    assert c["dns_restored_at_s"] > repaired
    windows = [e for e in events if e.kind is Kind.CASCADE_WINDOW]
    after = [e for e in windows if e.t - 5 >= c["dns_restored_at_s"] + 15]
    assert len(after) >= 3 and all(e.data["fleet_goodput"] < 0.5 for e in after[:3])
    assert all(e.data["fleet_goodput"] > 0.9 for e in windows[:3])   # it held before
    assert any(e.kind is Kind.SERVICE_WINDOW and e.data["wasted_units"] > 0 for e in events)


def test_without_a_dns_fault_the_same_fleet_holds(tmp_path):
    s = dataclasses.replace(load(CASCADE), faults=(), expect="hold")
    summary = simulate(s, tmp_path / "run", echo=quiet)
    assert summary["verdict"] == "hypothesis-held" and summary["as_expected"]
    assert summary["cascade"]["metastable"] is False
    assert summary["cascade"]["dns_failed"] is False
    assert summary["cascade"]["healthy_capacity_min"] >= 0.95


def test_the_restart_is_the_operators_timed_lever_and_ends_the_collapse(tmp_path):
    s = compare.scenario_for(load(CASCADE), ("restart-manager",))
    summary = simulate(s, tmp_path / "run", echo=quiet)
    events = read_events(tmp_path / "run" / "events.jsonl")
    [restart] = [e for e in events if e.kind is Kind.MANAGER_RESTARTED]
    repaired = next(e.t for e in events if e.kind is Kind.REPAIRED)
    assert restart.t - repaired == pytest.approx(s.cascade.restart_after_repair_s, abs=0.2)
    assert summary["cascade"]["metastable"] is False
    assert summary["cascade"]["recovered_at_s"] > restart.t - 5


def test_late_remediations_are_switched_on_by_the_operator_after_the_repair(tmp_path):
    base = load(CASCADE)
    c = dataclasses.replace(base.cascade, remediations_after_repair_s=10.0)
    s = dataclasses.replace(base, cascade=c, mitigations=("admission-control",))
    summary = simulate(s, tmp_path / "run", echo=quiet)
    events = read_events(tmp_path / "run" / "events.jsonl")
    [on] = [e for e in events if e.kind is Kind.REMEDIATIONS_ON]
    assert on.data["remediations"] == ["admission-control"]
    assert summary["cascade"]["metastable"] is not None


def test_compare_all_runs_the_cascades_remediations_with_their_effect_and_cost(tmp_path):
    s = load(CASCADE)
    plan = compare.variants("all", s)
    assert [n for n, _ in plan] == ["none", "admission-control", "velocity-control",
                                    "backoff-budget", "lifo-shedding", "deadline-shedding",
                                    "restart-manager"]
    rows = []
    for name, parts in plan[:3]:
        out = tmp_path / name
        simulate(compare.scenario_for(s, parts), out, echo=quiet)
        rows.append(compare.row_for(name, out))
    by = {r["variant"]: r["cascade"] for r in rows}
    assert by["none"]["metastable"] is True and by["none"]["recovered_after_dns_s"] is None
    assert by["admission-control"]["metastable"] is False
    assert by["admission-control"]["recovered_after_dns_s"] is not None
    # the flawed manager's immediate retries amplify the work; throttling cuts it
    assert by["none"]["reestablish_per_lapse"] > 10 * by["admission-control"]["reestablish_per_lapse"]
    md = compare.markdown({"title": "t", "backend": "powerdns", "seed": 1, "command": "c",
                           "expected": "metastable", "variants": compare.with_baseline(rows)})
    assert "fleet recovered after DNS (s)" in md and "| not within" in md


def test_the_dns_safeguards_are_alls_default_without_a_cascade():
    race = load(ROOT / "experiments" / "dynamodb-race.yaml")
    names = [n for n, _ in compare.variants("all", race)]
    assert "serve-stale" in names and "admission-control" not in names
    with pytest.raises(ExperimentError, match="acts on the fleet manager"):
        compare.scenario_for(race, ("admission-control",))


BASE = CASCADE.read_text()


def refused(tmp_path, old: str, new: str) -> str:
    assert old in BASE
    path = tmp_path / "c.yaml"
    path.write_text(BASE.replace(old, new, 1))
    with pytest.raises(ExperimentError) as caught:
        load(path)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(str(path))
    return message


@pytest.mark.parametrize("old,new,says", [
    ("  hosts: 2000\n", "  hosts: 0\n", "cascade.hosts: must be a whole number from 1"),
    ("  hosts: 2000\n", "  hosts: many\n", "cascade.hosts"),
    ("  capacity: 35\n", "  capacity: 3.5\n", "cascade.capacity: must be a whole number"),
    ("  retry: immediate\n", "  retry: sometimes\n", "cascade.retry: must be one of"),
    ("  sweep_s: 10\n", "  swep_s: 10\n", "did you mean 'sweep_s'"),
    ("  lease_ttl_s: 15\n", "  lease_ttl_s: 5\n", "must be longer than cascade.renew_period_s"),
    ("recover_s: 130\n", "recover_s: 30\n", "too short to judge the fleet"),
    ("  restart_after_repair_s: 30\n", "  restart_after_repair_s: 500\n",
     "must come before the recovery window ends"),
    ("repair: true\n", "repair: false\n", "counts from the operator's repair"),
    ("expect: metastable\n", "expect: metastable\nmitigations: [restart-manager, bogus]\n",
     "field 'mitigations' must list"),
    ("backends: [powerdns]\n", "backends: [bind]\n", "field 'backends' must list"),
])
def test_a_bad_cascade_section_is_refused_in_one_line_naming_the_field(tmp_path, old, new, says):
    assert says in refused(tmp_path, old, new)


def test_a_cascade_that_is_not_a_mapping_is_refused(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text((ROOT / "experiments" / "dynamodb-race.yaml").read_text() + "cascade: 3\n")
    with pytest.raises(ExperimentError, match="field 'cascade' must be a mapping"):
        load(path)


def test_expect_metastable_needs_a_cascade(tmp_path):
    text = (ROOT / "experiments" / "dynamodb-race.yaml").read_text().replace(
        "expect: outage", "expect: metastable")
    path = tmp_path / "r.yaml"
    path.write_text(text)
    with pytest.raises(ExperimentError, match="needs a cascade: section"):
        load(path)


def test_the_live_view_shows_the_fleet_collapsed_after_dns_is_back(collapsed):
    from lab.core.live import LiveState
    from lab.live import plain_line, render
    summary, events = collapsed
    state = LiveState(load(CASCADE))
    t_back = None
    for e in sorted(events, key=lambda e: e.t):
        state.add(e)
        if e.kind is Kind.CASCADE_DNS and e.data["ok"] and t_back is None and \
                any(x.kind is Kind.CASCADE_DNS and not x.data["ok"] for x in events
                    if x.t < e.t):
            t_back = e.t
    v = state.view()
    assert v.fleet is not None and v.fleet.collapsed and v.fleet.dns_ok
    line = plain_line(v)
    assert "fleet goodput 0.00 capacity 0% out 2000" in line and "COLLAPSED" in line
    from rich.console import Console
    console = Console(width=200, record=True, file=open("/dev/null", "w"))
    console.print(render(v))
    assert "COLLAPSED" in console.export_text()


def test_windows_written_a_few_milliseconds_late_stay_contiguous():
    """A real manager writes each window's event a little after the window ended; the
    judge puts the windows on the run's clock with one offset, so no jitter opens a gap
    (which would end a stretch of low goodput and leave the fleet undecided)."""
    import random

    from lab.core import cascade_judge
    from lab.core.cascade import CascadeParams
    from lab.core.history import Event
    from lab.sim.cascade import simulate_cascade
    run = simulate_cascade(CascadeParams(), (30.0, 75.0), duration_s=200.0)
    rng = random.Random(3)
    start = 1_800_000_000.0
    events = [Event(start + 75.0, "fleet-manager", Kind.CASCADE_DNS, {"ok": True}),
              Event(start + 30.0, "fleet-manager", Kind.CASCADE_DNS, {"ok": False}),
              Event(start, "fleet-manager", Kind.CASCADE_DNS, {"ok": True})]
    events += [Event(start + w.t1 + 0.002 + 0.03 * rng.random(), "fleet-manager",
                     Kind.CASCADE_WINDOW, dataclasses.asdict(w)) for w in run.windows]
    ws = cascade_judge.windows_of(events, start)
    assert all(a.t1 == b.t0 for a, b in zip(ws, ws[1:]))
    judged = cascade_judge.judge(events, renew_period_s=5.0, lease_ttl_s=15.0, origin=start)
    assert judged["metastable"] is True and judged["dns_restored_at_s"] == 75.0


def test_enactor_workers_are_told_only_the_dns_safeguards(tmp_path):
    """A cascade remediation reaching an enactor worker stopped a real comparison (the
    worker refuses a safeguard it does not know): the runner passes the DNS ones only, and
    those are exactly what the worker accepts."""
    from lab.core.enactor import Safeguards
    from lab.core.experiment import CASCADE_MITIGATIONS, DNS_MITIGATIONS
    from lab.run import enactor_mitigations
    assert set(DNS_MITIGATIONS) == set(Safeguards.NAMES) | {"interlock", "serve-stale"}
    s = compare.scenario_for(load(CASCADE), ("fencing", *CASCADE_MITIGATIONS))
    assert enactor_mitigations(s) == ("fencing",)


def test_switched_on_mid_collapse_shedding_ends_it_throttling_only_shortens_it(tmp_path):
    """benchmarks/cascade-late.yaml: the remediations 45 s after the repair, once the
    collapse is established (README, "The outage's second act")."""
    late = load(ROOT / "benchmarks" / "cascade-late.yaml")
    got = {}
    for name in ("none", "admission-control", "lifo-shedding"):
        parts = () if name == "none" else (name,)
        out = tmp_path / name
        simulate(compare.scenario_for(late, parts), out, echo=quiet)
        got[name] = compare.row_for(name, out)["cascade"]
    assert got["none"]["metastable"] is True and got["none"]["recovered_after_dns_s"] is None
    # throttling the client stops the storm but not the service's backlog: still
    # metastable, recovered only later
    assert got["admission-control"]["metastable"] is True
    assert got["admission-control"]["recovered_after_dns_s"] is not None
    # shedding the stale work ends it
    assert got["lifo-shedding"]["metastable"] is False
    assert got["lifo-shedding"]["recovered_after_dns_s"] < \
        got["admission-control"]["recovered_after_dns_s"]


def test_the_dry_run_says_what_the_cascade_will_do():
    from lab import suite
    s = compare.scenario_for(load(CASCADE), ("admission-control", "restart-manager"))
    text = suite.plan_text(CASCADE, s)
    assert "a fleet manager renewing 2000 leases every 5 s (TTL 15 s)" in text
    assert "remediations: admission-control, restart-manager" in text
    assert "restarts the manager 30 s after the repair" in text
    assert "cascade:" not in suite.plan_text(CASCADE, load(ROOT / "experiments" /
                                                          "dynamodb-race.yaml"))
