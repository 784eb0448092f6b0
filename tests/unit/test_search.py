"""Schedule search (`dnslab search`, lab/search and lab/core/faultspace.py): the file's
`search:` section, the fault space's draws and mutations, one trial against the full
simulation, the engine's determinism however the work is split, each strategy finding the
race from steady state, the shrinker, the emitted experiment file, and the command line."""

import dataclasses
import json
import random
from pathlib import Path

import pytest

from lab.cli import main
from lab.core.checkers import check_all
from lab.core.experiment import TimedFault as Timed
from lab.core.faults import Fault, FaultKind
from lab.core.faultspace import (GRID_S, MIN_SECONDS, SETTLE_S, FaultSpace, ordered)
from lab.scenario import ExperimentError, json_schema, load
from lab.search import engine, story
from lab.search.engine import BATCH, search
from lab.search.shrink import Shrinker
from lab.search.trial import BACKWARDS, EMPTY, Outcome, run_trial, trial_scenario
from lab.sim.run import control_plane, simulate

ROOT = Path(__file__).resolve().parents[2]
STEADY = ROOT / "experiments" / "steady-state.yaml"
RACE = ROOT / "experiments" / "dynamodb-race.yaml"
ENACTORS = ("enactor-a", "enactor-b", "enactor-c")
AFTER_CHECK = "after-freshness-check"
# Seeds pinned per strategy: each finds an empty endpoint from steady state in its first
# batch (random seed 1, say, needs four batches).
FINDING = {("random", 3): 3, ("pct", 2): 1, ("pct", 3): 2, ("coverage", 3): 1}


def quiet(message: str) -> None:
    pass


def on_grid(x: float) -> bool:
    return abs(round(x / GRID_S) * GRID_S - x) < 1e-9


@pytest.fixture(scope="module")
def base():
    return load(STEADY)


@pytest.fixture(scope="module")
def space():
    return FaultSpace()


@pytest.fixture(scope="module")
def found(base, space):
    """A random search from steady state that stops at its first empty endpoint."""
    return search(base, space, strategy="random", seed=FINDING["random", 3], budget=300)


@pytest.fixture(scope="module")
def shrunk(base, space, found):
    f = found.found[EMPTY]
    shrinker = Shrinker(lambda s: EMPTY in run_trial(base, s, space).violations)
    return shrinker.shrink(f.schedule), shrinker


# -- the file's `search:` section -------------------------------------------------------------
HEAD = "title: t\nexpect: hold\nduration_s: 60\n"


def write(tmp_path: Path, body: str, name: str = "exp.yaml") -> Path:
    path = tmp_path / name
    path.write_text(HEAD + body)
    return path


def test_a_search_section_loads_into_a_fault_space(tmp_path):
    path = write(tmp_path, "search:\n"
                           "  window_s: 10\n"
                           "  max_seconds: 5.5\n"
                           "  max_faults: 2\n"
                           "  kinds: [delay, pause, planner-burst]\n"
                           "  targets: [enactor-a, planner, enactor-a]\n"
                           "  steps: [after-freshness-check, before-cleanup]\n"
                           "  max_burst: 3\n"
                           "  max_lock_losses: 2\n"
                           "  duration_s: 30\n")
    space = load(path).search
    assert space == FaultSpace(
        kinds=(FaultKind.DELAY, FaultKind.PAUSE, FaultKind.BURST),
        targets=("enactor-a", "planner"), steps=(AFTER_CHECK, "before-cleanup"),
        window_s=10.0, max_seconds=5.5, max_burst=3, max_lock_losses=2, max_faults=2,
        duration_s=30.0)
    assert space.method_s == 30.0
    assert space.atoms(ENACTORS) == [
        (FaultKind.DELAY, "enactor-a", AFTER_CHECK),
        (FaultKind.DELAY, "enactor-a", "before-cleanup"),
        (FaultKind.PAUSE, "enactor-a", None), (FaultKind.PAUSE, "planner", None),
        (FaultKind.BURST, "planner", None)]


def test_no_search_section_is_none_and_a_partial_one_keeps_the_defaults(tmp_path):
    assert load(write(tmp_path, "", "none.yaml")).search is None
    assert load(STEADY).search is None
    space = load(write(tmp_path, "search:\n  window_s: 7\n", "partial.yaml")).search
    assert space == FaultSpace(window_s=7.0)
    assert isinstance(space.window_s, float)


