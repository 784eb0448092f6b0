"""A tiny client for etcd's v3 JSON gateway (no gRPC dependency), shared by the plan store
and the fault channel. Library exceptions become TransientError (worth retrying) or
BackendError (a request etcd refused) here, at the adapter edge."""

import base64

import requests

from lab.core.ports import TransientError
from lab.errors import BackendError


def b64(s: str | bytes) -> str:
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


def unb64(s: str) -> bytes:
    return base64.b64decode(s)


def prefix_end(prefix: str) -> str:
    b = bytearray(prefix.encode())
    b[-1] += 1
    return b64(bytes(b))


class EtcdGateway:
    def __init__(self, address: str, *, port: int = 2379, timeout_s: float = 3.0,
                 session: requests.Session | None = None):
        self.url = f"http://{address}:{port}/v3"
        self.timeout_s = timeout_s
        self.http = session or requests.Session()

    def call(self, path: str, body: dict) -> dict:
        try:
            resp = self.http.post(self.url + path, json=body, timeout=self.timeout_s)
        except requests.RequestException as e:
            raise TransientError(f"etcd at {self.url} unreachable ({type(e).__name__})") from None
        if resp.status_code >= 500:
            raise TransientError(f"etcd {path} answered {resp.status_code}")
        if resp.status_code >= 400:
            raise BackendError(f"etcd {path} answered {resp.status_code}: {resp.text[:200]}")
        return resp.json()

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
