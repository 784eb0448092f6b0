"""The etcd gateway's credentials and tokens (lab/etcd.py), on a fake HTTP session."""

import pytest

from lab.errors import BackendError, LabError, SecretMissing
from lab.etcd import EtcdCredentials, EtcdGateway, lab_credentials, store_of
from lab.keygen import generate

CREDS = EtcdCredentials("lab", "s3cret", "/ca.crt", "/lab.crt", "/lab.key")


class Resp:
    def __init__(self, status, body=None, text=""):
        self.status_code, self._body, self.text = status, body or {}, text or str(body)

    def json(self):
        return self._body


class FakeEtcd:
    """Answers like etcd's gateway: tokens from authenticate, 401 once a token is revoked."""

    def __init__(self, password="s3cret"):
        self.password, self.valid, self.issued, self.calls = password, set(), 0, []
        self.tls = None

    def post(self, url, json, timeout, headers=None, **tls):
        path = url.split("/v3", 1)[1]
        self.tls = tls
        self.calls.append((path, (headers or {}).get("Authorization")))
        if path == "/auth/authenticate":
            if json != {"name": "lab", "password": self.password}:
                return Resp(400, text='{"error":"etcdserver: authentication failed, invalid '
                                      'user ID or password","code":3}')
            self.issued += 1
            token = f"tok{self.issued}"
            self.valid.add(token)
            return Resp(200, {"token": token})
        token = (headers or {}).get("Authorization")
        if token is None:
            return Resp(403, text='{"error":"etcdserver: user name is empty"}')
        if token not in self.valid:
            return Resp(401, text='{"error":"etcdserver: invalid auth token","code":16}')
        return Resp(200, {"ok": path})


def test_a_call_authenticates_once_with_the_client_certificate():
    http = FakeEtcd()
    etcd = EtcdGateway("172.30.53.12", session=http, credentials=CREDS)
    assert etcd.url == "https://172.30.53.12:2379/v3"
    assert etcd.call("/kv/range", {}) == {"ok": "/kv/range"}
    etcd.call("/kv/put", {})
    assert http.tls == {"verify": "/ca.crt", "cert": ("/lab.crt", "/lab.key")}
    assert [p for p, _ in http.calls] == ["/auth/authenticate", "/kv/range", "/kv/put"]


def test_an_expired_token_is_renewed_once_and_the_call_repeated():
    http = FakeEtcd()
    etcd = EtcdGateway("172.30.53.12", session=http, credentials=CREDS)
    etcd.call("/kv/range", {})
    http.valid.clear()                        # simple tokens expire after 5 minutes
    assert etcd.call("/kv/txn", {}) == {"ok": "/kv/txn"}
    assert http.calls[-3:] == [("/kv/txn", "tok1"), ("/auth/authenticate", None),
                               ("/kv/txn", "tok2")]


def test_a_wrong_password_is_refused_naming_the_user():
    etcd = EtcdGateway("172.30.53.12", session=FakeEtcd(password="other"), credentials=CREDS)
    with pytest.raises(BackendError, match="refused user lab"):
        etcd.call("/kv/range", {})


def test_plain_http_sends_no_token():
    http = FakeEtcd()
    etcd = EtcdGateway("172.30.53.12", session=http, tls=False)
    assert etcd.url.startswith("http://")
    with pytest.raises(BackendError, match="user name is empty"):
        etcd.call("/kv/range", {})
    assert http.calls == [("/kv/range", None)]


def test_which_store_an_address_is(monkeypatch):
    monkeypatch.delenv("LAB_PLAN_STORE_ADDRESS", raising=False)
    monkeypatch.setenv("LAB_ZONE_STORE_ADDRESS", "10.0.0.99")
    assert store_of("172.30.53.12") == "plan-store"
    assert store_of("10.1.2.14") == "zone-store"
    assert store_of("10.0.0.99") == "zone-store"
    assert store_of("plan-store") == "plan-store"
    with pytest.raises(LabError, match="not one of the lab's etcds"):
        store_of("198.51.100.1")


def test_lab_credentials_come_from_the_consumers_secrets(tmp_path, monkeypatch):
    generate(tmp_path, {"plan-store": "172.30.53.12", "zone-store": "172.30.53.14"})
    monkeypatch.setenv("DNSLAB_SECRETS_DIR", str(tmp_path / "planner"))
    c = lab_credentials("172.30.53.12")
    assert c.user == "lab" and c.cert.endswith("etcd/plan-store/lab.crt")
    assert c.password == (tmp_path / "keygen/etcd/plan-store/lab.password").read_text()
    assert "s3cret" not in repr(CREDS)
    with pytest.raises(SecretMissing, match="no zone-store credentials for etcd user enactor"):
        lab_credentials("172.30.53.14")         # the planner is given none
    monkeypatch.setenv("DNSLAB_SECRETS_DIR", str(tmp_path / "enactor"))
    assert lab_credentials("172.30.53.14").user == "enactor"