MALFORMED = [
    ("search:\n  window_s: 10\n  windw: 3\n", 6, "search: unknown field 'windw'"),
    ("search: [1, 2]\n", 4, "field 'search' must be a mapping"),
    ("search: 3\n", 4, "field 'search' must be a mapping"),
    ("search:\n  window_s: ten\n", 5, "search.window_s:"),
    ("search:\n  window_s: -1\n", 5, "search.window_s:"),
    ("search:\n  max_seconds: 0\n", 5, "search.max_seconds:"),
    ("search:\n  max_seconds: true\n", 5, "search.max_seconds:"),
    ("search:\n  max_faults: true\n", 5, "search.max_faults:"),
    ("search:\n  max_faults: 2.5\n", 5, "search.max_faults:"),
    ("search:\n  max_faults: 0\n", 5, "search.max_faults:"),
    ("search:\n  max_burst: '3'\n", 5, "search.max_burst:"),
    ("search:\n  max_lock_losses: 101\n", 5, "search.max_lock_losses:"),
    ("search:\n  kinds: []\n", 5, "search.kinds:"),
    ("search:\n  kinds: delay\n", 5, "search.kinds:"),
    ("search:\n  kinds: [delay, explode]\n", 5, "search.kinds:"),
    ("search:\n  targets: [enactor-z]\n", 5, "search.targets:"),
    ("search:\n  targets: [authoritative]\n", 5, "search.targets:"),
    ("enactors: [enactor-a]\nsearch:\n  targets: [enactor-b]\n", 6, "search.targets:"),
    ("search:\n  steps: [before-lunch]\n", 5, "search.steps:"),
    ("search:\n  steps: []\n", 5, "search.steps:"),
    ("search:\n  window_s: 20\n  duration_s: 20\n", 6, "search.duration_s"),
    ("search:\n  window_s: 20\n  duration_s: 10\n", 6, "search.duration_s"),
    ("search:\n  kinds: [planner-burst]\n  targets: [enactor-a]\n", 4, "search: kinds"),
    ("search:\n  kinds: [delay, lose-lock]\n  targets: [planner]\n", 4, "search: kinds"),
]


@pytest.mark.parametrize("body,line,field", MALFORMED,
                         ids=[f"{i}-{c[2].split(':')[0].split(' ')[-1]}"
                              for i, c in enumerate(MALFORMED)])
def test_a_malformed_search_section_is_one_line_naming_file_line_and_field(
        tmp_path, body, line, field):
    path = write(tmp_path, body)
    with pytest.raises(ExperimentError) as e:
        load(path)
    message = str(e.value)
    assert "\n" not in message
    assert message.startswith(f"{path}:{line}: "), message
    assert field in message, message


def test_the_no_atom_refusal_names_what_left_nothing(tmp_path):
    path = write(tmp_path, "search:\n  kinds: [delay, lose-lock]\n  targets: [planner]\n")
    with pytest.raises(ExperimentError, match="kinds delay, lose-lock and targets planner "
                                              "leave no fault to draw"):
        load(path)
    # ... but lose-lock of enactor-a is an atom once the kinds allow it
    fine = write(tmp_path, "search:\n  kinds: [lose-lock]\n  targets: [enactor-a]\n", "ok.yaml")
    assert load(fine).search.atoms(ENACTORS) == [(FaultKind.LOSE_LOCK, "enactor-a", None)]


def test_duplicate_kinds_do_not_duplicate_atoms(tmp_path):
    space = load(write(tmp_path, "search:\n  kinds: [delay, delay, planner-burst]\n")).search
    atoms = space.atoms(ENACTORS)
    assert len(atoms) == len(set(atoms))


def _conforms(value, schema: dict) -> bool:
    """The subset of JSON Schema the search section's schema uses."""
    types = schema.get("type")
    types = [types] if isinstance(types, str) else types or []
    checks = {"number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
              "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
              "array": lambda v: isinstance(v, list), "object": lambda v: isinstance(v, dict),
              "string": lambda v: isinstance(v, str), "null": lambda v: v is None}
    if types and not any(checks[t](value) for t in types):
        return False
    if "enum" in schema and value not in schema["enum"]:
        return False
    if "minimum" in schema and value < schema["minimum"]:
        return False
    if "maximum" in schema and value > schema["maximum"]:
        return False
    if isinstance(value, list):
        return len(value) >= schema.get("minItems", 0) and \
            all(_conforms(v, schema.get("items", {})) for v in value)
    if isinstance(value, dict):
        props = schema.get("properties", {})
        if schema.get("additionalProperties") is False and set(value) - set(props):
            return False
        return all(_conforms(v, props[k]) for k, v in value.items() if k in props)
    return True


def test_the_schema_file_accepts_a_search_section_and_refuses_unknown_keys():
    schema = json.loads((ROOT / "experiments" / "experiment.schema.json").read_text())
    assert schema == json.loads(json.dumps(json_schema()))
    section = schema["properties"]["search"]
    assert set(section["properties"]) == {"window_s", "max_seconds", "duration_s", "max_faults",
                                         "max_burst", "max_lock_losses", "kinds", "targets",
                                         "steps"}
    good = {"title": "t", "expect": "hold",
            "search": {"window_s": 10, "max_seconds": 5.5, "max_faults": 2,
                       "kinds": ["delay", "pause"], "targets": ["enactor-a"],
                       "steps": [AFTER_CHECK], "duration_s": 30, "max_burst": 3,
                       "max_lock_losses": 2}}
    assert _conforms(good, schema)
    assert _conforms({"title": "t", "expect": "hold", "search": None}, schema)
    for bad in ({"windw": 3}, {"kinds": []}, {"kinds": ["explode"]}, {"max_faults": 2.5},
                {"max_faults": 0}, {"steps": ["before-lunch"]}):
        assert not _conforms({"title": "t", "expect": "hold", "search": bad}, schema), bad


