"""Does the simulation agree with the real lab: the pure comparison (lab/core/agreement.py),
`dnslab diff` over two run directories (lab/diff.py), and the experiment field that
declares what the simulation cannot reproduce (``simulation_differs``, lab/scenario.py).

A "real" run here is a simulated run whose summary.json says world "lab"; tests then edit
the summary or the history to make it differ."""

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from lab.core.agreement import Row, agree, compare_runs, within
from lab.core.history import Event, Kind
from lab.diff import diff, render
from lab.errors import LabError
from lab.eventlog import read_events, write_events
from lab.experiment_yaml import ExperimentError
from lab.scenario import DIFFERS_QUANTITIES, load
from lab.sim.run import simulate
from lab.suite import identity

ROOT = Path(__file__).resolve().parents[2]
RACE = ROOT / "experiments" / "dynamodb-race.yaml"
WHY = "the simulated recursor does not throttle as this one did"


def quiet(message: str) -> None:
    pass


# -- the pure comparison ---------------------------------------------------------------------
def probes(group: str, client: str, fail_from: float, fail_to: float, end: float = 60.0,
           interval: float = 0.5) -> list[Event]:
    """One client's probes every ``interval`` from 0 to ``end``, failing in
    [fail_from, fail_to)."""
    out, t = [], 0.0
    while t <= end:
        outcome = "timeout" if fail_from <= t < fail_to else "ok"
        out.append(Event(t, "clients-1", Kind.PROBE, {"client": client, "group": group,
                                                       "endpoint": "dynamodb.us-east-1",
                                                       "outcome": outcome}))
        t += interval
    return out


def history(outages: dict[str, float]) -> list[Event]:
    """Inject at 0; per group, one client fails from 10 s for the given seconds."""
    events = [Event(0.0, "runner", Kind.PHASE, {"phase": "inject"})]
    for group, seconds in outages.items():
        events += probes(group, f"{group}-1", 10.0, 10.0 + seconds)
        events += probes(group, f"{group}-2", 99.0, 99.0)          # never fails
    return sorted(events, key=lambda e: e.t)


def summary(verdict="hypothesis-violated", **extra) -> dict:
    return {"verdict": verdict, "as_expected": True, "emptied": None, "groups": {},
            "invariants": [{"name": "never-delete-active-plan", "held": True}], **extra}


def by_quantity(rows: list[Row]) -> dict[str, Row]:
    return {r.quantity: r for r in rows}


def test_identical_runs_agree_on_every_row():
    events = history({"resolver": 20.0, "direct": 4.0})
    rows = compare_runs(summary(), events, summary(), events)
    assert [r.quantity for r in rows] == ["verdict", "as-expected",
                                          "invariant never-delete-active-plan", "emptied",
                                          "resolver outage", "direct outage"]
    assert all(r.status == "agrees" for r in rows)
    assert agree(rows)


def test_a_different_verdict_differs():
    events = history({"resolver": 20.0})
    rows = by_quantity(compare_runs(summary(), events, summary("hypothesis-held"), events))
    assert rows["verdict"].status == "DIFFERS"
    assert (rows["verdict"].real, rows["verdict"].sim) == ("hypothesis-violated",
                                                           "hypothesis-held")
    assert not agree(list(rows.values()))


def test_a_declared_difference_is_shown_and_does_not_disagree():
    events = history({"resolver": 20.0})
    rows = compare_runs(summary(), events, summary("hypothesis-held"), events,
                        {"verdict": WHY, "as-expected": "never shown: it agrees"})
    found = by_quantity(rows)
    assert found["verdict"].status == "declared" and found["verdict"].declared == WHY
    assert found["verdict"].to_json()["why"] == WHY
    assert found["as-expected"].status == "agrees" and found["as-expected"].declared is None
    assert agree(rows)


def test_an_invariant_missing_from_the_simulation_differs():
    events = history({})
    sim = summary(invariants=[])
    row = by_quantity(compare_runs(summary(), events, sim, events))[
        "invariant never-delete-active-plan"]
    assert (row.real, row.sim, row.status) == ("held", "-", "DIFFERS")


