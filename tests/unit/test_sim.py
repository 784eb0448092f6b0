"""The simulation world (lab/sim): every shipped experiment as expected on both backends,
determinism by seed, the race and its mitigations, the scheduler's tasks, the DNS models,
and `dnslab run --sim`."""

import dataclasses
import json
from pathlib import Path

import pytest

from lab.cli import main
from lab.core.memory import MemoryDns, MemoryPlanStore
from lab.core.plan import DEFAULT_ENDPOINTS, Plan, Target
from lab.scenario import load
from lab.sim.dnsmodel import (NODATA, NXDOMAIN, OK, SERVER_DOWN_MAX_FAILS,
                              SERVER_DOWN_THROTTLE_S, SERVFAIL, STALE_EXTENSION_S, TIMEOUT,
                              UPSTREAM_TIMEOUT_S, Authoritative, Resolver)
from lab.sim.run import simulate
from lab.sim.sched import Scheduler

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENTS = sorted((ROOT / "experiments").glob("*.yaml"))
RACE = ROOT / "experiments" / "dynamodb-race.yaml"
REGIONAL, IPV6, STREAMS = "dynamodb.us-east-1", "dynamodb.us-east-1.api", \
    "dynamodb-streams.us-east-1"


def quiet(message: str) -> None:
    pass


def test_memory_plan_store_takes_a_clock():
    """The simulation's killed workers need their locks to expire (a lease's TTL)."""
    now = [0.0]
    store = MemoryPlanStore(clock=lambda: now[0])
    assert store.acquire("dynamodb.us-east-1", "enactor-a", ttl_s=5)
    assert not store.acquire("dynamodb.us-east-1", "enactor-b", ttl_s=5)
    now[0] = 5.0
    assert store.acquire("dynamodb.us-east-1", "enactor-b", ttl_s=5)


# -- whole runs ------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", ["powerdns", "coredns"])
@pytest.mark.parametrize("path", EXPERIMENTS, ids=[p.stem for p in EXPERIMENTS])
def test_every_shipped_experiment_is_as_expected_in_the_simulation(path, backend, tmp_path):
    s = dataclasses.replace(load(path), backend=backend)
    summary = simulate(s, tmp_path / "out", echo=quiet)
    assert summary["world"] == "simulation"
    assert summary["backend"] == backend
    assert summary["as_expected"] is True, (summary["verdict"], summary["reason"])
    written = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert written["verdict"] == summary["verdict"] and written["world"] == "simulation"
    for name in ("events.jsonl", "report.html", "junit.xml"):
        assert (tmp_path / "out" / name).stat().st_size > 0


def test_the_same_file_and_seed_give_byte_identical_events(tmp_path):
    s = load(RACE)
    simulate(s, tmp_path / "one", echo=quiet)
    simulate(s, tmp_path / "two", echo=quiet)
    simulate(dataclasses.replace(s, seed=2), tmp_path / "other", echo=quiet)
    one = (tmp_path / "one" / "events.jsonl").read_bytes()
    assert one == (tmp_path / "two" / "events.jsonl").read_bytes()
    assert one != (tmp_path / "other" / "events.jsonl").read_bytes()
    assert len(one.splitlines()) > 1000


def test_the_race_empties_the_regional_endpoints(tmp_path):
    summary = simulate(load(RACE), tmp_path / "race", echo=quiet)
    assert summary["emptied"] is not None
    assert {REGIONAL, IPV6} <= set(summary["emptied"]["endpoints"])
    assert summary["outage"]["detected"] is True
    assert summary["recovered_by"] == "operator-repair"
    [held] = [v["held"] for v in summary["invariants"]
              if v["name"] == "never-delete-active-plan"]
    assert held is False


def test_freshness_cas_prevents_the_outage(tmp_path):
    s = dataclasses.replace(load(RACE), mitigations=("freshness-cas",))
    summary = simulate(s, tmp_path / "cas", echo=quiet)
    assert summary["emptied"] is None
    assert summary["outage"]["detected"] is False
    assert summary["mitigations"] == ["freshness-cas"]
    assert all(f["status"] == "fired" for f in summary["faults"])   # the race was attempted


def test_serve_stale_does_not_help_against_the_race(tmp_path):
    """The authoritative server answers - with no addresses: nothing stale to serve."""
    s = dataclasses.replace(load(RACE), mitigations=("serve-stale",))
    summary = simulate(s, tmp_path / "stale", echo=quiet)
    assert summary["emptied"] is not None
    assert summary["outage"]["detected"] is True
    assert summary["groups"]["resolver"]["failed"] > 0