def test_the_schema_validates_with_jsonschema():
    """The published schema, read by a real validator (the test extra installs it): every
    shipped file conforms, a search section is checked, a misspelt key is refused."""
    import jsonschema
    import yaml
    schema = json.loads((ROOT / "experiments" / "experiment.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    shipped = sorted([*(ROOT / "experiments").glob("*.yaml"), *(ROOT / "benchmarks").glob("*.yaml"),
                      *(ROOT / "tests").rglob("*.yaml")])
    assert len(shipped) >= 10
    for path in shipped:
        jsonschema.validate(yaml.safe_load(path.read_text()), schema)
    jsonschema.validate({"title": "t", "expect": "hold",
                         "search": {"window_s": 10, "kinds": ["delay"]}}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"title": "t", "expect": "hold", "search": {"windw": 1}}, schema)


# -- the fault space -----------------------------------------------------------------------------
NARROW = FaultSpace(kinds=(FaultKind.DELAY, FaultKind.LOSE_LOCK, FaultKind.BURST, FaultKind.KILL),
                    targets=("enactor-b", "enactor-c", "planner"), steps=("before-cleanup",),
                    window_s=7.5, max_seconds=4.0, max_burst=3, max_lock_losses=2, max_faults=2)


class Extreme:
    """An Rng that always answers at one end of every range."""

    def __init__(self, high: bool):
        self.high = high

    def random(self) -> float:
        return 0.999999 if self.high else 0.0

    def randrange(self, n: int) -> int:
        return n - 1 if self.high else 0

    def randint(self, a: int, b: int) -> int:
        return b if self.high else a

    def uniform(self, a: float, b: float) -> float:
        return b if self.high else a

    def gauss(self, mu: float, sigma: float) -> float:
        return mu + (10 * sigma if self.high else -10 * sigma)


def assert_within(space: FaultSpace, schedule, enactors=ENACTORS) -> None:
    atoms = set(space.atoms(enactors))
    assert 1 <= len(schedule) <= space.max_faults, schedule
    assert schedule == ordered(schedule)
    for t in schedule:
        f = t.fault
        assert t.after is None
        assert 0.0 <= t.at_s < space.window_s and on_grid(t.at_s), t
        assert (f.kind, f.target, f.step) in atoms, t
        if f.kind is FaultKind.BURST:
            assert 1 <= f.count <= space.max_burst and f.seconds == 0, t
        elif f.kind is FaultKind.LOSE_LOCK:
            assert 1 <= f.times <= space.max_lock_losses and f.seconds == 0, t
        else:
            assert MIN_SECONDS <= f.seconds <= space.max_seconds and on_grid(f.seconds), t
            assert f.times == 1 and f.count == 0


def test_atoms_cover_every_kind_target_and_step_by_default():
    atoms = FaultSpace().atoms(ENACTORS)
    assert len(atoms) == len(set(atoms)) == 9 + 4 + 3 + 4 + 1
    assert (FaultKind.BURST, "planner", None) in atoms
    assert (FaultKind.KILL, "planner", None) in atoms
    assert not any(k is FaultKind.DELAY and t == "planner" for k, t, _ in atoms)
    assert NARROW.atoms(ENACTORS) == [
        (FaultKind.DELAY, "enactor-b", "before-cleanup"),
        (FaultKind.DELAY, "enactor-c", "before-cleanup"),
        (FaultKind.LOSE_LOCK, "enactor-b", None), (FaultKind.LOSE_LOCK, "enactor-c", None),
        (FaultKind.BURST, "planner", None),
        (FaultKind.KILL, "enactor-b", None), (FaultKind.KILL, "enactor-c", None),
        (FaultKind.KILL, "planner", None)]


def test_draw_is_deterministic_for_a_seeded_generator():
    space = FaultSpace()
    one = [space.draw(random.Random(f"s{i}"), ENACTORS) for i in range(50)]
    two = [space.draw(random.Random(f"s{i}"), ENACTORS) for i in range(50)]
    assert one == two
    assert len(set(one)) == 50
    rng = random.Random(7)
    assert space.draw(rng, ENACTORS) != space.draw(rng, ENACTORS)


@pytest.mark.parametrize("space", [FaultSpace(), NARROW], ids=["default", "narrow"])
def test_every_drawn_fault_is_within_the_space(space):
    kinds, sizes = set(), set()
    for i in range(600):
        schedule = space.draw(random.Random(i), ENACTORS)
        assert_within(space, schedule)
        kinds |= {t.fault.kind for t in schedule}
        sizes.add(len(schedule))
    assert kinds == set(space.kinds)
    assert sizes == set(range(1, space.max_faults + 1))
    for high in (False, True):
        assert_within(space, space.draw(Extreme(high), ENACTORS))