def test_emptied_endpoints_compare_as_sets():
    events = history({})
    real = summary(emptied={"endpoints": ["b", "a"]})
    assert by_quantity(compare_runs(real, events, summary(emptied={"endpoints": ["a", "b"]}),
                                    events))["emptied"].agrees
    row = by_quantity(compare_runs(real, events, summary(), events))["emptied"]
    assert (row.real, row.sim, row.agrees) == ("a, b", "none", False)


@pytest.mark.parametrize("real, sim, agrees", [
    (4.0, 6.0, True), (4.0, 2.0, True), (4.0, 6.5, False),      # 2 s for short outages
    (20.0, 23.0, True), (20.0, 17.0, True), (20.0, 23.5, False),  # 15 % for long ones
    (0.0, 0.0, True), (0.0, 2.5, False)])
def test_a_group_outage_agrees_within_2_s_or_15_percent(real, sim, agrees):
    assert within(real, sim) is agrees
    rows = by_quantity(compare_runs(summary(), history({"resolver": real}),
                                    summary(), history({"resolver": sim})))
    assert rows["resolver outage"].agrees is agrees
    assert rows["direct outage"].agrees                          # neither has one
    assert agree(list(rows.values())) is agrees


def test_a_group_outage_declared_different_does_not_disagree():
    rows = compare_runs(summary(), history({"direct": 30.0}), summary(),
                        history({"direct": 5.0}), {"direct outage": WHY})
    row = by_quantity(rows)["direct outage"]
    assert row.status == "declared" and row.real.startswith("30.0 s")
    assert agree(rows)


