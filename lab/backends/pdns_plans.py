"""Plans laid out in PowerDNS, as in the real system:

    <endpoint>.<zone>            CNAME  g<generation>.<tree>.plans.<zone>   (the alias)
    _rollback.<endpoint>.<zone>  TXT    "<previous generation>"             (same transaction)
    g<generation>.<tree>.plans.<zone>   A / AAAA (the plan's addresses) + TXT weights

Applying a plan to an endpoint is ONE API PATCH (one backend transaction). Deleting a plan
removes its tree records, so an endpoint pointing at it answers with no addresses: NXDOMAIN
(``empty_answer="nxdomain"``: the tree name is gone) or NOERROR/NODATA
(``empty_answer="nodata"``: a TXT tombstone keeps the name alive).
"""

import re

from lab.backends.powerdns import PowerDNS, absolute
from lab.core.plan import Plan
from lab.core.ports import TransientError
from lab.errors import BackendError

EMPTY_ANSWERS = ("nxdomain", "nodata")


class PowerDNSPlans:
    def __init__(self, api: PowerDNS, zone: str, *, empty_answer: str = "nxdomain", ttl: int = 5):
        if empty_answer not in EMPTY_ANSWERS:
            raise ValueError(f"empty_answer must be one of {EMPTY_ANSWERS}, not {empty_answer!r}")
        self.api = api
        self.zone = absolute(zone)
        self.empty_answer = empty_answer
        self.ttl = ttl
        self._tree_re = re.compile(r"^g(\d+)\.([a-z0-9-]+)\.plans\." + re.escape(self.zone) + "$")

    # -- names --------------------------------------------------------------------
    def endpoint_name(self, endpoint: str) -> str:
        return f"{endpoint}.{self.zone}"

    def tree_name(self, generation: int, tree: str) -> str:
        return f"g{generation}.{tree}.plans.{self.zone}"

    # -- reads --------------------------------------------------------------------
    def _rrsets(self) -> dict[tuple[str, str], list[str]]:
        zone = self._call(self.api.zone, self.zone)
        return {(r["name"], r["type"]): [x["content"] for x in r.get("records", [])]
                for r in zone.get("rrsets", [])}

    def _target(self, endpoint: str, rrsets) -> str | None:
        cname = rrsets.get((self.endpoint_name(endpoint), "CNAME"))
        return cname[0] if cname else None

    def applied(self, endpoint: str) -> int | None:
        target = self._target(endpoint, self._rrsets())
        m = self._tree_re.match(target) if target else None
        return int(m.group(1)) if m else None

    def intact(self, endpoint: str) -> bool:
        rrsets = self._rrsets()
        target = self._target(endpoint, rrsets)
        return target is None or any((target, t) in rrsets for t in ("A", "AAAA"))

    def generations(self) -> set[int]:
        found = set()
        for name, rtype in self._rrsets():
            m = self._tree_re.match(name)
            if m and rtype in ("A", "AAAA"):
                found.add(int(m.group(1)))
        return found

    # -- writes -------------------------------------------------------------------
    def apply(self, endpoint: str, plan: Plan, previous: int | None) -> None:
        tree = plan.endpoints[endpoint]
        name = self.tree_name(plan.generation, tree)
        targets = plan.trees[tree]
        changes = []
        for rtype in ("A", "AAAA"):
            contents = [t.address for t in targets if t.rtype == rtype]
            changes.append(_rrset(name, rtype, self.ttl, contents) if contents
                           else {"name": name, "type": rtype, "changetype": "DELETE"})
        weights = " ".join(f"{t.address}={t.weight}" for t in targets)
        changes += [
            _rrset(name, "TXT", self.ttl, [f'"weights {weights}"']),
            _rrset(self.endpoint_name(endpoint), "CNAME", self.ttl, [name]),
            _rrset(f"_rollback.{self.endpoint_name(endpoint)}", "TXT", self.ttl,
                   [f'"{previous if previous is not None else "none"}"']),
        ]
        self._call(self.api.patch, self.zone, changes)

    def delete_generation(self, generation: int) -> None:
        names = {name for name, _ in self._rrsets()
                 if (m := self._tree_re.match(name)) and int(m.group(1)) == generation}
        changes = []
        for name in sorted(names):
            for rtype in ("A", "AAAA", "TXT"):
                changes.append({"name": name, "type": rtype, "changetype": "DELETE"})
            if self.empty_answer == "nodata":
                changes.append(_rrset(name, "TXT", self.ttl, [f'"deleted plan {generation}"']))
        if changes:
            self._call(self.api.patch, self.zone, changes)

    def _call(self, fn, *args):
        try:
            return fn(*args)
        except BackendError as e:
            if " answered 5" in str(e) or "unreachable" in str(e):
                raise TransientError(str(e)) from None
            raise


def _rrset(name: str, rtype: str, ttl: int, contents: list[str]) -> dict:
    return {"name": name, "type": rtype, "ttl": ttl, "changetype": "REPLACE",
            "records": [{"content": c, "disabled": False} for c in contents]}
