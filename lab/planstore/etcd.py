"""The plan store on etcd, through its v3 JSON gateway (no gRPC dependency).

Keys: ``/dnslab/plans/<generation, zero-padded>`` -> plan JSON; ``/dnslab/locks/<name>`` ->
holder, attached to a lease so a crashed holder's lock expires. Publishing a generation and
taking a lock are etcd transactions (compare-and-swap). Over https, as etcd user ``lab``
(read-write on ``/dnslab/`` only; lab/etcd.py).
"""

import json

from lab.core.plan import Plan
from lab.errors import BackendError
from lab.etcd import EtcdCredentials, EtcdGateway, b64 as _b64, prefix_end as _prefix_end, unb64 as _unb64

PLANS = "/dnslab/plans/"
LOCKS = "/dnslab/locks/"
LEASES = "/dnslab/leases/"


def _plan_key(generation: int) -> str:
    return f"{PLANS}{generation:012d}"


class EtcdPlanStore:
    def __init__(self, address: str, *, port: int = 2379, timeout_s: float = 3.0,
                 credentials: EtcdCredentials | None = None):
        """``credentials``: the lab client's for the plan store unless given."""
        self.etcd = EtcdGateway(address, port=port, timeout_s=timeout_s, credentials=credentials)
        self._call = self.etcd.call

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

    def fencing_token(self, lease: str, holder: str) -> int:
        """Register ``holder`` on ``lease``; the token is the etcd revision of that write,
        which is greater than every revision (hence every token) before it."""
        r = self._call("/kv/put", {"key": _b64(LEASES + lease), "value": _b64(holder)})
        return int(r["header"]["revision"])

    # -- run set-up -----------------------------------------------------------------
    def reset(self) -> None:
        """Forget every plan and lock (a run starts from an empty store)."""
        self.etcd.delete_prefix(PLANS)
        self.etcd.delete_prefix(LOCKS)
        self.etcd.delete_prefix(LEASES)
