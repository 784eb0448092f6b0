"""The enactor core in a deterministic simulation: the happy path, lock losses, and the
incident's race, with the checkers judging the history."""

import random

from lab.core.checkers import automation_stuck, check_all
from lab.core.enactor import STEP_AFTER_CHECK, Enactor, EnactorSettings, Pass, repair
from lab.core.history import History, Kind
from lab.core.memory import MemoryDns, MemoryPlanStore
from lab.core.plan import DEFAULT_ENDPOINTS
from lab.core.planner import Planner
from tests.clock import VirtualClock

REGIONAL = "dynamodb.us-east-1"


def world(seed=7, keep=3):
    clock = VirtualClock()
    history = History(clock)
    store, dns = MemoryPlanStore(), MemoryDns()
    planner = Planner(store, history, random.Random(seed))
    settings = EnactorSettings(keep_generations=keep, max_attempts=5)
    return clock, history, store, dns, planner, settings


class StallAfterCheck:
    """Faults: while A sleeps after its freshness check, the planner and B move far ahead."""

    def __init__(self, planner, b, rounds=8):
        self.planner, self.b, self.rounds = planner, b, rounds

    def delay(self, enactor, step, endpoint=None):
        if enactor == "enactor-a" and step == STEP_AFTER_CHECK:
            for _ in range(self.rounds):
                self.planner.publish()
                self.b.run_once()
            return 8.0
        return 0.0

    def lose_lock(self, *a):
        return False


def verdicts(history):
    return {v.name: v.held for v in check_all(history.events())}


def test_planner_is_seeded_and_keeps_every_tree_served():
    plans = []
    for _ in range(2):
        _, _, store, _, planner, _ = world(seed=42)
        plans.append([planner.publish() for _ in range(200)])
    assert plans[0] == plans[1]
    assert [p.generation for p in plans[0]] == list(range(1, 201))
    for p in plans[0]:
        assert len(p.trees["streams"]) >= 2
        assert any(":" in t.address for t in p.trees["regional"])
        assert all(t.address.startswith(("198.51.100.", "203.0.113.", "2001:db8:"))
                   for ts in p.trees.values() for t in ts)


def test_happy_path_applies_everywhere_and_cleans_up_old_plans():
    clock, history, store, dns, planner, settings = world(keep=3)
    enactors = [Enactor(n, store, dns, history, sleep=clock.sleep, settings=settings)
                for n in ("enactor-a", "enactor-b", "enactor-c")]
    for _ in range(20):
        planner.publish()
        for e in enactors:
            e.run_once()
            clock.sleep(0.1)
    newest = store.newest().generation
    assert {dns.applied(ep) for ep in store.newest().endpoints} == {newest}
    assert store.generations() == list(range(newest - 3, newest + 1))
    assert all(dns.addresses(ep) for ep in store.newest().endpoints)
    assert all(verdicts(history).values())
    assert not automation_stuck(history.events())


def test_lost_lock_is_retried_with_backoff():
    clock, history, store, dns, planner, settings = world()

    class LoseTwice:
        lost = 0

        def delay(self, *a, **k):
            return 0.0

        def lose_lock(self, enactor, endpoint):
            self.lost += 1
            return self.lost <= 2

    planner.publish()
    e = Enactor("enactor-a", store, dns, history, sleep=clock.sleep, settings=settings,
                faults=LoseTwice())
    assert e.run_once() is Pass.APPLIED
    assert len(history.events(Kind.LOCK_LOST)) == 2
    assert clock.now > 0  # it backed off


def test_delayed_enactor_races_clean_up_into_an_empty_stuck_endpoint():
    clock, history, store, dns, planner, settings = world(keep=3)
    b = Enactor("enactor-b", store, dns, history, sleep=clock.sleep, settings=settings)
    c = Enactor("enactor-c", store, dns, history, sleep=clock.sleep, settings=settings)

    a = Enactor("enactor-a", store, dns, history, sleep=clock.sleep, settings=settings,
                faults=StallAfterCheck(planner, b))
    planner.publish()
    stale = store.newest().generation
    assert a.run_once() is Pass.APPLIED          # A applied its stale plan everywhere
    assert dns.applied(REGIONAL) == stale and dns.addresses(REGIONAL)
    # B's clean-up for its newest plan runs at about the same time and deletes A's plan,
    # many generations older - and now the active plan of every endpoint.
    assert stale in b.clean_up(store.newest().generation)
    assert dns.addresses(REGIONAL) == set()
    v = verdicts(history)
    assert v == {"never-delete-active-plan": False, "applied-generation-monotonic": False,
                 "endpoint-never-empty": False}
    # Every enactor is stuck from now on: automation cannot repair it.
    for _ in range(3):
        planner.publish()
        assert {b.run_once(), c.run_once()} == {Pass.STUCK}
    assert dns.addresses(REGIONAL) == set()
    assert automation_stuck(history.events())
    # The operator repairs; automation works again.
    repaired = repair(store, dns, history)
    assert dns.applied(REGIONAL) == repaired and dns.addresses(REGIONAL)
    planner.publish()
    assert b.run_once() is Pass.APPLIED


def test_a_crashing_checker_is_unknown_not_a_pass():
    bad = [History(lambda: 0.0).append("x", Kind.ENDPOINT_APPLIED)]  # no endpoint field
    held = {v.name: v.held for v in check_all(bad)}
    assert held["never-delete-active-plan"] is None


def test_no_endpoint_is_below_another():
    """CoreDNS's etcd plugin answers a name with the records of every name below it, so an
    endpoint nested under another would answer with both address sets."""
    names = [f"{e}.lab.test" for e in DEFAULT_ENDPOINTS]
    assert not [(a, b) for a in names for b in names if a != b and a.endswith("." + b)]


def test_an_idle_enactor_records_a_quiet_check_once_and_every_fresh_one():
    """A poll that finds nothing newer records what it saw once; the same again records
    nothing, a change (a newer plan applied by another) records again, a fresh check always."""
    clock, history, store, dns, planner, settings = world()
    a = Enactor("enactor-a", store, dns, history, sleep=clock.sleep, settings=settings)
    b = Enactor("enactor-b", store, dns, history, sleep=clock.sleep, settings=settings)
    planner.publish()
    assert a.run_once() is Pass.APPLIED
    for _ in range(5):
        assert b.run_once() is Pass.NOT_NEWER
    planner.publish()
    assert a.run_once() is Pass.APPLIED
    for _ in range(3):
        assert b.run_once() is Pass.NOT_NEWER
    checks = [(e.source, e.data["generation"], e.data["applied"], e.data["fresh"])
              for e in history.events() if e.kind is Kind.FRESHNESS_CHECKED]
    assert checks == [("enactor-a", 1, None, True), ("enactor-b", 1, 1, False),
                      ("enactor-a", 2, 1, True), ("enactor-b", 2, 2, False)]