def test_drawn_seconds_stay_within_an_off_grid_max_seconds():
    space = FaultSpace(max_seconds=5.53)
    fault = space.sized(Extreme(True), FaultKind.DELAY, "enactor-a", AFTER_CHECK)
    assert fault.seconds <= space.max_seconds


@pytest.mark.parametrize("space", [FaultSpace(), NARROW], ids=["default", "narrow"])
def test_mutate_stays_within_the_space(space):
    rng = random.Random("mutate")
    corpus = [space.draw(random.Random(i), ENACTORS) for i in range(8)]
    seen = set()
    for _ in range(1500):
        parent = corpus[rng.randrange(len(corpus))]
        child = space.mutate(rng, parent, ENACTORS, corpus[rng.randrange(len(corpus))])
        assert_within(space, child)
        seen.add(len(child) - len(parent))
        corpus[rng.randrange(len(corpus))] = child
    assert {-1, 0, 1} <= seen           # it adds and removes faults as well as moving them
    for high in (False, True):
        assert_within(space, space.mutate(Extreme(high), corpus[0], ENACTORS, corpus[1]))


def test_mutate_is_deterministic():
    space = FaultSpace()
    s = space.draw(random.Random(1), ENACTORS)
    o = space.draw(random.Random(2), ENACTORS)
    assert [space.mutate(random.Random(k), s, ENACTORS, o) for k in range(30)] == \
        [space.mutate(random.Random(k), s, ENACTORS, o) for k in range(30)]


def test_sized_as_scales_bursts_and_lock_losses_to_their_bounds():
    space = FaultSpace(max_seconds=10.0, max_burst=10, max_lock_losses=5)
    assert space.sized_as(FaultKind.BURST, "planner", None, 5.0).count == 5
    assert space.sized_as(FaultKind.BURST, "planner", None, 0.0).count == 1
    assert space.sized_as(FaultKind.LOSE_LOCK, "enactor-a", None, 10.0).times == 5
    delay = space.sized_as(FaultKind.DELAY, "enactor-a", AFTER_CHECK, 3.01)
    assert (delay.seconds, delay.step) == (3.0, AFTER_CHECK)
    assert space.sized_as(FaultKind.PAUSE, "enactor-b", None, 0.0).seconds == MIN_SECONDS


def delay(at_s, target, seconds, step=AFTER_CHECK, after=None):
    return Timed(at_s, Fault(FaultKind.DELAY, target, seconds, step), after)


def test_method_for_follows_chained_faults_and_is_capped_by_method_s():
    space = FaultSpace()
    assert space.method_s == 20.0 + 15.0 + SETTLE_S
    reach = 2 * 1.0
    assert space.method_for((), 1.0) == reach + SETTLE_S
    plain = (delay(2.0, "enactor-a", 3.0),)
    assert space.method_for(plain, 1.0) == 2.0 + 3.0 + reach + SETTLE_S
    # fault 1 starts once fault 0 took effect (within reach of its at_s), then 1.0 s more
    chain = (delay(2.0, "enactor-a", 3.0), delay(1.0, "enactor-b", 4.0, "before-cleanup", 0))
    assert space.method_for(chain, 1.0) == (2.0 + reach + 1.0) + 4.0 + reach + SETTLE_S
    assert space.method_for(chain, 0.5) == (2.0 + 1.0 + 1.0) + 4.0 + 1.0 + SETTLE_S
    assert space.method_for(chain, 1.0) > space.method_for(
        tuple(dataclasses.replace(t, after=None) for t in chain), 1.0)
    late = (delay(19.95, "enactor-a", 15.0),)
    assert space.method_for(late, 1.0) == space.method_s == 40.0
    short = FaultSpace(duration_s=12.0)
    assert short.method_for(chain, 1.0) == 12.0
    assert short.method_for((delay(0.0, "enactor-a", 0.5),), 1.0) == 0.5 + reach + SETTLE_S


@pytest.mark.parametrize("space", [FaultSpace(), NARROW, FaultSpace(duration_s=21.0)],
                         ids=["default", "narrow", "short"])
def test_every_drawn_schedule_loads_back_as_an_experiment(base, space, tmp_path):
    for i in range(40):
        schedule = space.draw(random.Random(f"load{i}"), base.enactors)
        duration = space.method_for(schedule, base.planner_period_s)
        path = tmp_path / f"drawn{i}.yaml"
        path.write_text(story.experiment_yaml(base, schedule, duration_s=duration,
                                              violation=EMPTY, title=f"drawn {i}",
                                              description="a drawn schedule"))
        s = load(path)
        assert s.faults == schedule
        assert s.duration_s == duration
        assert s.expect == "outage" and s.title == f"drawn {i}"
        assert setup(s) == setup(base)


SKIPPED = ("title", "expect", "faults", "duration_s", "origin", "search", "simulation_differs")


