"""Plans laid out for CoreDNS's etcd plugin (SkyDNS layout), in the zone store's etcd.

A name's records are the JSON values of the keys under its reversed-label path; CoreDNS
reads etcd on every query (no cache plugin), so a committed transaction is what the next
query sees. The layout mirrors the PowerDNS one (lab/backends/pdns_plans.py)::

    /skydns/<zone>/plans/<tree>/g<gen>/x0000..    {"host": address, "ttl": ttl}  (the tree)
    /skydns/<zone>/plans/<tree>/g<gen>/weights    {"text": "weights a=w ..."}
    /skydns/<zone>/<endpoint>/x0000..             the endpoint's own records:
        flattened: copies of the tree's addresses; cname: one {"host": "<tree name>"}
    /skydns/<zone>/<endpoint>/alias               {"text": "alias ..."}   (nodata only)
    /skydns/<zone>/plans/alias/<endpoint>         {"text": "<tree name>"}  (the pointer)
    /skydns/<zone>/plans/rollback/<endpoint>      {"text": "<previous generation>"}
    /skydns/<zone>/plans/fence/<endpoint>         {"text": "<highest fencing token>"}

Every write is ONE etcd transaction. Applying a plan puts the record keys x0000..x<n-1> and
deletes the range from x<n> on (etcd refuses a put inside a range it deletes in the same
transaction, so the keys are numbered rather than the prefix cleared). Deleting a plan reads
the pointers, then deletes the tree and the records of every endpoint whose pointer names it
in one transaction guarded by a compare: no pointer changed since the read. So, unlike
PowerDNS 4.x (read, then PATCH), the clean-up here is atomic; a lost compare is retried.
Guarded writes (only if newer, fencing) work the same way: read the pointer and the fence,
decide, and write in a transaction that compares both keys' revisions with the read.

Facts of the etcd plugin the lab inherits (seen on CoreDNS 1.15.0):
- a name answers with the records of every name below it (SkyDNS aggregation), so no lab
  endpoint may be a descendant of another (tests/unit/test_race_core.py checks that);
- an empty answer carries a synthesized SOA whose minimum, hence the negative TTL, is fixed
  at 30 s: the experiment's negative_ttl_s cannot change it (``reset`` reports that);
- a CNAME whose in-zone target has no records is dropped: the name answers NOERROR/NODATA.
"""

import json
import re

from lab.backends import FIXED_NEGATIVE_TTL_S
from lab.backends.powerdns import absolute
from lab.core.guard import decide_delete, decide_write
from lab.core.plan import Plan
from lab.core.ports import TransientError
from lab.errors import BackendError
from lab.etcd import EtcdGateway, b64, prefix_end, unb64

EMPTY_ANSWERS = ("nxdomain", "nodata")
ALIAS_STYLES = ("flattened", "cname")
PREFIX = "/skydns"
COMPARE_ATTEMPTS = 20


def _put(key: str, value: dict) -> dict:
    return {"request_put": {"key": b64(key), "value": b64(json.dumps(value))}}


def _delete(key: str, range_end: str | None = None) -> dict:
    body = {"key": b64(key)}
    if range_end is not None:
        body["range_end"] = range_end
    return {"request_delete_range": body}


