"""Pure parts of a run: experiment loading, fault matching, the blast radius and summary."""

import pytest

from lab import scenario
from lab.core.blast import outage, summarize
from lab.core.faults import Fault, FaultKind
from lab.core.history import Event, Kind
from lab.core.clients import clients_for

RACE = "experiments/dynamodb-race.yaml"


def test_shipped_experiments_load():
    race = scenario.load(RACE)
    assert race.expect == "outage" and race.clients >= 50 and len(race.enactors) == 3
    assert race.faults[0].fault.step == "after-freshness-check"
    assert all(f.after == 0 for f in race.faults[1:])
    assert scenario.load("experiments/steady-state.yaml").faults == ()


@pytest.mark.parametrize("text,field", [
    ("title: t\nexpect: outage\nseed: x\n", "'seed'"),
    ("title: t\nexpect: maybe\n", "'expect'"),
    ("title: t\nexpect: hold\nbogus: 1\n", "'bogus'"),
    ("expect: hold\n", "'title'"),
    ("title: t\nexpect: hold\nfaults: [{kind: delay, target: enactor-a, step: nowhere}]\n",
     "faults[0].step"),
    ("title: t\nexpect: hold\nfaults: [{kind: jump, target: enactor-a}]\n", "faults[0].kind"),
    ("title: t\nexpect: hold\nfaults: [{kind: pause, target: enactor-z}]\n", "faults[0].target"),
    ("title: t\nexpect: hold\nfaults: [{kind: pause, target: enactor-a, after: 0}]\n",
     "faults[0].after"),
    ("title: t\nexpect: hold\nalias: dname\n", "'alias'"),
    ("title: [unclosed\n", "not valid YAML"),
])
def test_malformed_experiments_name_the_field(tmp_path, text, field):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(scenario.ExperimentError) as e:
        scenario.load(path)
    message = str(e.value)
    assert str(path) in message and field in message and "\n" not in message


def test_fault_matching():
    f = Fault(FaultKind.DELAY, "enactor-a", 3.0, step="before-endpoint", endpoint="x", times=2)
    assert f.matches(FaultKind.DELAY, "enactor-a", "before-endpoint", "x")
    assert not f.matches(FaultKind.DELAY, "enactor-b", "before-endpoint", "x")
    assert not f.matches(FaultKind.DELAY, "enactor-a", "before-cleanup")
    assert not f.matches(FaultKind.DELAY, "enactor-a", "before-endpoint", "y")
    assert f.spent().times == 1 and f.spent().spent().times == 0
    assert Fault.from_json(f.to_json()) == f
    lock = Fault(FaultKind.LOSE_LOCK, "enactor-a", times=3)
    assert lock.matches(FaultKind.LOSE_LOCK, "enactor-a", None, "any-endpoint")


def test_clients_are_split_over_groups_and_endpoints():
    cs = clients_for(0, 52, ["r", "v6", "s"], {"v6"})
    assert len({c.id for c in cs}) == 52
    assert sum(c.group == "direct" for c in cs) == 26
    for group in ("direct", "resolver"):
        assert {c.endpoint for c in cs if c.group == group} == {"r", "v6", "s"}
    assert all(c.rdtype == ("AAAA" if c.endpoint == "v6" else "A") for c in cs)
    assert {c.id for c in clients_for(26, 26, ["r"], set())} == {f"c{i:03d}" for i in range(26, 52)}


def probe(t, client, outcome, group="direct", endpoint="r"):
    return Event(t, "clients-1", Kind.PROBE, {"client": client, "group": group,
                                              "endpoint": endpoint, "outcome": outcome})


def race_history():
    applied = lambda t, src, g: Event(t, src, Kind.ENDPOINT_APPLIED,  # noqa: E731
                                      {"endpoint": "r", "generation": g, "previous": None})
    return [
        applied(0.0, "enactor-b", 10),
        probe(0.5, "c1", "ok"), probe(0.6, "c2", "ok", "resolver"),
        applied(1.0, "enactor-a", 3),                      # the stale write
        Event(2.0, "enactor-b", Kind.PLAN_DELETED, {"generation": 3, "newest": 10}),
        probe(2.05, "c1", "nxdomain"), probe(2.6, "c2", "ok", "resolver"),
        probe(3.05, "c1", "nxdomain"), probe(3.6, "c2", "nxdomain", "resolver"),
        Event(3.7, "enactor-b", Kind.ENACTOR_STUCK, {"endpoint": "r", "generation": 11,
                                                      "missing": 3}),
        Event(4.0, "operator", Kind.REPAIRED, {"endpoint": "r", "generation": 12}),
        probe(4.05, "c1", "ok"), probe(4.6, "c2", "nxdomain", "resolver"),
        probe(5.6, "c2", "ok", "resolver"),
    ]