def setup(s) -> dict:
    """What a searched file and its emitted file share: everything but the method."""
    return {f.name: getattr(s, f.name) for f in dataclasses.fields(s) if f.name not in SKIPPED}


def test_a_chained_schedule_loads_back_with_its_after_links(base, tmp_path):
    schedule = (delay(0.0, "enactor-a", 12.0), delay(5.0, "enactor-a", 10.0, "before-cleanup", 0),
                delay(8.0, "enactor-b", 6.0, "before-cleanup", 0))
    path = tmp_path / "chain.yaml"
    path.write_text(story.experiment_yaml(
        base, schedule, duration_s=FaultSpace().method_for(schedule, 1.0),
        violation=BACKWARDS, title="chain", description="d"))
    s = load(path)
    assert s.faults == schedule and s.expect == "violation"


# -- one trial -----------------------------------------------------------------------------------
def test_the_scripted_race_on_steady_state_empties_an_endpoint(base, space):
    race = load(RACE).faults
    outcome = run_trial(base, race, space)
    assert EMPTY in outcome.violations and outcome.broke
    assert outcome.error is None and outcome.fired == len(race) == 4
    assert outcome.empty_s > 0 and not outcome.recovered
    assert any("deleted-active" in step for step in outcome.interleaving)
    assert ("enactor-a", AFTER_CHECK, FaultKind.DELAY) in outcome.pairs
    _, events = control_plane(trial_scenario(base, race, space), method_only=True)
    held = {v.name: v.held for v in check_all(events)}
    assert held["never-delete-active-plan"] is False
    assert json.loads(json.dumps(outcome.to_json()))["violations"] == list(outcome.violations)


def test_an_empty_schedule_breaks_nothing(base, space):
    outcome = run_trial(base, (), space)
    assert outcome == Outcome((), 0.0, True, None, 0, outcome.interleaving, frozenset())
    assert not outcome.broke
    _, events = control_plane(trial_scenario(base, (), space), method_only=True)
    assert all(v.held is not False for v in check_all(events))


def test_trial_scenario_uses_the_schedule_and_the_method_length(base, space):
    race = load(RACE).faults
    s = trial_scenario(base, race, space, mitigations=("freshness-cas",))
    assert s.faults == race
    assert s.duration_s == space.method_for(race, base.planner_period_s)
    assert tuple(s.mitigations) == ("freshness-cas",)
    assert trial_scenario(base, race, space).mitigations == base.mitigations
    assert EMPTY not in run_trial(base, race, space, ("freshness-cas",)).violations


def control_events(events, end: float) -> list[dict]:
    return [json.loads(json.dumps(e)) for e in events
            if e["source"].startswith(("planner", "enactor")) and e["t"] <= end]


@pytest.mark.parametrize("which", ["race", "none"])
def test_the_control_plane_trial_runs_as_the_full_simulation_does(base, space, which, tmp_path):
    schedule = load(RACE).faults if which == "race" else ()
    s = trial_scenario(base, schedule, space)
    _, events = control_plane(s, method_only=True)
    simulate(s, tmp_path / "sim", echo=quiet)
    full = [json.loads(line) for line in
            (tmp_path / "sim" / "events.jsonl").read_text().splitlines()]
    end = events[-1].t
    assert full[-1]["t"] > end                   # the full run goes on (repair, clients...)
    ours = control_events([e.to_json() for e in events], end)
    theirs = control_events(full, end)
    assert len(ours) > 100
    assert ours == theirs


# -- the engine ----------------------------------------------------------------------------------
class Reversed:
    """Runs the chunks last first and gives them back in order."""

    workers = 3

    def __init__(self):
        self.calls = []

    def map(self, fn, jobs):
        self.calls.append(len(jobs))
        out = {i: fn(jobs[i]) for i in reversed(range(len(jobs)))}
        return [out[i] for i in range(len(jobs))]

    def close(self):
        pass


def essence(r) -> dict:
    return {"explored": r.explored, "counts": r.counts, "errors": r.errors,
            "found": {v: (f.index, f.schedule, f.outcome) for v, f in r.found.items()},
            "interleavings": r.interleavings, "pairs": r.pairs, "curve": r.curve,
            "max_empty_s": r.max_empty_s, "unrecovered": r.unrecovered}


@pytest.fixture(scope="module")
def learned(base, space):
    """A coverage search over 1.5 batches (the second batch learns from the first)."""
    return search(base, space, strategy="coverage", seed=2, budget=96, exhaust=True)


def test_the_same_seed_and_budget_give_the_same_search(base, space, learned):
    again = search(base, space, strategy="coverage", seed=2, budget=96, exhaust=True)
    assert essence(again) == essence(learned)
    assert learned.explored == 96 and learned.curve[0][0] == BATCH
    assert len(learned.interleavings) > 3 and learned.counts[BACKWARDS] > 0
    other = search(base, space, strategy="coverage", seed=4, budget=96, exhaust=True)
    assert essence(other) != essence(learned)


