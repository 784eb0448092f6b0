"""Least privilege on the real lab: each container holds exactly the secrets its role uses,
none world-readable; both etcds refuse plain http, a client without the lab's certificate,
a request without a user's token, a wrong password, and a user outside its role."""

import json
import uuid

import pytest
import requests

from lab import config
from lab.errors import BackendError
from lab.etcd import EtcdCredentials, EtcdGateway
from lab.keygen import fetch
from lab.run import RESOLVER_IMAGE
from lab.runtime import Workers
from lab.workerspec import ClientsSpec, EnactorSpec, PlannerSpec, to_json

# Compose services and what each holds under /run/secrets (None: nothing at all).
SERVICES = {
    "pdns-auth": "pdns-auth", "recursor": "recursor", "recursor-coredns": "recursor",
    "plan-store": "plan-store", "zone-store": "zone-store", "coredns": "coredns",
    "prober": None, "pager": None, "alertmanager": None, "prometheus": None,
    "docker-proxy": None,
}
LISTING = ["sh", "-c", "find /run/secrets -type f -printf '%m %u %P\\n' 2>/dev/null; true"]


def listing(container) -> dict[str, tuple[str, str]]:
    out = container.exec_run(LISTING).output.decode().split("\n")
    return {path: (mode, user) for mode, user, path in (line.split(" ", 2) for line in out if line)}


def expected(consumer: str | None) -> set[str]:
    return set(config.SECRETS[consumer]) if consumer else set()


def check(name: str, found: dict, consumer: str | None) -> None:
    assert set(found) == expected(consumer), f"{name} holds {sorted(found)}"
    for path, (mode, user) in found.items():
        assert int(mode, 8) & 0o077 == 0, f"{name}: {path} has mode {mode}"
        assert user == "root", f"{name}: {path} is owned by {user}"


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_each_service_holds_exactly_its_secrets(lab, service):
    check(service, listing(lab.container(service)), SERVICES[service])


def test_each_worker_role_holds_exactly_its_secrets(lab):
    """Workers as a run creates them (lab/runtime.py), sleeping instead of working."""
    prefix = lab.address("plan-store").rsplit(".", 1)[0]
    workers = Workers(lab.client, run_id=f"lp-{uuid.uuid4().hex[:6]}", net_prefix=prefix)
    sleep = ["sh", "-c", "sleep 120", "-"]
    roles = {
        "planner": (["worker", "--spec", to_json(PlannerSpec(store="x"))], "planner"),
        "enactor": (["worker", "--spec", to_json(EnactorSpec(name="e", store="x"))], "enactor"),
        "clients": (["worker", "--spec", to_json(ClientsSpec(0, 1, "x", "y"))], None),
    }
    try:
        for host, (role, (command, _)) in enumerate(roles.items(), start=71):
            workers.start(f"lp-{role}", command, host, {}, entrypoint=sleep)
        workers.start("lp-resolver", None, 74, {"LAB_AUTH_ADDRESS": lab.address("pdns-auth")},
                      image=RESOLVER_IMAGE)
        for role, (_, consumer) in roles.items():
            check(role, listing(workers.get(f"lp-{role}")), consumer)
        check("resolver", listing(workers.get("lp-resolver")), "recursor")
    finally:
        workers.remove_all()


def test_the_recursor_has_its_own_key_in_a_private_config(lab):
    pdns_key = lab.secret("pdns-api-key")
    for service in ("recursor", "recursor-coredns"):
        c = lab.container(service)
        mode = c.exec_run(["stat", "-c", "%a %U", "/etc/powerdns/recursor.conf"]).output.decode()
        assert mode.split() == ["600", "root"], service
        conf = c.exec_run(["cat", "/etc/powerdns/recursor.conf"]).output.decode()
        key = c.exec_run(["cat", "/run/secrets/recursor-api-key"]).output.decode().strip()
        assert f"api-key={key}\n" in conf and pdns_key not in conf, service


# -- the etcds refuse anyone else -----------------------------------------------------------
PROBE = r"""
import json, sys, requests
url = sys.argv[1]
out = {}
try:
    r = requests.post(url.replace("https", "http") + "/kv/range", json={"key": "Lw=="}, timeout=3)
    out["http"] = [r.status_code, r.text[:120]]
except requests.RequestException as e:
    out["http"] = ["error", type(e).__name__]
try:
    r = requests.post(url + "/kv/range", json={"key": "Lw=="}, timeout=3, verify=False)
    out["no-cert"] = [r.status_code, r.text[:120]]
except requests.RequestException as e:
    out["no-cert"] = ["error", type(e).__name__]
print(json.dumps(out))
"""


@pytest.mark.parametrize("store", sorted(config.ETCD_STORES))
def test_another_lab_container_gets_nothing_without_credentials(lab, store):
    """From the prober (a lab container holding no secret): plain http is answered with an
    error, https without the lab's client certificate fails its handshake."""
    url = f"https://{lab.address(store)}:2379/v3"
    r = lab.container("prober").exec_run(["python3", "-W", "ignore", "-c", PROBE, url],
                                         stderr=False)
    found = json.loads(r.output.decode().strip().split("\n")[-1])
    assert found["http"][0] in (400, "error") and "kvs" not in found["http"][1], found
    assert found["no-cert"][0] == "error", found


