import stat
import subprocess

import pytest

from lab import config
from lab.keygen import MASTER, generate, store_addresses

ADDRESSES = {"plan-store": "172.30.53.12", "zone-store": "172.30.53.14"}


def files(directory):
    return {p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file()}


def openssl(*args):
    return subprocess.run(["openssl", *args], capture_output=True, text=True, check=True).stdout


def test_each_consumer_gets_exactly_its_files_private_and_kept(tmp_path):
    created = generate(tmp_path, ADDRESSES)
    assert {"pdns-api-key", "recursor-api-key", "grafana-admin-password", "etcd/ca.crt"} <= set(created)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([MASTER, *config.SECRETS])
    first = {}
    for consumer, wanted in config.SECRETS.items():
        assert files(tmp_path / consumer) == set(wanted), consumer
        for path in (tmp_path / consumer).rglob("*"):
            mode = stat.S_IMODE(path.stat().st_mode)
            assert mode == (0o700 if path.is_dir() else 0o400), f"{path}: {oct(mode)}"
            if path.is_file():
                assert path.read_bytes() == (tmp_path / MASTER / path.relative_to(
                    tmp_path / consumer)).read_bytes()
                first[path] = path.read_bytes()
    for token in ("pdns-api-key", "recursor-api-key", "grafana-admin-password",
                  "etcd/plan-store/lab.password"):
        assert len((tmp_path / MASTER / token).read_text()) >= 32
    assert generate(tmp_path, ADDRESSES) == []
    assert {p: p.read_bytes() for p in first} == first


def test_least_privilege_of_the_layout():
    everything = {f for fs in config.SECRETS.values() for f in fs}
    assert not [f for f in everything if f.endswith("ca.key")], "the CA key stays with keygen"
    for consumer, fs in config.SECRETS.items():
        roots = {f for f in fs if "/root." in f}
        assert not roots or consumer in config.ETCD_STORES, f"{consumer} holds etcd root"
        assert "etcd/zone-store/coredns.key" not in fs or consumer == "coredns"
    assert not any("zone-store" in f for f in config.SECRETS["planner"])
    assert "pdns-api-key" not in config.SECRETS["recursor"]
    assert config.WORKER_SECRETS.get("clients") is None


def test_a_stray_file_in_a_consumers_part_is_removed(tmp_path):
    generate(tmp_path, ADDRESSES)
    (tmp_path / "planner" / "pdns-api-key").write_text("left from an older layout")
    (tmp_path / "planner" / "etcd" / "zone-store").mkdir()
    generate(tmp_path, ADDRESSES)
    assert files(tmp_path / "planner") == set(config.SECRETS["planner"])
    assert not (tmp_path / "planner" / "etcd" / "zone-store").exists()


def test_certificates_chain_to_the_labs_ca_with_the_servers_names(tmp_path):
    generate(tmp_path, {"plan-store": "10.9.8.12", "zone-store": "10.9.8.14"})
    etcd = tmp_path / MASTER / "etcd"
    ca = str(etcd / "ca.crt")
    for store, address in (("plan-store", "10.9.8.12"), ("zone-store", "10.9.8.14")):
        server = str(etcd / store / "server.crt")
        openssl("verify", "-CAfile", ca, "-purpose", "sslserver", server)
        text = openssl("x509", "-in", server, "-noout", "-text")
        assert f"DNS:{store}" in text and f"IP Address:{address}" in text
        assert "IP Address:127.0.0.1" in text
        subject = openssl("x509", "-in", server, "-noout", "-subject")
        # etcd takes a client certificate's CN as the user of a request without a token, and
        # its JSON gateway dials etcd with the server certificate: no user may be its CN.
        for user in ("root", *config.ETCD_USERS[store]):
            assert f"CN = {user}\n" not in subject
        for user in ("root", *config.ETCD_USERS[store]):
            client = str(etcd / store / f"{user}.crt")
            openssl("verify", "-CAfile", ca, "-purpose", "sslclient", client)
            subject = openssl("x509", "-in", client, "-noout", "-subject").strip()
            if user == config.ETCD_CLIENT_USER[store]:
                # Through etcd's JSON gateway, which refuses a client certificate with a CN.
                assert "CN" not in subject and subject.endswith(f"OU = {user}")
            else:
                assert subject.endswith(f"CN = {user}")
            with pytest.raises(subprocess.CalledProcessError):
                openssl("verify", "-CAfile", ca, "-purpose", "sslserver", client)
    users = (etcd / "zone-store" / "users").read_text().split("\n")
    assert "coredns read /skydns/" in users and "enactor readwrite /skydns/" in users


def test_two_labs_get_different_secrets(tmp_path):
    generate(tmp_path / "a", ADDRESSES)
    generate(tmp_path / "b", ADDRESSES)
    for name in ("pdns-api-key", "etcd/ca.crt", "etcd/plan-store/lab.password",
                 "etcd/zone-store/coredns.key"):
        assert ((tmp_path / "a" / MASTER / name).read_text()
                != (tmp_path / "b" / MASTER / name).read_text())


def test_store_addresses_follow_compose(monkeypatch):
    monkeypatch.delenv("LAB_PLAN_STORE_ADDRESS", raising=False)
    monkeypatch.delenv("LAB_ZONE_STORE_ADDRESS", raising=False)
    monkeypatch.setenv("DNSLAB_NET_PREFIX", "10.1.2")
    assert store_addresses() == {"plan-store": "10.1.2.12", "zone-store": "10.1.2.14"}
    monkeypatch.setenv("LAB_ZONE_STORE_ADDRESS", "10.7.7.7")
    assert store_addresses()["zone-store"] == "10.7.7.7"
