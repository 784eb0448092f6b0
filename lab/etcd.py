"""A tiny client for etcd's v3 JSON gateway (no gRPC dependency), shared by the plan store,
the fault channel and the CoreDNS backend; https with a client certificate and a user's
token (etcd refuses anything else). Library exceptions become TransientError (worth retrying) or
BackendError (a request etcd refused) here, at the adapter edge."""

import base64
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import requests

from lab import config
from lab.core.ports import TransientError
from lab.errors import BackendError, LabError, SecretMissing


def b64(s: str | bytes) -> str:
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


def unb64(s: str) -> bytes:
    return base64.b64decode(s)


def prefix_end(prefix: str) -> str:
    b = bytearray(prefix.encode())
    b[-1] += 1
    return b64(bytes(b))


@dataclass(frozen=True)
class EtcdCredentials:
    """Who a client is on one etcd: the lab's CA, a client certificate and a user's password
    (etcd runs with --client-cert-auth and authentication on; lab/keygen.py makes them)."""
    user: str
    password: str = field(repr=False)
    ca: str
    cert: str
    key: str

    @classmethod
    def load(cls, directory: Path, store: str, user: str) -> "EtcdCredentials":
        """``user``'s credentials on ``store`` from a secrets directory laid out by keygen."""
        etcd = directory / "etcd"
        own = etcd / store
        files = [etcd / "ca.crt", own / f"{user}.crt", own / f"{user}.key",
                 own / f"{user}.password"]
        if missing := [str(f) for f in files if not f.is_file()]:
            raise SecretMissing(f"no {store} credentials for etcd user {user}: {missing[0]} is "
                                "missing (this container is not given them, or keygen has "
                                "not run)")
        return cls(user, files[3].read_text().strip(), *(str(f) for f in files[:3]))


def store_of(address: str) -> str:
    """Which of the lab's etcds ``address`` is: by the LAB_*_ADDRESS variables compose gives,
    else by the fixed host part of its address on the lab network, else by service name."""
    for store in config.ETCD_STORES:
        if address in (store, os.environ.get(f"LAB_{store.upper().replace('-', '_')}_ADDRESS")):
            return store
    for store, host in config.ETCD_STORES.items():
        if address.rsplit(".", 1)[-1] == str(host):
            return store
    raise LabError(f"{address} is not one of the lab's etcds ("
                   + ", ".join(f"{s} at .{h}" for s, h in config.ETCD_STORES.items())
                   + "); pass its credentials explicitly")


def lab_credentials(address: str) -> EtcdCredentials:
    """The lab client's credentials for the etcd at ``address`` (config.ETCD_CLIENT_USER)."""
    from lab.keygen import client_secrets
    store = store_of(address)
    return EtcdCredentials.load(client_secrets(), store, config.ETCD_CLIENT_USER[store])


def _bad_token(resp: requests.Response) -> bool:
    """etcd's simple tokens expire (5 min by default) and die with a restarted server."""
    return resp.status_code == 401 or (resp.status_code >= 400
                                       and "invalid auth token" in resp.text)


class EtcdGateway:
    """The JSON gateway of one etcd over https: the CA, a client certificate, and a token
    from /v3/auth/authenticate, taken on the first call and again, once, when etcd says it is
    no longer valid. ``credentials`` default to the lab client's for that etcd, read on the
    first call. ``tls=False``: plain http and no token (only to show etcd refuses it)."""

    def __init__(self, address: str, *, port: int = 2379, timeout_s: float = 3.0,
                 session: requests.Session | None = None,
                 credentials: EtcdCredentials | None = None, tls: bool = True):
        self.url = f"{'https' if tls else 'http'}://{address}:{port}/v3"
        self.address = address
        self.timeout_s = timeout_s
        self.http = session or requests.Session()
        self.tls = tls
        self.credentials = credentials
        self._token: str | None = None
        self._ready = not tls
        self._tls_files: dict = {}
        self._lock = threading.Lock()

    def call(self, path: str, body: dict) -> dict:
        token = self._authenticate() if self.tls else None
        resp = self._post(path, body, token)
        if token is not None and _bad_token(resp):
            with self._lock:
                if self._token == token:
                    self._token = None
            resp = self._post(path, body, self._authenticate())
        return self._answer(path, resp)

    def connect(self) -> None:
        """Authenticate (TLS handshake and etcd's password check, which is slow: bcrypt) now
        rather than in the first real call: a worker does this before its loop, so its first
        pass is no slower than the others' (seen in CI: an enactor's first pass, slowed by its
        three first authentications on a busy machine, wrote plan 2 over plan 3 in a steady
        state)."""
        if self.tls:
            self._authenticate()

    def _post(self, path: str, body: dict, token: str | None) -> requests.Response:
        try:
            # verify and cert per request: a session's own would lose to REQUESTS_CA_BUNDLE.
            return self.http.post(self.url + path, json=body, timeout=self.timeout_s,
                                  headers={"Authorization": token} if token else None,
                                  **self._tls_files)
        except requests.exceptions.SSLError as e:
            if "certificate" in str(e).lower():
                raise BackendError(f"etcd at {self.url}: TLS refused ({str(e)[:160]}); if the "
                                   "lab was recreated, its CA changed: run the command again"
                                   ) from None
            raise TransientError(f"etcd at {self.url} unreachable (SSLError)") from None
        except requests.RequestException as e:
            raise TransientError(f"etcd at {self.url} unreachable ({type(e).__name__})") from None

    def _answer(self, path: str, resp: requests.Response) -> dict:
        if resp.status_code >= 500:
            raise TransientError(f"etcd {path} answered {resp.status_code}")
        if resp.status_code >= 400:
            raise BackendError(f"etcd {path} answered {resp.status_code}: {resp.text[:200]}")
        return resp.json()

    def _authenticate(self) -> str:
        with self._lock:
            if self._token is not None:
                return self._token
            if not self._ready:
                if self.credentials is None:
                    self.credentials = lab_credentials(self.address)
                self._tls_files = {"verify": self.credentials.ca,
                             "cert": (self.credentials.cert, self.credentials.key)}
                self._ready = True
            c = self.credentials
            resp = self._post("/auth/authenticate", {"name": c.user, "password": c.password},
                              None)
            if resp.status_code >= 400 and resp.status_code < 500:
                raise BackendError(f"etcd at {self.url} refused user {c.user}: "
                                   f"{resp.text[:160]}")
            self._token = self._answer("/auth/authenticate", resp)["token"]
            return self._token

    # -- helpers ------------------------------------------------------------------
    def range_prefix(self, prefix: str, *, keys_only: bool = False) -> list[dict]:
        body = {"key": b64(prefix), "range_end": prefix_end(prefix)}
        if keys_only:
            body["keys_only"] = True
        return self.call("/kv/range", body).get("kvs", [])

    def delete_prefix(self, prefix: str) -> int:
        r = self.call("/kv/deleterange", {"key": b64(prefix), "range_end": prefix_end(prefix)})
        return int(r.get("deleted", 0))

    def grant(self, ttl_s: float) -> str:
        return self.call("/lease/grant", {"TTL": max(1, round(ttl_s))})["ID"]

    def revoke(self, lease: str) -> None:
        self.call("/lease/revoke", {"ID": lease})