def test_cli_run_sim_needs_no_docker(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    rc = main(["run", "experiments/steady-state.yaml", "--sim", "--out", str(tmp_path / "x")])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "docker" not in (out + err).lower()
    assert "hypothesis-held" in out
    summary = json.loads((tmp_path / "x" / "summary.json").read_text())
    assert summary["world"] == "simulation"
    assert summary["experiment"]["file"] == "experiments/steady-state.yaml"


# -- the scheduler ---------------------------------------------------------------------------
def test_tasks_run_in_virtual_time_order_and_fifo_at_equal_times():
    sched = Scheduler()
    seen = []

    def worker(name, period, rounds):
        def fn():
            for _ in range(rounds):
                seen.append((sched.now, name))
                sched.sleep(period)
        return fn

    sched.spawn("a", worker("a", 1.0, 3))
    sched.spawn("b", worker("b", 1.5, 2), delay=0.5)
    sched.spawn("c", worker("c", 1.0, 1))          # same time as a: after a, spawned later
    sched.run_until(10)
    # At 2.0 both are due: b asked for it (at 0.5) before a did (at 1.0).
    assert seen == [(0.0, "a"), (0.0, "c"), (0.5, "b"), (1.0, "a"), (2.0, "b"), (2.0, "a")]
    assert sched.now == 10


def test_sleep_outside_a_task_runs_the_world():
    sched = Scheduler()
    fired = []
    sched.at(2.0, lambda: fired.append(sched.now))
    sched.at(5.0, lambda: fired.append(sched.now))
    sched.sleep(3.0)
    assert fired == [2.0] and sched.now == 3.0
    sched.at(1.0, lambda: fired.append(sched.now))   # in the past: runs now, not back then
    sched.sleep(0.1)
    assert fired == [2.0, 3.0]


@pytest.mark.parametrize("pause_at, thaw_at, until, expected", [
    (0.5, 3.25, 5.0, [0.0, 3.25, 4.25]),   # due while paused: runs at the thaw
    (0.25, 0.5, 2.5, [0.0, 1.0, 2.0]),     # thawed before it was due: nothing changes
])
def test_a_paused_task_waits_for_its_thaw(pause_at, thaw_at, until, expected):
    sched = Scheduler()
    seen = []

    def ticker():
        while True:
            seen.append(sched.now)
            sched.sleep(1.0)

    task = sched.spawn("enactor-a", ticker)
    sched.at(pause_at, lambda: sched.pause(task))
    sched.at(thaw_at, lambda: sched.thaw(task))
    sched.run_until(until)
    assert seen == expected


def test_a_killed_task_never_runs_again_and_its_finally_does_not_run():
    sched = Scheduler()
    seen = []

    def holder():
        try:
            while True:
                seen.append(sched.now)
                sched.sleep(1.0)
        finally:
            seen.append("released")

    task = sched.spawn("enactor-b", holder)
    sched.at(1.5, lambda: sched.kill(task))
    sched.run_until(10.0)
    assert seen == [0.0, 1.0]
    assert task.dead


def test_a_task_that_returns_is_dead_and_its_finally_ran():
    sched = Scheduler()
    seen = []

    def once():
        try:
            seen.append("ran")
        finally:
            seen.append("finally")

    task = sched.spawn("planner", once)
    sched.run_until(1.0)
    assert seen == ["ran", "finally"] and task.dead


# -- the DNS models --------------------------------------------------------------------------
TTL, NEG = 5.0, 30.0


def plan(generation: int) -> Plan:
    return Plan(generation, {
        "regional": (Target(f"10.0.{generation}.1", 1), Target(f"10.0.{generation}.2", 1),
                     Target(f"2001:db8::{generation}", 1)),
        "streams": (Target(f"10.1.{generation}.1", 1),)}, dict(DEFAULT_ENDPOINTS))


def backend(generation: int = 1) -> MemoryDns:
    dns = MemoryDns()
    for endpoint in DEFAULT_ENDPOINTS:
        dns.apply(endpoint, plan(generation), None)
    return dns


def authoritative(dns, *, backend_name="powerdns", alias="flattened", empty="nxdomain"):
    return Authoritative(dns, backend=backend_name, alias=alias,
                         empty_answer=empty, record_ttl_s=TTL, negative_ttl_s=NEG)


def test_authoritative_answers_from_the_backend_state():
    dns = backend()
    auth = authoritative(dns)
    a = auth.answer(REGIONAL, "A")
    assert (a.rcode, a.addresses, a.ttl) == (OK, frozenset({"10.0.1.1", "10.0.1.2"}), TTL)
    assert auth.answer(IPV6, "AAAA").addresses == frozenset({"2001:db8::1"})
    assert auth.resolve(STREAMS, "A") == (OK, 1)
    assert auth.resolve(STREAMS, "AAAA") == (NODATA, 0)          # the tree has no IPv6
    assert auth.answer("nonexistent.us-east-1", "A").rcode == NXDOMAIN
    dns.apply(REGIONAL, plan(2), 1)                              # a new plan: a new answer
    assert auth.answer(REGIONAL, "A").addresses == frozenset({"10.0.2.1", "10.0.2.2"})


@pytest.mark.parametrize("empty, rcode", [("nxdomain", NXDOMAIN), ("nodata", NODATA)])
def test_an_emptied_endpoint_answers_as_the_file_says(empty, rcode):
    dns = backend()
    auth = authoritative(dns, empty=empty)
    dns.delete_generation(1)
    a = auth.answer(REGIONAL, "A")
    assert (a.rcode, a.addresses, a.ttl) == (rcode, frozenset(), NEG)
    assert auth.resolve(IPV6, "AAAA") == (rcode, 0)


def test_cname_alias_follows_to_the_tree_and_coredns_drops_a_dangling_cname():
    dns = backend()
    pdns, core = authoritative(dns, alias="cname"), \
        authoritative(dns, alias="cname", backend_name="coredns")
    assert pdns.answer(REGIONAL, "A").cname == "tree:1:regional"
    assert pdns.resolve(REGIONAL, "A") == (OK, 2)
    dns.delete_generation(1)
    assert pdns.answer(REGIONAL, "A").cname == "tree:1:regional"   # the CNAME stays
    assert pdns.resolve(REGIONAL, "A") == (NXDOMAIN, 0)            # its target is gone
    assert core.answer(REGIONAL, "A").cname is None
    assert core.resolve(REGIONAL, "A") == (NODATA, 0)


def test_a_paused_authoritative_does_not_answer():
    auth = authoritative(backend())
    auth.paused = True
    assert auth.answer(REGIONAL, "A") is None
    assert auth.resolve(REGIONAL, "A") == (TIMEOUT, 0)
    auth.paused = False
    assert auth.resolve(REGIONAL, "A") == (OK, 2)


def test_resolver_caches_positive_answers_for_the_record_ttl():
    dns = backend()
    resolver = Resolver(authoritative(dns))
    assert resolver.resolve(REGIONAL, "A", 0.0) == (OK, 2)
    dns.delete_generation(1)
    assert resolver.resolve(REGIONAL, "A", TTL - 0.01) == (OK, 2)     # from cache
    assert resolver.resolve(REGIONAL, "A", TTL + 0.01) == (NXDOMAIN, 0)


def test_resolver_caches_negative_answers_for_the_negative_ttl():
    dns = backend()
    resolver = Resolver(authoritative(dns))
    dns.delete_generation(1)
    assert resolver.resolve(REGIONAL, "A", 0.0) == (NXDOMAIN, 0)
    dns.apply(REGIONAL, plan(2), 1)                                   # repaired at once
    assert resolver.resolve(REGIONAL, "A", NEG - 0.01) == (NXDOMAIN, 0)
    assert resolver.resolve(REGIONAL, "A", NEG + 0.01) == (OK, 2)


def test_resolver_times_out_while_the_server_is_paused():
    auth = authoritative(backend())
    resolver = Resolver(auth)
    auth.paused = True
    assert resolver.resolve(REGIONAL, "A", 0.0) == (TIMEOUT, 0)
    auth.paused = False
    assert resolver.resolve(REGIONAL, "A", 1.0) == (OK, 2)


def down_for(resolver, auth, failures: int, t0: float = 0.0) -> float:
    """``failures`` queries of names not in cache while the server is frozen; the time after."""
    auth.paused = True
    for i in range(failures):
        assert resolver.resolve(REGIONAL, "A", t0 + i * 0.1) == (TIMEOUT, 0)
    auth.paused = False
    return t0 + failures * 0.1


def test_resolver_throttles_a_server_after_max_consecutive_failures():
    auth = authoritative(backend())
    resolver = Resolver(auth)
    t = down_for(resolver, auth, SERVER_DOWN_MAX_FAILS)
    throttled_at = t - 0.1                      # the last failure
    # The server is back, but the recursor has given up on it for a while.
    assert resolver.resolve(REGIONAL, "A", t) == (SERVFAIL, 0)
    assert resolver.resolve(STREAMS, "A", throttled_at + SERVER_DOWN_THROTTLE_S - 0.01) == \
        (SERVFAIL, 0)
    assert resolver.resolve(REGIONAL, "A", throttled_at + SERVER_DOWN_THROTTLE_S + 0.01) == \
        (OK, 2)


def test_one_failure_fewer_than_the_limit_does_not_throttle():
    auth = authoritative(backend())
    resolver = Resolver(auth)
    t = down_for(resolver, auth, SERVER_DOWN_MAX_FAILS - 1)
    assert resolver.resolve(REGIONAL, "A", t) == (OK, 2)


def test_an_answer_resets_the_consecutive_failures():
    auth = authoritative(backend())
    resolver = Resolver(auth)
    t = down_for(resolver, auth, SERVER_DOWN_MAX_FAILS - 1)
    assert resolver.resolve(STREAMS, "A", t) == (OK, 1)
    t = down_for(resolver, auth, 2, t0=t + TTL + 1)      # REGIONAL not cached: asks
    assert resolver.resolve(IPV6, "AAAA", t) == (OK, 1)


def test_serve_stale_serves_an_expired_record_after_the_refresh_wait():
    auth = authoritative(backend())
    stale, plain = Resolver(auth, serve_stale_extensions=1), Resolver(auth)
    for r in (stale, plain):
        assert r.resolve(REGIONAL, "A", 0.0) == (OK, 2)
    auth.paused = True
    expired = TTL + 1.0
    for r in (stale, plain):                     # the refresh waits for the frozen server
        assert r.resolve(REGIONAL, "A", expired) == (TIMEOUT, 0)
        assert r.resolve(REGIONAL, "A", expired + UPSTREAM_TIMEOUT_S - 0.1) == (TIMEOUT, 0)
    later = expired + UPSTREAM_TIMEOUT_S + 0.1
    assert stale.resolve(REGIONAL, "A", later) == (OK, 2)
    assert plain.resolve(REGIONAL, "A", later) == (TIMEOUT, 0)
    # Kept 30 s more, once (one extension): then it is gone.
    end = expired + UPSTREAM_TIMEOUT_S + STALE_EXTENSION_S
    assert stale.resolve(REGIONAL, "A", end - 0.1) == (OK, 2)
    assert stale.resolve(REGIONAL, "A", end + 0.1) == (TIMEOUT, 0)


def test_serve_stale_does_not_keep_a_negative_answer():
    dns = backend()
    auth = authoritative(dns)
    resolver = Resolver(auth, serve_stale_extensions=5)
    dns.delete_generation(1)
    assert resolver.resolve(REGIONAL, "A", 0.0) == (NXDOMAIN, 0)
    auth.paused = True
    assert resolver.resolve(REGIONAL, "A", NEG + 1) == (TIMEOUT, 0)
    assert resolver.resolve(REGIONAL, "A", NEG + 1 + UPSTREAM_TIMEOUT_S + 0.1) == (TIMEOUT, 0)


@pytest.mark.parametrize("name", ["dynamodb-race", "enactor-paused-past-cleanup-horizon",
                                  "enactor-killed-mid-plan", "planner-burst"])
@pytest.mark.parametrize("mitigations", [None, ("fencing",), ("self-repair",)])
def test_repeating_quiet_passes_changes_nothing(name, mitigations, monkeypatch):
    """An idle enactor's polls are not run while nothing was written (lab/sim/world.py):
    the run is the one in which every poll runs, event for event, time for time."""
    from lab.sim.run import control_plane
    from lab.sim.world import SimWorld
    s = load(ROOT / "experiments" / f"{name}.yaml")
    if mitigations is not None:
        s = dataclasses.replace(s, mitigations=mitigations)
    from lab.core.enactor import Enactor
    passes = [0]
    run_once = Enactor.run_once

    def counted(self):
        passes[0] += 1
        return run_once(self)
    monkeypatch.setattr(Enactor, "run_once", counted)
    runs, ran = [], []
    for repeat in (False, True):
        monkeypatch.setattr(SimWorld, "repeat_quiet_passes", repeat)
        passes[0] = 0
        result, events = control_plane(s)
        assert result.status is None, result.reason      # ran to its end
        runs.append([(e.t, e.source, e.kind, e.data) for e in events])
        ran.append(passes[0])
    assert len(runs[0]) > 100
    assert runs[0] == runs[1]
    if mitigations == ("fencing",):      # a pass with a plan takes a token first: a write
        assert ran[1] > 0.95 * ran[0], ran
    else:                                 # most polls were not run, and nothing changed
        assert ran[1] < ran[0] / 2, ran