def test_the_search_is_the_same_however_the_work_is_split(base, space, learned, monkeypatch):
    runner = Reversed()
    split = search(base, space, strategy="coverage", seed=2, budget=96, exhaust=True,
                   executor=runner)
    assert runner.calls == [BATCH // engine.CHUNK, (96 - BATCH) // engine.CHUNK]
    assert essence(split) == essence(learned)
    monkeypatch.setattr(engine, "CHUNK", 7)
    runner = Reversed()
    odd = search(base, space, strategy="coverage", seed=2, budget=96, exhaust=True,
                 executor=runner)
    assert runner.calls == [10, 5]
    assert essence(odd) == essence(learned)


def kills_planner(schedule) -> bool:
    return any(t.fault.kind is FaultKind.KILL and t.fault.target == "planner"
               and t.fault.seconds >= 13.0 for t in schedule)


def big_burst(schedule) -> bool:
    return any(t.fault.kind is FaultKind.BURST and t.fault.count >= 9 for t in schedule)


def fake_trial(base, schedule, space, mitigations=None) -> Outcome:
    """No simulation: a schedule 'empties' an endpoint when it kills the planner for 13 s
    or more (about one schedule in 70), moves it 'backwards' with a burst of 9 or more."""
    violations = tuple(v for v, broke in ((EMPTY, kills_planner), (BACKWARDS, big_burst))
                       if broke(schedule))
    return Outcome(violations, 1.0 if EMPTY in violations else 0.0, True, None, len(schedule),
                   (), frozenset((t.fault.target, "x", t.fault.kind) for t in schedule))


@pytest.fixture
def faked(monkeypatch):
    monkeypatch.setattr(engine, "run_trial", fake_trial)


def first_index(base, space, seed, breaks):
    from lab.search.strategies import Uniform
    proposer = Uniform(space, base.enactors, seed)
    return next(i for i in range(10000) if breaks(proposer.one(i)))


@pytest.mark.parametrize("budget", [1, 17, BATCH - 1, BATCH, BATCH + 1, 3 * BATCH + 5])
def test_the_budget_is_respected(base, faked, budget):
    space = FaultSpace(kinds=(FaultKind.DELAY,))       # nothing ever breaks
    calls = []
    r = search(base, space, seed=1, budget=budget, progress=lambda r: calls.append(r.explored))
    assert r.explored == budget and not r.found
    assert calls == [min(budget, BATCH * k) for k in range(1, -(-budget // BATCH) + 1)]
    assert [c[0] for c in r.curve] == calls


def test_the_search_stops_after_the_batch_of_the_first_find_unless_exhaust(base, faked):
    space = FaultSpace()
    seed = next(s for s in range(1, 50) if first_index(base, space, s, kills_planner) > BATCH)
    index = first_index(base, space, seed, kills_planner)
    r = search(base, space, seed=seed, budget=100 * BATCH)
    assert r.found[EMPTY].index == index
    assert r.explored == (index // BATCH + 1) * BATCH
    assert kills_planner(r.found[EMPTY].schedule)
    # exhaust: the whole budget, the same first find
    full = search(base, space, seed=seed, budget=r.explored + 2 * BATCH, exhaust=True)
    assert full.explored == r.explored + 2 * BATCH
    assert full.found[EMPTY].index == index and full.counts[EMPTY] > r.counts[EMPTY]
    # what to stop at: the backwards generation only
    burst = first_index(base, space, seed, big_burst)
    b = search(base, space, seed=seed, budget=100 * BATCH, find=(BACKWARDS,))
    assert b.found[BACKWARDS].index == burst
    assert b.explored == (burst // BATCH + 1) * BATCH


def test_a_time_limit_stops_after_the_first_batch(base, faked):
    r = search(base, FaultSpace(kinds=(FaultKind.DELAY,)), seed=1, budget=10 * BATCH,
               time_s=0.0)
    assert r.explored == BATCH


def test_the_random_search_stops_after_its_first_find(found):
    f = found.found[EMPTY]
    assert f.index < BATCH and found.explored == BATCH       # budget 300, one batch
    assert found.counts[EMPTY] >= 1 and found.errors == 0
    assert EMPTY in f.outcome.violations


@pytest.mark.parametrize("strategy,depth", [s for s in FINDING if s[0] != "random"],
                         ids=lambda v: str(v))
def test_each_strategy_finds_an_empty_endpoint_from_steady_state(base, space, strategy, depth):
    seed = FINDING[strategy, depth]
    r = search(base, space, strategy=strategy, depth=depth, seed=seed, budget=300)
    assert EMPTY in r.found, (strategy, depth, seed, r.counts)
    f = r.found[EMPTY]
    assert r.explored == (f.index // BATCH + 1) * BATCH <= 300
    assert EMPTY in run_trial(base, f.schedule, space).violations
    if strategy == "pct":
        assert len(f.schedule) == depth - 1
        assert all(t.fault.kind is FaultKind.DELAY for t in f.schedule)


def test_an_unknown_strategy_is_refused(base, space):
    with pytest.raises(ValueError, match="unknown strategy 'dfs'"):
        search(base, space, strategy="dfs", budget=1)


# -- the shrinker --------------------------------------------------------------------------------
def test_the_shrinker_finds_the_one_fault_a_synthetic_predicate_needs():
    def breaks(s):
        return any(t.fault.kind is FaultKind.DELAY and t.fault.target == "enactor-a"
                   and t.fault.step == AFTER_CHECK and t.fault.seconds >= 3.0 for t in s)

    schedule = (Timed(1.0, Fault(FaultKind.PAUSE, "enactor-b", 2.0)),
                delay(4.2, "enactor-a", 7.35),
                Timed(6.5, Fault(FaultKind.BURST, "planner", count=5)),
                Timed(9.0, Fault(FaultKind.LOSE_LOCK, "enactor-c", times=3)))
    shrinker = Shrinker(breaks)
    small = shrinker.shrink(schedule)
    assert small == (delay(0.0, "enactor-a", 3.0),)
    assert 0 < shrinker.trials <= 40 and len(shrinker.cache) == shrinker.trials


def test_the_shrinker_sizes_bursts_and_lock_losses_down():
    def breaks(s):
        bursts = [t.fault.count for t in s if t.fault.kind is FaultKind.BURST]
        locks = [t.fault.times for t in s if t.fault.kind is FaultKind.LOSE_LOCK]
        return bool(bursts and locks) and max(bursts) >= 4 and max(locks) >= 2

    schedule = (Timed(3.0, Fault(FaultKind.BURST, "planner", count=9)),
                Timed(5.5, Fault(FaultKind.LOSE_LOCK, "enactor-c", times=5)),
                delay(7.0, "enactor-b", 2.0))
    small = Shrinker(breaks).shrink(schedule)
    assert ordered(small) == ordered((Timed(0.0, Fault(FaultKind.BURST, "planner", count=4)),
                                      Timed(0.0, Fault(FaultKind.LOSE_LOCK, "enactor-c",
                                                       times=2))))


def test_the_shrinker_stops_at_its_trial_budget():
    calls = []

    def breaks(s):
        calls.append(s)
        return len(s) >= 1

    schedule = tuple(delay(float(i), "enactor-a", 10.0) for i in range(4))
    shrinker = Shrinker(breaks, max_trials=5)
    small = shrinker.shrink(schedule)
    assert len(calls) == shrinker.trials == 5
    assert breaks(small)


def test_the_shrunk_found_schedule_still_empties_the_endpoint(base, space, found, shrunk):
    small, shrinker = shrunk
    original = found.found[EMPTY].schedule
    assert 1 <= len(small) <= len(original)
    assert shrinker.trials <= shrinker.max_trials
    assert EMPTY in run_trial(base, small, space).violations
    for t, s in zip(sorted(original, key=lambda t: (t.fault.kind, t.fault.target)),
                    sorted(small, key=lambda t: (t.fault.kind, t.fault.target))):
        if len(small) == len(original):
            assert s.fault.seconds <= t.fault.seconds and s.at_s <= t.at_s
    # one fault fewer no longer breaks (or it would have been dropped)
    for i in range(len(small)):
        fewer = small[:i] + small[i + 1:]
        if fewer:
            assert EMPTY not in run_trial(base, fewer, space).violations


# -- the story and the experiment file -----------------------------------------------------------
def test_the_shrunk_schedule_becomes_a_file_that_replays(base, space, shrunk, tmp_path):
    small, _ = shrunk
    duration = space.method_for(small, base.planner_period_s)
    path = tmp_path / "found-empty-endpoint.yaml"
    path.write_text(story.experiment_yaml(base, small, duration_s=duration, violation=EMPTY,
                                          title="Empty endpoint, found by search",
                                          description="found"))
    s = load(path)
    assert s.expect == "outage" and s.faults == small and s.duration_s == duration
    assert (s.seed, s.clients, s.enactors) == (base.seed, base.clients, base.enactors)
    assert main(["run", str(path), "--sim", "--out", str(tmp_path / "replay")]) == 0
    summary = json.loads((tmp_path / "replay" / "summary.json").read_text())
    assert summary["as_expected"] is True
    held = {i["name"]: i["held"] for i in summary["invariants"]}
    assert held["never-delete-active-plan"] is False


def test_a_file_with_a_search_section_emits_a_file_that_loads(tmp_path):
    searched = write(tmp_path, "search:\n  window_s: 15\n  max_faults: 2\n", "searched.yaml")
    s = load(searched)
    schedule = (delay(0.5, "enactor-a", 3.0),)
    path = tmp_path / "emitted.yaml"
    path.write_text(story.experiment_yaml(s, schedule, duration_s=20, violation=EMPTY,
                                          title="t", description="d"))
    assert load(path).faults == schedule


def test_chained_times_later_faults_from_the_first_and_still_breaks(base, space, shrunk):
    small, _ = shrunk
    _, events = control_plane(trial_scenario(base, small, space), method_only=True)
    chain = story.chained(small, events)
    assert len(chain) == len(small)
    assert chain[0].after is None
    assert sorted((t.fault for t in chain), key=repr) == sorted((t.fault for t in small), key=repr)
    if len(small) > 1:
        assert any(t.after == 0 for t in chain[1:])
    for t in chain[1:]:
        assert t.after in (0, None)
    assert EMPTY in run_trial(base, chain, space).violations
    lines = story.story(events, EMPTY)
    assert lines and any("deletes plan" in line and "no addresses" in line for line in lines)
    assert story.chained(small, []) == small       # nothing fired: timed from injection


def test_chained_on_the_scripted_race_links_every_later_fault_to_the_first(base, space):
    race = tuple(dataclasses.replace(t, after=None) for t in load(RACE).faults[:1]) + tuple(
        dataclasses.replace(t, at_s=round(t.at_s + 3.0, 2), after=None)
        for t in load(RACE).faults[1:])
    _, events = control_plane(trial_scenario(base, race, space), method_only=True)
    chain = story.chained(race, events)
    assert chain[0] == race[0]
    assert [t.after for t in chain[1:]] == [0, 0, 0]
    assert all(c.at_s <= r.at_s for c, r in zip(chain[1:], race[1:]))
    assert EMPTY in run_trial(base, chain, space).violations


def test_widened_lengthens_delays_and_pauses_only():
    schedule = (delay(0.0, "enactor-a", 2.0), Timed(1.0, Fault(FaultKind.PAUSE, "enactor-b", 1.5)),
                Timed(2.0, Fault(FaultKind.KILL, "enactor-c", 3.0)),
                Timed(3.0, Fault(FaultKind.BURST, "planner", count=2)))
    wide = story.widened(schedule, 0.5)
    assert [t.fault.seconds for t in wide] == [2.5, 2.0, 3.0, 0.0]
    assert story.widened(schedule, 0.0) == schedule


# -- the command line ----------------------------------------------------------------------------
def search_argv(out, *extra):
    return ["search", str(STEADY), "--out", str(out), "-q", "--no-shrink", *extra]


def test_dnslab_search_writes_its_results_and_a_rerun_replaces_them(found, tmp_path, capsys):
    out = tmp_path / "search"
    code = main(search_argv(out, "--budget", "300", "--seed", str(FINDING["random", 3])))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.err == ""
    doc = json.loads((out / "search.json").read_text())
    [v] = doc["variants"]
    assert doc["budget"] == 300 and doc["strategy"] == "random" and doc["find"] == [EMPTY]
    assert v["explored"] == found.explored == BATCH
    assert v["first"][EMPTY]["index"] == found.found[EMPTY].index
    assert v["counts"] == found.counts and v["found"] == []
    md = (out / "search.md").read_text()
    assert f"(first #{found.found[EMPTY].index})" in md and md in captured.out
    assert f"#{found.found[EMPTY].index}" in (out / "search.html").read_text()
    assert not list(out.glob("found-*.yaml"))
    # the same --out again: replaced whole (search.json marks it as a result)
    (out / "stray.txt").write_text("from the first run")
    assert main(search_argv(out, "--budget", "10", "--seed", "3")) == 0
    doc = json.loads((out / "search.json").read_text())
    assert doc["budget"] == 10 and doc["variants"][0]["explored"] == 10
    assert not (out / "stray.txt").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("extra,words", [
    (["--find", "nothing"], "--find 'nothing'"),
    (["--find", "empty-endpoint,nope"], "--find"),
    (["--budget", "0"], "--budget 0"),
    (["--depth", "0"], "--depth 0"),
    (["--max-faults", "0"], "--max-faults"),
])
def test_bad_search_options_are_one_line_and_exit_2(tmp_path, capsys, extra, words):
    out = tmp_path / "out"
    assert main(search_argv(out, "--budget", "5", *extra)) == 2
    err = capsys.readouterr().err
    assert err.startswith("dnslab: error:") and err.count("\n") == 1, err
    assert words in err
    assert not out.exists()


def test_search_takes_one_file_not_a_directory(tmp_path, capsys):
    assert main(["search", str(ROOT / "experiments"), "--out", str(tmp_path / "o"), "-q"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dnslab: error:") and err.count("\n") == 1, err
    assert "not a directory" in err


def test_search_never_replaces_a_directory_that_is_not_a_result(tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    assert main(search_argv(out, "--budget", "5")) == 2
    err = capsys.readouterr().err
    assert err.startswith("dnslab: error:") and err.count("\n") == 1, err
    assert (out / "notes.txt").read_text() == "keep me"


def test_a_malformed_search_section_stops_dnslab_search(tmp_path, capsys):
    path = write(tmp_path, "search:\n  kinds: [explode]\n")
    assert main(["search", str(path), "--out", str(tmp_path / "o"), "-q"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"dnslab: error: {path}:5: search.kinds:") and err.count("\n") == 1