# -- `dnslab diff` over run directories ----------------------------------------------------------
@pytest.fixture(scope="module")
def race_sim(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("race") / "sim"
    simulate(load(RACE), out, echo=quiet, experiment=identity(RACE))
    return out


def as_real(sim: Path, where: Path, **changes) -> Path:
    """A copy of ``sim`` that says it ran in the lab, with summary fields changed."""
    real = where / "real"
    shutil.copytree(sim, real)
    path = real / "summary.json"
    data = json.loads(path.read_text())
    data.update({"world": "lab", **changes})
    path.write_text(json.dumps(data))
    return real


def test_diff_of_a_run_and_its_own_simulation_agrees(race_sim, tmp_path):
    real = as_real(race_sim, tmp_path)
    [(name, rows)] = diff(real, race_sim)
    assert name == "real"
    assert all(r.status == "agrees" for r in rows), render([(name, rows)])
    assert by_quantity(rows)["resolver outage"].real != "none"    # the race has an outage
    assert render([(name, rows)]).splitlines()[0] == "real: agrees"


def test_diff_shows_a_different_verdict(race_sim, tmp_path):
    real = as_real(race_sim, tmp_path, verdict="hypothesis-held")
    results = diff(real, race_sim)
    [(_, rows)] = results
    assert by_quantity(rows)["verdict"].status == "DIFFERS"
    assert not agree(rows)
    text = render(results)
    assert text.splitlines()[0] == "real: DISAGREES"
    assert any(line.split()[:1] == ["verdict"] and line.rstrip().endswith("DIFFERS")
               for line in text.splitlines())


def test_diff_takes_declared_differences_from_the_real_run(race_sim, tmp_path):
    real = as_real(race_sim, tmp_path, verdict="hypothesis-held",
                   simulation_differs={"verdict": WHY})
    [(_, rows)] = results = diff(real, race_sim)
    assert by_quantity(rows)["verdict"].status == "declared"
    assert agree(rows)
    assert f"declared  ({WHY})" in render(results)


def stretch_outage(run: Path, group: str, seconds: float) -> tuple[float, float]:
    """Delay every probe after the first failure of the client with the group's longest
    outage by ``seconds``; (longest before, after) as lab.core.compare measures it."""
    from lab.core.compare import longest_client_outage_s
    events = read_events(run / "events.jsonl")
    before = longest_client_outage_s(events, group)
    failed = {}
    for e in events:
        if e.kind is Kind.PROBE and e.data["group"] == group and e.data["outcome"] != "ok":
            failed.setdefault(e.data["client"], e.t)
    client = max(failed, key=lambda c: _longest_of(events, c))
    moved = [dataclasses.replace(e, t=e.t + seconds)
             if e.kind is Kind.PROBE and e.data["client"] == client and e.t > failed[client]
             else e for e in events]
    moved.sort(key=lambda e: e.t)
    write_events(run / "events.jsonl", moved)
    return before, longest_client_outage_s(moved, group)


def _longest_of(events, client):
    from lab.core.compare import longest_client_outage_s
    mine = [e for e in events if e.kind is Kind.PROBE and e.data["client"] == client]
    return longest_client_outage_s(mine, mine[0].data["group"])


@pytest.mark.parametrize("stretch_s, agrees", [(1.5, True), (12.0, False)])
def test_diff_judges_the_longest_group_outage_within_tolerance(race_sim, tmp_path, stretch_s,
                                                                agrees):
    real = as_real(race_sim, tmp_path)
    before, after = stretch_outage(real, "resolver", stretch_s)
    assert after == pytest.approx(before + stretch_s, abs=0.01)
    assert within(after, before) is agrees                        # the rule, restated
    [(_, rows)] = diff(real, race_sim)
    row = by_quantity(rows)["resolver outage"]
    assert row.agrees is agrees
    assert row.status == ("agrees" if agrees else "DIFFERS")
    assert by_quantity(rows)["direct outage"].agrees


@pytest.mark.parametrize("change, field", [({"seed": 2}, "seed"),
                                            ({"backend": "coredns"}, "backend"),
                                            ({"mitigations": ("freshness-cas",)}, "mitigations")])
def test_diff_refuses_a_simulation_with_other_settings(race_sim, tmp_path, change, field):
    other = tmp_path / "other"
    simulate(dataclasses.replace(load(RACE), **change), other, echo=quiet,
             experiment=identity(RACE))
    real = as_real(race_sim, tmp_path)
    with pytest.raises(LabError) as caught:
        diff(real, other)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{other}: {field} ")
    assert "differs from the real run's" in message


def test_diff_refuses_a_simulation_of_another_file(race_sim, tmp_path):
    real = as_real(race_sim, tmp_path, experiment={"file": "experiments/other.yaml",
                                                   "sha256": "0" * 64})
    with pytest.raises(LabError, match="simulated from another experiment file"):
        diff(real, race_sim)


def test_diff_refuses_two_simulations(race_sim, tmp_path):
    real = as_real(race_sim, tmp_path, world="simulation")
    with pytest.raises(LabError, match="must be a real run"):
        diff(real, race_sim)


def test_diff_refuses_a_directory_without_a_run(race_sim, tmp_path):
    with pytest.raises(LabError, match="must both be run directories"):
        diff(tmp_path, race_sim)


# -- simulation_differs in the experiment file -----------------------------------------------------
BASE = "title: t\nexpect: hold\n"


def loaded(tmp_path, text: str):
    path = tmp_path / "e.yaml"
    path.write_text(BASE + text)
    return load(path)


def refused(tmp_path, text: str) -> str:
    with pytest.raises(ExperimentError) as caught:
        loaded(tmp_path, text)
    return str(caught.value)


def test_simulation_differs_loads_as_pairs_in_file_order(tmp_path):
    s = loaded(tmp_path, f"simulation_differs:\n  resolver outage: {WHY}\n"
                         "  verdict: the race is timing-dependent\n")
    assert s.simulation_differs == (("resolver outage", WHY),
                                    ("verdict", "the race is timing-dependent"))
    assert loaded(tmp_path, "").simulation_differs == ()
    assert loaded(tmp_path, "simulation_differs:\n").simulation_differs == ()


def test_every_quantity_diff_compares_can_be_declared(tmp_path):
    text = "simulation_differs:\n" + "".join(f"  {q}: because\n" for q in DIFFERS_QUANTITIES)
    s = loaded(tmp_path, text)
    assert [q for q, _ in s.simulation_differs] == list(DIFFERS_QUANTITIES)
    # ...and they are the names diff gives its rows.
    events = history({"resolver": 1.0})
    full = summary(invariants=[{"name": n, "held": True} for n in (
        "never-delete-active-plan", "applied-generation-monotonic", "endpoint-never-empty")])
    full["cascade"] = {"metastable": True, "dns_restored_at_s": 60.0, "recovered_at_s": None}
    assert {r.quantity for r in compare_runs(full, events, full, events)} == \
        set(DIFFERS_QUANTITIES)


def test_the_cascade_must_agree_on_metastable_and_on_recovery_within_the_tolerance():
    events = history({"resolver": 1.0})
    base = summary(invariants=[])

    def rows(real: dict, sim: dict) -> dict:
        return {r.quantity: r for r in compare_runs({**base, "cascade": real}, events,
                                                    {**base, "cascade": sim}, events)}
    collapsed = {"metastable": True, "dns_restored_at_s": 60.0, "recovered_at_s": None}
    r = rows(collapsed, collapsed)
    assert r["cascade metastable"].agrees and r["cascade recovery"].agrees
    assert r["cascade recovery"].real == "not recovered"
    healed = {"metastable": False, "dns_restored_at_s": 60.0, "recovered_at_s": 100.0}
    r = rows(collapsed, healed)
    assert not r["cascade metastable"].agrees and not r["cascade recovery"].agrees
    # 40 s after DNS against 48 s: within max(10 s, 25 %); against 55 s: not.
    assert rows(healed, {**healed, "recovered_at_s": 108.0})["cascade recovery"].agrees
    assert not rows(healed, {**healed, "recovered_at_s": 115.0})["cascade recovery"].agrees
    # Not recovered within its observation (105 s after DNS) says "later than 105 s": it
    # agrees with a recovery 91.4 s after DNS (within 25 %: 22.9 s), not with one at 60 s.
    censored = {**collapsed, "observed_until_s": 165.0}
    late = {**healed, "recovered_at_s": 60.0 + 91.4}
    r = rows(censored, late)
    assert r["cascade recovery"].agrees and r["cascade recovery"].real == \
        "not recovered within 105 s"
    assert rows(late, censored)["cascade recovery"].agrees           # either side
    assert not rows(censored, {**healed, "recovered_at_s": 120.0})["cascade recovery"].agrees
    # with no observation end known, "not recovered" agrees only with "not recovered"
    assert not rows(collapsed, late)["cascade recovery"].agrees
    # Undecided is never agreement, even on both sides.
    undecided = {"metastable": None, "dns_restored_at_s": None, "recovered_at_s": None}
    assert not rows(undecided, undecided)["cascade metastable"].agrees
    # No cascade on either side: no cascade rows.
    assert "cascade metastable" not in {x.quantity for x in compare_runs(base, events, base,
                                                                          events)}


def test_an_unknown_quantity_is_refused_by_name(tmp_path):
    message = refused(tmp_path, "simulation_differs:\n  latency: the sim is faster\n")
    assert "'latency' is not a quantity `dnslab diff` compares" in message
    assert message.startswith(f"{tmp_path / 'e.yaml'}:4:")
    assert "verdict" in message                     # says what it could be


@pytest.mark.parametrize("why", ["3", "[a, b]", "''", "'   '", '"one\\ntwo"', "x" * 401])
def test_a_why_that_is_not_one_line_of_text_is_refused(tmp_path, why):
    message = refused(tmp_path, f"simulation_differs:\n  verdict: {why}\n")
    assert "simulation_differs.verdict" in message
    assert "\n" not in message


@pytest.mark.parametrize("value", ["[verdict]", "yes", "'verdict'"])
def test_simulation_differs_must_be_a_mapping(tmp_path, value):
    message = refused(tmp_path, f"simulation_differs: {value}\n")
    assert "field 'simulation_differs' must be a mapping of quantity: why" in message


def test_a_declaration_in_the_file_reaches_the_diff(tmp_path):
    path = tmp_path / "race.yaml"
    path.write_text(RACE.read_text() + f"simulation_differs:\n  verdict: {WHY}\n")
    s = load(path)
    sim = tmp_path / "sim"
    summary_ = simulate(s, sim, echo=quiet, experiment=identity(path))
    assert summary_["simulation_differs"] == {"verdict": WHY}
    real = as_real(sim, tmp_path, verdict="hypothesis-held")
    [(_, rows)] = diff(real, sim)
    assert by_quantity(rows)["verdict"].status == "declared"
    assert agree(rows)
