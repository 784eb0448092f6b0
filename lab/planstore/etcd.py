"""The plan store on etcd, through its v3 JSON gateway (no gRPC dependency).

Keys: ``/dnslab/plans/<generation, zero-padded>`` -> plan JSON; ``/dnslab/locks/<name>`` ->
holder, attached to a lease so a crashed holder's lock expires. Publishing a generation and
taking a lock are etcd transactions (compare-and-swap).
"""

import base64
import json

import requests

from lab.core.plan import Plan
from lab.core.ports import TransientError
from lab.errors import BackendError

PLANS = "/dnslab/plans/"
LOCKS = "/dnslab/locks/"


def _b64(s: str | bytes) -> str:
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


def _unb64(s: str) -> bytes:
    return base64.b64decode(s)


def _prefix_end(prefix: str) -> str:
    b = bytearray(prefix.encode())
    b[-1] += 1
    return _b64(bytes(b))


def _plan_key(generation: int) -> str:
    return f"{PLANS}{generation:012d}"


class EtcdPlanStore:
    def __init__(self, address: str, *, port: int = 2379, timeout_s: float = 3.0,
                 session: requests.Session | None = None):
        self.url = f"http://{address}:{port}/v3"
        self.timeout_s = timeout_s
        self.http = session or requests.Session()

    def _call(self, path: str, body: dict) -> dict:
        try:
            resp = self.http.post(self.url + path, json=body, timeout=self.timeout_s)
        except requests.RequestException as e:
            raise TransientError(f"plan store at {self.url} unreachable ({type(e).__name__})") from None
        if resp.status_code >= 500:
            raise TransientError(f"plan store {path} answered {resp.status_code}")
        if resp.status_code >= 400:
            raise BackendError(f"plan store {path} answered {resp.status_code}: {resp.text[:200]}")
        return resp.json()

    # -- plans --------------------------------------------------------------------
    def newest(self) -> Plan | None:
        r = self._call("/kv/range", {"key": _b64(PLANS), "range_end": _prefix_end(PLANS),
                                     "sort_order": "DESCEND", "sort_target": "KEY", "limit": 1})
        kvs = r.get("kvs", [])
        return Plan.from_json(json.loads(_unb64(kvs[0]["value"]))) if kvs else None

    def get(self, generation: int) -> Plan | None:
        r = self._call("/kv/range", {"key": _b64(_plan_key(generation))})
        kvs = r.get("kvs", [])
        return Plan.from_json(json.loads(_unb64(kvs[0]["value"]))) if kvs else None

    def put(self, plan: Plan) -> None:
        key = _b64(_plan_key(plan.generation))
        r = self._call("/kv/txn", {
            "compare": [{"key": key, "target": "CREATE", "result": "EQUAL", "create_revision": "0"}],
            "success": [{"request_put": {"key": key, "value": _b64(json.dumps(plan.to_json()))}}],
        })
        if not r.get("succeeded"):
            raise BackendError(f"plan generation {plan.generation} was already published")

    def generations(self) -> list[int]:
        r = self._call("/kv/range", {"key": _b64(PLANS), "range_end": _prefix_end(PLANS),
                                     "keys_only": True})
        return sorted(int(_unb64(kv["key"]).decode()[len(PLANS):]) for kv in r.get("kvs", []))

    def delete(self, generation: int) -> None:
        self._call("/kv/deleterange", {"key": _b64(_plan_key(generation))})

    # -- locks --------------------------------------------------------------------
    def acquire(self, lock: str, holder: str, ttl_s: float) -> bool:
        """Take ``lock`` for ``holder`` unless someone else holds it (re-entrant)."""
        key = _b64(LOCKS + lock)
        lease = self._call("/lease/grant", {"TTL": max(1, round(ttl_s))})["ID"]
        r = self._call("/kv/txn", {
            "compare": [{"key": key, "target": "CREATE", "result": "EQUAL", "create_revision": "0"}],
            "success": [{"request_put": {"key": key, "value": _b64(holder), "lease": lease}}],
            "failure": [{"request_range": {"key": key}}],
        })
        if r.get("succeeded"):
            return True
        self._call("/lease/revoke", {"ID": lease})
        kvs = r["responses"][0]["response_range"].get("kvs", [])
        return bool(kvs) and _unb64(kvs[0]["value"]).decode() == holder

    def release(self, lock: str, holder: str) -> None:
        key = _b64(LOCKS + lock)
        self._call("/kv/txn", {
            "compare": [{"key": key, "target": "VALUE", "result": "EQUAL", "value": _b64(holder)}],
            "success": [{"request_delete_range": {"key": key}}],
        })
