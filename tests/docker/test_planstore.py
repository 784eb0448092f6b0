"""The etcd plan store against the real etcd in the lab stack."""

import random
import time

import pytest

from lab.core.enactor import Enactor, EnactorSettings, Pass
from lab.core.history import History
from lab.core.memory import MemoryDns
from lab.core.plan import Plan, Target
from lab.core.planner import Planner
from lab.core.ports import TransientError
from lab.errors import BackendError
from lab.etcd import EtcdCredentials, EtcdGateway
from lab.planstore.etcd import EtcdPlanStore


@pytest.fixture()
def store(lab):
    s = EtcdPlanStore(lab.address("plan-store"))
    for g in s.generations():
        s.delete(g)
    yield s
    for g in s.generations():
        s.delete(g)


def plan(g):
    return Plan(g, {"regional": (Target("198.51.100.1", 50), Target("2001:db8::1", 50))},
                {"dynamodb.us-east-1": "regional"})


def test_plans_round_trip_and_publish_is_compare_and_swap(store):
    assert store.newest() is None
    for g in (1, 2, 10):
        store.put(plan(g))
    assert store.generations() == [1, 2, 10]
    assert store.newest() == plan(10)
    assert store.get(2) == plan(2)
    with pytest.raises(BackendError, match="already published"):
        store.put(plan(10))
    store.delete(2)
    assert store.get(2) is None and store.generations() == [1, 10]


def test_locks_exclude_other_holders_and_expire(store):
    lock = f"endpoint/test-{random.randrange(1 << 30)}"
    assert store.acquire(lock, "enactor-a", 5)
    assert store.acquire(lock, "enactor-a", 5)        # re-entrant for its holder
    assert not store.acquire(lock, "enactor-b", 5)
    store.release(lock, "enactor-b")                   # not the holder: no effect
    assert not store.acquire(lock, "enactor-b", 5)
    store.release(lock, "enactor-a")
    assert store.acquire(lock, "enactor-b", 1)
    deadline = time.monotonic() + 10
    while not store.acquire(lock, "enactor-c", 1):     # b "crashed": its lease runs out
        assert time.monotonic() < deadline, "lock lease never expired"
        time.sleep(0.25)


def test_enactor_core_publishes_and_cleans_up_through_etcd(store):
    history = History(time.monotonic)
    planner = Planner(store, history, random.Random(3))
    dns = MemoryDns()
    enactor = Enactor("enactor-a", store, dns, history, sleep=time.sleep,
                      settings=EnactorSettings(keep_generations=2))
    for _ in range(6):
        planner.publish()
        assert enactor.run_once() is Pass.APPLIED
    assert store.generations() == [4, 5, 6]
    assert dns.generations() == {4, 5, 6}


def test_an_expired_token_is_renewed_once(store):
    """etcd's simple tokens expire (5 min) or die with a restarted etcd: the gateway
    authenticates again, once, and repeats the call."""
    store.put(plan(1))
    store.etcd._token = "expired.1"
    assert store.generations() == [1]
    assert store.etcd._token not in (None, "expired.1")


def test_without_tls_or_a_token_the_plan_store_refuses(lab):
    with pytest.raises((BackendError, TransientError)):
        EtcdGateway(lab.address("plan-store"), tls=False).range_prefix("/dnslab/")
    with pytest.raises(BackendError, match="refused user lab"):
        EtcdPlanStore(lab.address("plan-store"), credentials=EtcdCredentials(
            "lab", "not-the-password", *_lab_files(lab))).generations()


def _lab_files(lab):
    c = EtcdPlanStore(lab.address("plan-store")).etcd
    c.range_prefix("/dnslab/")
    return c.credentials.ca, c.credentials.cert, c.credentials.key