def test_summary_of_the_race():
    s = summarize(race_history(), backend="powerdns", seed=1)
    assert s["verdict"] == "hypothesis-violated"
    assert s["detection_lag_ms"] == pytest.approx(50.0)
    assert s["automation_stuck"] is True and s["recovered_by"] == "operator-repair"
    o = s["outage"]
    assert (o["failed_probes"], o["total_probes"], o["clients_affected_fraction"]) == (4, 9, 1.0)
    # c1 loses 2.05->3.05->4.05 (2 s); c2 loses 3.6->4.6->5.6 (2 s)
    assert o["client_seconds_lost"] == pytest.approx(4.0)
    assert o["duration_s"] == pytest.approx(5.6 - 2.05)
    assert {v["name"]: v["held"] for v in s["invariants"]} == {
        "never-delete-active-plan": False, "applied-generation-monotonic": False,
        "endpoint-never-empty": False}
    assert s["groups"]["resolver"]["first_failure"] == 3.6
    assert s["groups"]["direct"]["first_failure"] == 2.05


def test_summary_of_a_quiet_run_holds_and_status_overrides():
    applied = Event(0.0, "enactor-b", Kind.ENDPOINT_APPLIED,
                    {"endpoint": "r", "generation": 1, "previous": None})
    quiet = [applied] + [probe(0.1 * i, f"c{i % 3}", "ok") for i in range(30)]
    s = summarize(quiet, backend="powerdns", seed=1)
    assert s["verdict"] == "hypothesis-held" and s["detection_lag_ms"] is None
    assert s["outage"]["detected"] is False and s["recovered_by"] is None
    assert summarize(quiet, backend="powerdns", seed=1, status="aborted")["verdict"] == "aborted"
    assert outage([])["total_probes"] == 0


def test_the_retry_policy_retries_with_jitter_then_gives_up():
    from lab.core.enactor import EnactorSettings, RetryEndpoint, backoff_retrying
    slept, calls = [], []
    draws = iter([0.5, 1.0, 0.0])
    policy = backoff_retrying(EnactorSettings(max_attempts=4, backoff_base_s=0.1,
                                              backoff_max_s=0.3), slept.append,
                              lambda: next(draws))

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise RetryEndpoint("lock held")

    policy(flaky)
    assert len(calls) == 3 and slept == pytest.approx([0.1 + 0.05, 0.2 + 0.1])
    calls.clear()
    draws = iter([0.0] * 3)

    def never():
        calls.append(1)
        raise RetryEndpoint("lock held")

    with pytest.raises(RetryEndpoint):
        policy(never)
    assert len(calls) == 4


def test_json_schema_file_is_current_and_accepts_the_shipped_experiments():
    import json
    from pathlib import Path

    import yaml
    schema = json.loads(Path("experiments/experiment.schema.json").read_text())
    assert schema == json.loads(json.dumps(scenario.json_schema()))
    for path in Path("experiments").glob("*.yaml"):
        doc = yaml.safe_load(path.read_text())
        assert set(doc) <= set(schema["properties"]), path
        for fault in doc.get("faults") or []:
            assert set(fault) <= set(schema["properties"]["faults"]["items"]["properties"])


def test_expectations():
    from lab.core.verdict import Expect, Verdict, as_expected
    V, H = Verdict.VIOLATED, Verdict.HELD

    def ok(verdict, expect, outage=False, violated=False, after=True):
        return as_expected(verdict, Expect(expect), outage=outage, violated=violated,
                           steady_after_held=after)
    assert ok(V, "outage", True, True) and ok(V, "violation", True, True)
    assert not ok(V, "outage", False, True) and ok(V, "violation", False, True)
    assert ok(H, "hold") and not ok(V, "hold", True, True)
    assert ok(V, "no-outage", False, True) and ok(H, "no-outage")
    assert not ok(V, "no-outage", True, True)
    assert not ok(V, "outage", True, True, after=False)
    assert not ok(Verdict.ABORTED, "hold") and not ok(Verdict.ERROR, "outage", True)
