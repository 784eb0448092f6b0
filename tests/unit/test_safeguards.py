"""Each safeguard against the incident's race, in the deterministic simulation: the same
interleaving as tests/unit/test_race_core.py, with one safeguard switched on."""

import pytest

from lab.core.checkers import check_all
from lab.core.enactor import Enactor, EnactorSettings, Pass, Safeguards
from lab.core.history import Kind
from lab.core.interlock import SafetyInterlock
from lab.core.plan import DEFAULT_ENDPOINTS, Plan, Target
from lab.core.ports import WriteRefused
from tests.unit.test_race_core import REGIONAL, StallAfterCheck, world


def race(safeguards=Safeguards(), interlock=False):
    """A stalls after its check while B runs 8 plans ahead; A writes; B cleans up."""
    clock, history, store, mem, planner, settings = world(keep=3)
    dns = SafetyInterlock(mem, DEFAULT_ENDPOINTS) if interlock else mem
    settings = EnactorSettings(keep_generations=3, max_attempts=5, safeguards=safeguards)
    b = Enactor("enactor-b", store, dns, history, sleep=clock.sleep, settings=settings)

    a = Enactor("enactor-a", store, dns, history, sleep=clock.sleep, settings=settings,
                faults=StallAfterCheck(planner, b))
    planner.publish()
    stale = store.newest().generation
    outcome_a = a.run_once()
    b.clean_up(store.newest().generation)
    emptied_after_cleanup = not mem.addresses(REGIONAL)
    planner.publish()
    outcome_b = b.run_once()
    return {"a": outcome_a, "b": outcome_b, "stale": stale, "mem": mem, "store": store,
            "history": history, "emptied": emptied_after_cleanup,
            "verdicts": {v.name: v.held for v in check_all(history.events())}}


def test_without_safeguards_the_race_empties_the_endpoint():
    r = race()
    assert r["emptied"] and r["b"] is Pass.STUCK


def test_freshness_cas_refuses_the_stale_write():
    r = race(Safeguards(freshness_cas=True))
    assert r["a"] is Pass.REFUSED and not r["emptied"]
    refused = r["history"].events(Kind.WRITE_REFUSED)
    assert refused and refused[0].data["generation"] == r["stale"]
    assert all(r["verdicts"].values())


def test_cleanup_skipping_active_plans_keeps_the_stale_plan_until_it_is_replaced():
    r = race(Safeguards(cleanup_skips_active=True))
    assert r["a"] is Pass.APPLIED and not r["emptied"]      # the stale write still happens
    assert r["history"].events(Kind.CLEANUP_SKIPPED)
    assert r["verdicts"]["never-delete-active-plan"] is True
    assert r["verdicts"]["applied-generation-monotonic"] is False   # reported, not hidden
    assert r["b"] is Pass.APPLIED and r["mem"].applied(REGIONAL) == r["store"].newest().generation


def test_fencing_rejects_the_stale_holder():
    r = race(Safeguards(fencing=True))
    assert r["a"] is Pass.REFUSED and not r["emptied"]
    assert "fencing token" in r["history"].events(Kind.WRITE_REFUSED)[0].data["reason"]


def test_interlock_refuses_the_deletion_that_would_empty_an_endpoint():
    r = race(interlock=True)
    assert not r["emptied"]
    assert "interlock" in r["history"].events(Kind.CLEANUP_SKIPPED)[0].data["reason"]


def test_self_repair_reapplies_the_newest_plan_instead_of_getting_stuck():
    r = race(Safeguards(self_repair=True))
    assert r["emptied"]                                      # the outage still starts
    # B's next pass first repairs every endpoint with the newest plan (so it then has
    # nothing newer to apply), instead of stopping at the broken endpoint.
    assert r["b"] is Pass.NOT_NEWER and r["mem"].addresses(REGIONAL)
    assert r["mem"].applied(REGIONAL) == r["store"].newest().generation
    repaired = [e for e in r["history"].events(Kind.ENDPOINT_APPLIED) if e.data.get("self_repair")]
    assert repaired and repaired[0].data["endpoint"] in DEFAULT_ENDPOINTS


def test_interlock_velocity_control():
    _, _, _, mem, _, _ = world()
    dns = SafetyInterlock(mem, ["ep"], max_removed_fraction=0.5)
    four = Plan(1, {"t": tuple(Target(f"198.51.100.{i}", 1) for i in range(4))}, {"ep": "t"})
    dns.apply("ep", four, None)
    one_left = Plan(2, {"t": (Target("198.51.100.0", 1),)}, {"ep": "t"})
    with pytest.raises(WriteRefused, match="75%"):
        dns.apply("ep", one_left, 1)
    with pytest.raises(WriteRefused, match="no addresses"):
        dns.apply("ep", Plan(3, {"t": ()}, {"ep": "t"}), 1)
    half = Plan(4, {"t": tuple(Target(f"198.51.100.{i}", 1) for i in range(2))}, {"ep": "t"})
    dns.apply("ep", half, 1)
    assert mem.addresses("ep") == {"198.51.100.0", "198.51.100.1"}


def test_safeguards_by_name():
    s = Safeguards.named(["fencing", "interlock", "self-repair"])
    assert s == Safeguards(fencing=True, self_repair=True)


def test_interlock_refuses_an_empty_plan_without_reading_the_endpoint():
    """A read is a request (and, in the simulation, a seeded while): none is spent on a
    write the interlock refuses whatever the endpoint holds."""
    _, _, _, mem, _, _ = world()
    reads = []

    class Counting:
        def __getattr__(self, name):
            if name == "addresses":
                reads.append(name)
            return getattr(mem, name)

    with pytest.raises(WriteRefused, match="no addresses"):
        SafetyInterlock(Counting(), ["ep"]).apply("ep", Plan(3, {"t": ()}, {"ep": "t"}), None)
    assert reads == []
