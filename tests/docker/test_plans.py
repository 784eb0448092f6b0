"""Plans on both real backends (PowerDNS through its API, CoreDNS through its etcd zone
store): layout, emptied answers, and the race's core interleaving with the real plan store
(etcd) and the real authoritative server."""

import random
import time

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from lab import config
from lab.backends import SERVICES, plans_backend
from lab.backends.coredns_plans import CoreDNSPlans
from lab.etcd import EtcdGateway
from lab.core.checkers import automation_stuck, check_all
from lab.core.enactor import STEP_AFTER_CHECK, Enactor, EnactorSettings, Pass, repair
from lab.core.history import History
from lab.core.plan import DEFAULT_ENDPOINTS, Plan, Target
from lab.core.planner import Planner
from lab.planstore.etcd import EtcdPlanStore


def query(server, name, rdtype="A"):
    return dns.query.udp(dns.message.make_query(name, rdtype), server, timeout=2)


def ask(server, name, rdtype="A"):
    r = query(server, name, rdtype)
    addrs = {rd.to_text() for rrset in r.answer if rrset.rdtype in (1, 28) for rd in rrset}
    return dns.rcode.to_text(r.rcode()), addrs


@pytest.fixture(params=["powerdns", "coredns"])
def world(lab, request):
    kind = request.param
    store = EtcdPlanStore(lab.address("plan-store"))
    where = {"pdns_address": lab.address("pdns-auth"), "pdns_api_key": lab.secret("pdns-api-key"),
             "zone_store_address": lab.address("zone-store")}

    def make(empty_answer, alias="flattened"):
        return store, plans_backend(kind, config.ZONE, empty_answer=empty_answer, alias=alias,
                                    ttl=5, **where)

    reset(make, store)
    yield make, lab.address(SERVICES[kind].server), kind
    reset(make, store)


def reset(make, store):
    """No plans, no endpoints: each test starts from an empty lab zone and plan store."""
    make("nxdomain")[1].reset(list(DEFAULT_ENDPOINTS) + ENDPOINTS)
    for g in store.generations():
        store.delete(g)


ENDPOINTS = [f"ep-{e}-{a}" for e in ("nxdomain", "nodata") for a in ("flattened", "cname")]


@pytest.mark.parametrize("alias", ["flattened", "cname"])
@pytest.mark.parametrize("empty_answer,rcode", [("nxdomain", "NXDOMAIN"), ("nodata", "NOERROR")])
def test_deleting_the_active_plan_empties_the_endpoint(world, empty_answer, rcode, alias):
    make, auth, kind = world
    _, backend = make(empty_answer, alias)
    endpoint = f"ep-{empty_answer}-{alias}"
    plan = Plan(900, {"regional": (Target("198.51.100.7", 60), Target("2001:db8::7", 40))},
                {endpoint: "regional"})
    backend.apply(endpoint, plan, previous=None)
    fqdn = f"{endpoint}.{config.ZONE}"
    assert ask(auth, fqdn) == ("NOERROR", {"198.51.100.7"})
    assert ask(auth, fqdn, "AAAA") == ("NOERROR", {"2001:db8::7"})
    assert backend.applied(endpoint) == 900 and backend.intact(endpoint)
    assert 900 in backend.generations()
    backend.delete_generation(900)
    if alias == "cname" and kind == "coredns":
        rcode = "NOERROR"
    assert ask(auth, fqdn) == (rcode, set())
    assert not backend.intact(endpoint) and 900 not in backend.generations()
    # Where the negative answer lives decides how long resolvers cache it: a flattened
    # alias empties the endpoint name itself (cached for the SOA negative TTL); on PowerDNS
    # a CNAME stays in the answer (cached for its own TTL) and the tree name is what is
    # negative. CoreDNS's etcd plugin drops a CNAME whose in-zone target has no records:
    # the endpoint answers NOERROR/NODATA with no CNAME, whatever empty_answer asked.
    r = query(auth, fqdn)
    has_cname = any(rrset.rdtype == dns.rdatatype.CNAME for rrset in r.answer)
    assert has_cname is (alias == "cname" and kind == "powerdns")
    assert [rrset.rdtype for rrset in r.authority] == [dns.rdatatype.SOA]


def test_race_interleaving_on_the_real_backend_and_etcd(world):
    make, auth, _ = world
    store, backend = make("nxdomain")
    history = History(time.monotonic)
    planner = Planner(store, history, random.Random(11))
    settings = EnactorSettings(keep_generations=3)
    b = Enactor("enactor-b", store, backend, history, sleep=time.sleep, settings=settings)

    class DelayA:
        """A's first pass stalls after its freshness check while B races six plans ahead."""
        fired = False

        def delay(self, enactor, step, endpoint=None):
            if enactor == "enactor-a" and step == STEP_AFTER_CHECK and not self.fired:
                self.fired = True
                for _ in range(6):
                    planner.publish()
                    outcome = b.run_once()
                    assert outcome is Pass.APPLIED, [e for e in history.events()][-4:]
            return 0.0

        def lose_lock(self, *a):
            return False

    a = Enactor("enactor-a", store, backend, history, sleep=time.sleep, settings=settings,
                faults=DelayA())
    planner.publish()
    stale = store.newest().generation
    assert a.run_once() is Pass.APPLIED
    regional = f"dynamodb.us-east-1.{config.ZONE}"
    assert backend.applied("dynamodb.us-east-1") == stale
    assert ask(auth, regional)[1]
    assert stale in b.clean_up(store.newest().generation)
    assert ask(auth, regional) == ("NXDOMAIN", set())
    planner.publish()
    assert b.run_once() is Pass.STUCK and a.run_once() is Pass.STUCK
    verdicts = {v.name: v.held for v in check_all(history.events())}
    assert verdicts == {"never-delete-active-plan": False,
                        "applied-generation-monotonic": False, "endpoint-never-empty": False}
    assert automation_stuck(history.events())
    repair(store, backend, history)
    assert ask(auth, regional)[0] == "NOERROR" and ask(auth, regional)[1]
    planner.publish()
    assert b.run_once() is Pass.APPLIED