def creds(consumer: str, store: str, user: str) -> EtcdCredentials:
    return EtcdCredentials.load(fetch(consumer), store, user)


@pytest.mark.parametrize("store", sorted(config.ETCD_STORES))
def test_a_client_certificate_without_a_token_is_refused(lab, store):
    c = creds("runner", store, config.ETCD_CLIENT_USER[store])
    r = requests.post(f"https://{lab.address(store)}:2379/v3/kv/range", json={"key": "Lw=="},
                      verify=c.ca, cert=(c.cert, c.key), timeout=3)
    assert r.status_code >= 400 and "kvs" not in r.text, r.text


def test_a_wrong_password_is_refused(lab):
    c = creds("runner", "plan-store", "lab")
    wrong = EtcdCredentials(c.user, c.password + "x", c.ca, c.cert, c.key)
    with pytest.raises(BackendError, match="refused user lab"):
        EtcdGateway(lab.address("plan-store"), credentials=wrong).range_prefix("/dnslab/")


def test_each_user_only_within_its_role(lab):
    plan, zone = lab.address("plan-store"), lab.address("zone-store")
    lab_user = EtcdGateway(plan, credentials=creds("runner", "plan-store", "lab"))
    lab_user.range_prefix("/dnslab/")
    with pytest.raises(BackendError, match="permission denied"):
        lab_user.range_prefix("/elsewhere/")
    # CoreDNS speaks gRPC (its certificate names its user, which etcd's JSON gateway refuses):
    # etcdctl in zone-store as coredns, with coredns's password.
    etcdctl = ("ETCDCTL_API=3 etcdctl --endpoints=https://127.0.0.1:2379 "
               "--cacert=/run/secrets/etcd/ca.crt --cert=/run/secrets/etcd/zone-store/root.crt "
               "--key=/run/secrets/etcd/zone-store/root.key "
               '--user "coredns:$(cat /run/secrets/etcd/zone-store/coredns.password)" "$@" 2>&1')
    zs = lab.container("zone-store")
    read = zs.exec_run(["sh", "-c", etcdctl, "-", "get", "/skydns/", "--prefix", "--keys-only"])
    assert read.exit_code == 0, read.output
    write = zs.exec_run(["sh", "-c", etcdctl, "-", "put", "/skydns/lp-test", "x"])
    assert write.exit_code != 0 and b"permission denied" in write.output, write.output
    # The zone store's writer is no one on the plan store, and the reverse.
    with pytest.raises(BackendError, match="refused user"):
        EtcdGateway(plan, credentials=creds("runner", "zone-store", "enactor")).range_prefix("/")
    with pytest.raises(BackendError, match="refused user"):
        EtcdGateway(zone, credentials=creds("runner", "plan-store", "lab")).range_prefix("/")


def test_coredns_keeps_reading_the_zone_across_a_zone_store_restart(lab):
    """CoreDNS is user coredns by its certificate's CN, with no token to lose: after
    zone-store restarts (a fresh etcd: every token it gave is gone, and so is its data), a
    record written afterwards is what CoreDNS answers. With a password, CoreDNS's etcd
    client kept its dead token and every query failed from then on."""
    import dns.exception
    import dns.message
    import dns.query
    from tests.docker.helpers import wait_for

    zone = lab.address("zone-store")
    writer = EtcdGateway(zone, credentials=creds("runner", "zone-store", "enactor"))
    lab.container("zone-store").restart(timeout=10)
    wait_for(lambda: lab.container("zone-store").attrs["State"]["Health"]["Status"]
             == "healthy", timeout_s=90, what="zone-store healthy again")
    name = f"lp-{uuid.uuid4().hex[:8]}"
    key = f"/skydns/test/lab/{name}/x0000"
    writer.call("/kv/put", {"key": _b64(key), "value": _b64(json.dumps(
        {"host": "198.51.100.77", "ttl": 5}))})
    try:
        query = dns.message.make_query(f"{name}.lab.test", "A")
        seen = []

        def answers():       # CoreDNS's etcd client reconnects with a backoff: wait for it
            try:
                answer = dns.query.udp(query, lab.address("coredns"), timeout=3)
            except dns.exception.Timeout:
                seen.append("timeout")
                return None
            seen.append(answer.rcode())
            return answer if answer.rcode() == 0 else None
        try:
            answer = wait_for(answers, timeout_s=45, interval_s=1,
                              what="CoreDNS answering from the restarted zone-store")
        except AssertionError as e:
            raise AssertionError(f"{e}; answers seen: {seen[-5:]}") from None
        assert [r.address for rr in answer.answer for r in rr] == ["198.51.100.77"], answer
    finally:
        writer.delete_prefix(f"/skydns/test/lab/{name}/")


def _b64(s: str) -> str:
    import base64
    return base64.b64encode(s.encode()).decode()