class CoreDNSPlans:
    def __init__(self, etcd: EtcdGateway, zone: str, *, empty_answer: str = "nxdomain",
                 ttl: int = 5, alias: str = "flattened"):
        if empty_answer not in EMPTY_ANSWERS:
            raise ValueError(f"empty_answer must be one of {EMPTY_ANSWERS}, not {empty_answer!r}")
        if alias not in ALIAS_STYLES:
            raise ValueError(f"alias must be one of {ALIAS_STYLES}, not {alias!r}")
        self.etcd = etcd
        self.zone = absolute(zone)
        self.empty_answer = empty_answer
        self.ttl = ttl
        self.alias = alias
        self._zone_path = self.path(self.zone)
        self._plans = self._zone_path + "/plans/"
        self._pointers = self._plans + "alias/"
        self._tree_key = re.compile("^" + re.escape(self._plans) + r"([a-z0-9-]+)/g(\d+)/x\d+$")

    # -- names and keys ---------------------------------------------------------------
    @staticmethod
    def path(name: str) -> str:
        """SkyDNS path of a name: /skydns/<labels reversed>."""
        labels = [x for x in absolute(name).rstrip(".").split(".") if x]
        return PREFIX + "/" + "/".join(reversed(labels))

    def endpoint_name(self, endpoint: str) -> str:
        return f"{endpoint}.{self.zone}"

    def tree_name(self, generation: int, tree: str) -> str:
        return f"g{generation}.{tree}.plans.{self.zone}"

    def _records(self, name: str) -> str:
        return self.path(name) + "/"

    def _pointer(self, endpoint: str) -> str:
        return self.path(f"{endpoint}.alias.plans.{self.zone}")

    def _rollback(self, endpoint: str) -> str:
        return self.path(f"{endpoint}.rollback.plans.{self.zone}")

    def _fence(self, endpoint: str) -> str:
        return self.path(f"{endpoint}.fence.plans.{self.zone}")

    # -- reads --------------------------------------------------------------------------
    def _text(self, key: str) -> str | None:
        kvs = self._call("/kv/range", {"key": b64(key)}).get("kvs", [])
        return json.loads(unb64(kvs[0]["value"])).get("text") if kvs else None

    def _target(self, endpoint: str) -> str | None:
        return self._text(self._pointer(endpoint))

    @staticmethod
    def _generation(target: str | None) -> int | None:
        m = re.match(r"^g(\d+)\.", target or "")
        return int(m.group(1)) if m else None

    def applied(self, endpoint: str) -> int | None:
        return self._generation(self._target(endpoint))

    def _hosts(self, name: str) -> list[str]:
        base = self._records(name) + "x"
        kvs = self._call("/kv/range", {"key": b64(base), "range_end": b64(base[:-1] + "y")})
        return [json.loads(unb64(kv["value"])).get("host", "") for kv in kvs.get("kvs", [])]

    def addresses(self, endpoint: str) -> set[str]:
        found = set()
        for host in self._hosts(self.endpoint_name(endpoint)):
            if ":" in host or host.replace(".", "").isdigit():
                found.add(host)
            elif host:                       # alias: cname points at the tree
                found |= set(self._hosts(host))
        return found

    def intact(self, endpoint: str) -> bool:
        target = self._target(endpoint)
        if target is None:
            return True
        base = self._records(target) + "x"
        found = self._call("/kv/range", {"key": b64(base), "range_end": b64(base[:-1] + "y"),
                                         "count_only": True})
        return int(found.get("count", 0)) > 0

    def generations(self) -> set[int]:
        return {int(m.group(2)) for kv in self.etcd.range_prefix(self._plans, keys_only=True)
                if (m := self._tree_key.match(unb64(kv["key"]).decode()))}

    # -- writes -------------------------------------------------------------------------
    def _record_set(self, base: str, values: list[dict]) -> list[dict]:
        """Puts for keys x0000.. and the deletion of every higher-numbered key."""
        ops = [_put(f"{base}x{i:04d}", v) for i, v in enumerate(values)]
        ops.append(_delete(f"{base}x{len(values):04d}", b64(base + "y")))
        return ops

    def apply(self, endpoint: str, plan: Plan, previous: int | None, *,
              only_if_newer: bool = False, fence: int | None = None) -> None:
        if not (only_if_newer or fence is not None):
            self._txn(self._apply_ops(endpoint, plan, previous))
            return
        for _ in range(COMPARE_ATTEMPTS):
            compare, extra = self._guard(endpoint, plan, only_if_newer, fence)
            if self._txn(self._apply_ops(endpoint, plan, previous) + extra, compare=compare):
                return
        raise TransientError(f"guarded write to {endpoint}: the pointer or fence kept changing")

    def _guard(self, endpoint: str, plan: Plan, only_if_newer: bool, fence: int | None):
        """Read the pointer and the fence; refuse, or return the compares that make the
        write conditional on both being unchanged, and the fence to write with it."""
        read = {}
        keys = [self._pointer(endpoint)] + ([self._fence(endpoint)] if fence is not None else [])
        compare = []
        for key in keys:
            kvs = self._call("/kv/range", {"key": b64(key)}).get("kvs", [])
            read[key] = json.loads(unb64(kvs[0]["value"])).get("text") if kvs else None
            compare.append({"target": "MOD", "result": "EQUAL", "key": b64(key),
                            "mod_revision": int(kvs[0]["mod_revision"]) if kvs else 0})
        highest = read.get(self._fence(endpoint))
        fenced = decide_write(endpoint, plan.generation,
                              current=self._generation(read[self._pointer(endpoint)]),
                              highest_fence=int(highest) if highest else 0,
                              only_if_newer=only_if_newer, fence=fence)
        extra = [] if fenced is None else \
            [_put(self._fence(endpoint), {"text": str(fenced), "ttl": self.ttl})]
        return compare, extra

    def _apply_ops(self, endpoint: str, plan: Plan, previous: int | None) -> list[dict]:
        tree = plan.endpoints[endpoint]
        name = self.tree_name(plan.generation, tree)
        targets = plan.trees[tree]
        hosts = [{"host": t.address, "ttl": self.ttl} for t in targets]
        weights = " ".join(f"{t.address}={t.weight}" for t in targets)
        tree_base = self._records(name)
        ops = self._record_set(tree_base, hosts)
        ops.append(_put(tree_base + "weights", {"text": f"weights {weights}", "ttl": self.ttl}))
        ep = self._records(self.endpoint_name(endpoint))
        ops += self._record_set(ep, hosts if self.alias == "flattened"
                                else [{"host": name, "ttl": self.ttl}])
        if self.empty_answer == "nodata":
            ops.append(_put(ep + "alias", {"text": f"alias {name}", "ttl": self.ttl}))
        ops.append(_put(self._pointer(endpoint), {"text": name, "ttl": self.ttl}))
        ops.append(_put(self._rollback(endpoint), {
            "text": str(previous if previous is not None else "none"), "ttl": self.ttl}))
        return ops

    def delete_generation(self, generation: int, *, keep_if_referenced: bool = False) -> bool:
        for _ in range(COMPARE_ATTEMPTS):
            read = self._call("/kv/range", {"key": b64(self._plans),
                                             "range_end": prefix_end(self._plans)})
            revision = int(read["header"]["revision"])
            trees = set()
            pointers = {}
            for kv in read.get("kvs", []):
                key = unb64(kv["key"]).decode()
                if m := self._tree_key.match(key):
                    if int(m.group(2)) == generation:
                        trees.add(self.tree_name(generation, m.group(1)))
                elif key.startswith(self._pointers):
                    pointers[key] = json.loads(unb64(kv["value"])).get("text")
            if not decide_delete(generation, map(self._generation, pointers.values()),
                                 keep_if_referenced=keep_if_referenced, present=bool(trees)):
                return False     # the read and this answer are one revision: see the compare
            if not trees:
                return True
            ops = []
            if self.alias == "flattened":
                # The alias of every endpoint pointing at a deleted tree resolves to nothing.
                for key, target in sorted(pointers.items()):
                    if target in trees:
                        ep = self.path(self._endpoint_of_pointer(key)) + "/"
                        ops.append(_delete(ep + "x", b64(ep + "y")))
            for name in sorted(trees):
                base = self._records(name)
                if self.empty_answer == "nodata":
                    ops.append(_delete(base + "x", b64(base + "y")))
                    ops.append(_put(base + "weights", {"text": f"deleted plan {generation}",
                                                       "ttl": self.ttl}))
                else:
                    ops.append(_delete(base, prefix_end(base)))
            unchanged = {"target": "MOD", "result": "LESS", "key": b64(self._pointers),
                         "range_end": prefix_end(self._pointers), "mod_revision": revision + 1}
            if self._txn(ops, compare=[unchanged]):
                return True
        raise TransientError(f"clean-up of plan {generation}: the endpoint pointers kept "
                             f"changing ({COMPARE_ATTEMPTS} compares lost)")

    def _endpoint_of_pointer(self, key: str) -> str:
        """/skydns/test/lab/plans/alias/<reversed endpoint labels> -> the endpoint's name."""
        labels = key[len(self._pointers):].split("/")
        return ".".join(reversed(labels)) + "." + self.zone

    def reset(self, endpoints, negative_ttl_s: int | None = None) -> int:
        """Remove every plan tree, pointer, rollback record and endpoint record (run set-up).
        Returns the negative TTL the server will use: the etcd plugin's, whatever was asked."""
        ops = [_delete(self._plans, prefix_end(self._plans))]
        for e in endpoints:
            base = self._records(self.endpoint_name(e))
            ops.append(_delete(base, prefix_end(base)))
        self._txn(ops)
        return FIXED_NEGATIVE_TTL_S["coredns"]

    # -- etcd -----------------------------------------------------------------------------
    def _txn(self, ops: list[dict], compare: list[dict] | None = None) -> bool:
        body = {"success": ops}
        if compare:
            body["compare"] = compare
        return bool(self._call("/kv/txn", body).get("succeeded"))

    def _call(self, path: str, body: dict) -> dict:
        try:
            return self.etcd.call(path, body)
        except BackendError as e:
            raise BackendError(f"zone store (CoreDNS's etcd): {e}") from None
