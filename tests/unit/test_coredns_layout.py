"""The CoreDNS (SkyDNS) layout as pure logic: key paths, and that every write is one etcd
transaction etcd will accept (no put inside a range the same transaction deletes)."""

import json

from lab.backends.coredns_plans import CoreDNSPlans
from lab.core.plan import Plan, Target
from lab.etcd import unb64


class RecordingEtcd:
    """Captures request bodies; answers reads with nothing."""

    def __init__(self):
        self.calls = []

    def call(self, path, body):
        self.calls.append((path, body))
        return {"header": {"revision": "7"}, "kvs": [], "succeeded": True}


def _key_range(op):
    body = op.get("request_put") or op["request_delete_range"]
    key = unb64(body["key"]).decode()
    end = unb64(body["range_end"]).decode() if body.get("range_end") else None
    return key, end


def test_paths_reverse_the_labels():
    assert CoreDNSPlans.path("dynamodb.us-east-1.lab.test.") == \
        "/skydns/test/lab/us-east-1/dynamodb"
    b = CoreDNSPlans(RecordingEtcd(), "lab.test")
    pointer = b._pointer("dynamodb.us-east-1.api")
    assert pointer == "/skydns/test/lab/plans/alias/api/us-east-1/dynamodb"
    assert b._endpoint_of_pointer(pointer) == "dynamodb.us-east-1.api.lab.test."


def test_apply_is_one_transaction_etcd_accepts():
    for alias in ("flattened", "cname"):
        for empty in ("nxdomain", "nodata"):
            etcd = RecordingEtcd()
            b = CoreDNSPlans(etcd, "lab.test", alias=alias, empty_answer=empty, ttl=7)
            plan = Plan(12, {"regional": (Target("198.51.100.1", 3), Target("2001:db8::1", 1))},
                        {"ep": "regional"})
            b.apply("ep", plan, previous=11)
            assert [p for p, _ in etcd.calls] == ["/kv/txn"]
            ops = etcd.calls[0][1]["success"]
            puts = {k: json.loads(unb64(op["request_put"]["value"]))
                    for op in ops if "request_put" in op for k, _ in [_key_range(op)]}
            deletes = [_key_range(op) for op in ops if "request_delete_range" in op]
            assert not [k for k in puts for lo, hi in deletes if lo <= k < (hi or lo + "\0")]
            tree = "/skydns/test/lab/plans/regional/g12/"
            assert puts[tree + "x0000"] == {"host": "198.51.100.1", "ttl": 7}
            assert puts[tree + "x0001"] == {"host": "2001:db8::1", "ttl": 7}
            ep = "/skydns/test/lab/ep/"
            if alias == "flattened":
                assert puts[ep + "x0001"]["host"] == "2001:db8::1"
            else:
                assert puts[ep + "x0000"]["host"] == "g12.regional.plans.lab.test."
            assert (ep + "alias" in puts) is (empty == "nodata")
            assert puts["/skydns/test/lab/plans/rollback/ep"]["text"] == "11"


def test_cleanup_is_guarded_by_the_pointers_revision():
    etcd = RecordingEtcd()
    b = CoreDNSPlans(etcd, "lab.test")

    def call(path, body):
        etcd.calls.append((path, body))
        if path == "/kv/range":
            from lab.etcd import b64
            kvs = [{"key": b64("/skydns/test/lab/plans/regional/g3/x0000"),
                    "value": b64('{"host": "198.51.100.1"}')},
                   {"key": b64("/skydns/test/lab/plans/alias/us-east-1/dynamodb"),
                    "value": b64('{"text": "g3.regional.plans.lab.test."}')}]
            return {"header": {"revision": "41"}, "kvs": kvs}
        return {"succeeded": True}

    etcd.call = call
    b.delete_generation(3)
    txn = etcd.calls[-1][1]
    assert txn["compare"][0]["mod_revision"] == 42 and txn["compare"][0]["result"] == "LESS"
    deleted = {_key_range(op)[0] for op in txn["success"]}
    assert deleted == {"/skydns/test/lab/us-east-1/dynamodb/x",
                       "/skydns/test/lab/plans/regional/g3/"}