def test_dnslab_repair_points_every_endpoint_at_the_newest_plan(world):
    from tests.docker.helpers import dnslab
    make, auth, kind = world
    store, backend = make("nxdomain")
    planner = Planner(store, History(time.monotonic), random.Random(3))
    for _ in range(3):
        planner.publish()
    newest = store.newest().generation
    assert ask(auth, f"dynamodb.us-east-1.{config.ZONE}")[0] == "NXDOMAIN"   # never applied
    proc = dnslab("repair", "--backend", kind)
    assert proc.returncode == 0, proc.stderr
    assert f"plan {newest}" in proc.stderr
    for endpoint in DEFAULT_ENDPOINTS:
        rdtype = "AAAA" if endpoint.endswith(".api") else "A"
        rcode, addresses = ask(auth, f"{endpoint}.{config.ZONE}", rdtype)
        assert rcode == "NOERROR" and addresses, endpoint
        assert backend.applied(endpoint) == newest


def test_dnslab_repair_without_plans_says_what_to_do(world):
    from tests.docker.helpers import dnslab
    proc = dnslab("repair", "--backend", world[2])
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("dnslab: error: no plan in the plan store")


def test_coredns_cleanup_is_one_compare_and_swap(lab):
    """On CoreDNS the clean-up's read and delete are one guarded transaction: an endpoint
    re-pointed after the read makes the transaction lose; the re-read sees the new pointer
    and the endpoint keeps its addresses."""
    etcd = EtcdGateway(lab.address("zone-store"))
    backend = CoreDNSPlans(etcd, config.ZONE)
    backend.reset(ENDPOINTS)
    coredns = lab.address("coredns")
    old = Plan(700, {"regional": (Target("198.51.100.70", 1),)}, {"ep-cas": "regional"})
    new = Plan(701, {"regional": (Target("198.51.100.71", 1),)}, {"ep-cas": "regional"})
    backend.apply("ep-cas", old, previous=None)
    backend.apply("ep-cas-other", Plan(701, new.trees, {"ep-cas-other": "regional"}), None)
    real_call = etcd.call
    raced = []

    def call(path, body):
        if path == "/kv/txn" and body.get("compare") and not raced:
            raced.append(1)        # between the clean-up's read and its transaction
            backend.apply("ep-cas", new, previous=700)
        return real_call(path, body)

    etcd.call = call
    try:
        backend.delete_generation(700)
    finally:
        etcd.call = real_call
    assert raced and 700 not in backend.generations()
    assert backend.applied("ep-cas") == 701 and backend.intact("ep-cas")
    assert ask(coredns, f"ep-cas.{config.ZONE}") == ("NOERROR", {"198.51.100.71"})
    backend.reset(["ep-cas", "ep-cas-other"])



def test_guarded_writes_on_the_real_backend(world):
    """The safeguards' backend half: a write only if newer, a fencing token, and a clean-up
    that keeps a referenced plan, each refused or kept by the real server's store."""
    from lab.core.ports import WriteRefused
    make, auth, kind = world
    _, backend = make("nxdomain")
    endpoint = "ep-nxdomain-flattened"
    fqdn = f"{endpoint}.{config.ZONE}"
    tree = {"regional": (Target("198.51.100.21", 1), Target("198.51.100.22", 1))}
    newer = Plan(920, tree, {endpoint: "regional"})
    older = Plan(910, {"regional": (Target("198.51.100.23", 1),)}, {endpoint: "regional"})
    backend.apply(endpoint, newer, None, only_if_newer=True, fence=50)
    with pytest.raises(WriteRefused, match="already at plan 920"):
        backend.apply(endpoint, older, 920, only_if_newer=True)
    with pytest.raises(WriteRefused, match="fencing token 49 is stale"):
        backend.apply(endpoint, Plan(930, tree, {endpoint: "regional"}), 920, fence=49)
    assert backend.applied(endpoint) == 920
    assert ask(auth, fqdn) == ("NOERROR", {"198.51.100.21", "198.51.100.22"})
    assert backend.addresses(endpoint) == {"198.51.100.21", "198.51.100.22"}
    assert backend.delete_generation(920, keep_if_referenced=True) is False
    assert 920 in backend.generations() and backend.intact(endpoint)
    backend.apply(endpoint, Plan(930, tree, {endpoint: "regional"}), 920, fence=51)
    assert backend.delete_generation(920, keep_if_referenced=True) is True
    assert 920 not in backend.generations() and backend.applied(endpoint) == 930
