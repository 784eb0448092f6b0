"""Plans laid out in PowerDNS, as in the real system. Every plan generation has a tree:

    g<generation>.<tree>.plans.<zone>   A / AAAA (the plan's addresses) + TXT weights

and each endpoint points at one tree through an alias, in one of two styles:

``alias="flattened"`` (default; how a Route 53 alias answers): the endpoint carries the
tree's addresses itself, and a pointer record names the tree it copies::

    <endpoint>.<zone>                      A / AAAA (copied from the tree)
    <endpoint>.alias.plans.<zone>          TXT  "g<generation>.<tree>.plans.<zone>."
    <endpoint>.rollback.plans.<zone>       TXT  "<previous generation>"

Deleting a plan deletes its tree and, in the same transaction, the addresses of every
endpoint whose alias points at it (the alias resolves to nothing). The endpoint name itself
then answers with no addresses, so resolvers cache that negative answer for the zone's
negative TTL, as clients of the real endpoint did.

``alias="cname"``: ``<endpoint>.<zone> CNAME g<generation>.<tree>.plans.<zone>`` plus
``_rollback.<endpoint>.<zone> TXT``. Resolvers then cache the CNAME for the record TTL and
the negative answer for the *tree* name; after a repair they recover when the CNAME expires.

Applying a plan to an endpoint is ONE API PATCH (one backend transaction). An emptied
endpoint answers NXDOMAIN (``empty_answer="nxdomain"``) or NOERROR/NODATA
(``empty_answer="nodata"``: a TXT record keeps the name alive).
"""

import re

from lab.backends.powerdns import PowerDNS, absolute
from lab.core.guard import decide_delete, decide_write
from lab.core.plan import Plan
from lab.core.ports import TransientError
from lab.errors import BackendError

EMPTY_ANSWERS = ("nxdomain", "nodata")
ALIAS_STYLES = ("flattened", "cname")


class PowerDNSPlans:
    def __init__(self, api: PowerDNS, zone: str, *, empty_answer: str = "nxdomain", ttl: int = 5,
                 alias: str = "flattened"):
        if empty_answer not in EMPTY_ANSWERS:
            raise ValueError(f"empty_answer must be one of {EMPTY_ANSWERS}, not {empty_answer!r}")
        if alias not in ALIAS_STYLES:
            raise ValueError(f"alias must be one of {ALIAS_STYLES}, not {alias!r}")
        self.alias = alias
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

    def pointer_name(self, endpoint: str) -> str:
        return f"{endpoint}.alias.plans.{self.zone}"

    def rollback_name(self, endpoint: str) -> str:
        if self.alias == "cname":
            return f"_rollback.{self.endpoint_name(endpoint)}"
        return f"{endpoint}.rollback.plans.{self.zone}"

    def _target(self, endpoint: str, rrsets) -> str | None:
        if self.alias == "cname":
            cname = rrsets.get((self.endpoint_name(endpoint), "CNAME"))
            return cname[0] if cname else None
        pointer = rrsets.get((self.pointer_name(endpoint), "TXT"))
        return pointer[0].strip('"') if pointer else None

    def fence_name(self, endpoint: str) -> str:
        return f"{endpoint}.fence.plans.{self.zone}"

    def _generation(self, target: str | None) -> int | None:
        m = self._tree_re.match(target) if target else None
        return int(m.group(1)) if m else None

    def applied(self, endpoint: str) -> int | None:
        return self._generation(self._target(endpoint, self._rrsets()))

    def addresses(self, endpoint: str) -> set[str]:
        rrsets = self._rrsets()
        name = self.endpoint_name(endpoint)
        if self.alias == "cname":
            name = self._target(endpoint, rrsets) or name
        return {a for t in ("A", "AAAA") for a in rrsets.get((name, t), [])}

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
    def _guard(self, endpoint: str, plan: Plan, only_if_newer: bool,
               fence: int | None) -> list[dict]:
        """The checks of a guarded write, read just before it (PowerDNS 4.x has no
        conditional write: the window between this read and the PATCH stays open).
        Returns the fence record to write with the change."""
        rrsets = self._rrsets()
        seen = rrsets.get((self.fence_name(endpoint), "TXT"))
        fenced = decide_write(endpoint, plan.generation,
                              current=self._generation(self._target(endpoint, rrsets)),
                              highest_fence=int(seen[0].strip('"')) if seen else 0,
                              only_if_newer=only_if_newer, fence=fence)
        if fenced is None:
            return []
        return [_rrset(self.fence_name(endpoint), "TXT", self.ttl, [f'"{fenced}"'])]

    def apply(self, endpoint: str, plan: Plan, previous: int | None, *,
              only_if_newer: bool = False, fence: int | None = None) -> None:
        guarded = self._guard(endpoint, plan, only_if_newer, fence) \
            if only_if_newer or fence is not None else []
        tree = plan.endpoints[endpoint]
        name = self.tree_name(plan.generation, tree)
        targets = plan.trees[tree]
        changes = []
        for rtype in ("A", "AAAA"):
            contents = [t.address for t in targets if t.rtype == rtype]
            changes.append(_rrset(name, rtype, self.ttl, contents) if contents
                           else {"name": name, "type": rtype, "changetype": "DELETE"})
        weights = " ".join(f"{t.address}={t.weight}" for t in targets)
        changes.append(_rrset(name, "TXT", self.ttl, [f'"weights {weights}"']))
        ep = self.endpoint_name(endpoint)
        if self.alias == "cname":
            changes.append(_rrset(ep, "CNAME", self.ttl, [name]))
        else:
            for rtype in ("A", "AAAA"):
                contents = [t.address for t in targets if t.rtype == rtype]
                changes.append(_rrset(ep, rtype, self.ttl, contents) if contents
                               else {"name": ep, "type": rtype, "changetype": "DELETE"})
            if self.empty_answer == "nodata":
                changes.append(_rrset(ep, "TXT", self.ttl, [f'"alias {name}"']))
            changes.append(_rrset(self.pointer_name(endpoint), "TXT", self.ttl, [f'"{name}"']))
        changes.append(_rrset(self.rollback_name(endpoint), "TXT", self.ttl,
                              [f'"{previous if previous is not None else "none"}"']))
        self._call(self.api.patch, self.zone, changes + guarded)

    def delete_generation(self, generation: int, *, keep_if_referenced: bool = False) -> bool:
        rrsets = self._rrsets()
        names = {name for name, _ in rrsets
                 if (m := self._tree_re.match(name)) and int(m.group(1)) == generation}
        if not decide_delete(generation, self._pointed_at(rrsets),
                             keep_if_referenced=keep_if_referenced, present=bool(names)):
            return False
        changes = []
        if self.alias == "flattened":
            # The alias of every endpoint pointing at a deleted tree resolves to nothing.
            suffix = ".alias.plans." + self.zone
            for (name, rtype), contents in rrsets.items():
                if rtype == "TXT" and name.endswith(suffix) and contents and \
                        contents[0].strip('"') in names:
                    ep = self.endpoint_name(name[:-len(suffix)])
                    changes += [{"name": ep, "type": t, "changetype": "DELETE"}
                                for t in ("A", "AAAA")]
        for name in sorted(names):
            for rtype in ("A", "AAAA", "TXT"):
                changes.append({"name": name, "type": rtype, "changetype": "DELETE"})
            if self.empty_answer == "nodata":
                changes.append(_rrset(name, "TXT", self.ttl, [f'"deleted plan {generation}"']))
        if changes:
            self._call(self.api.patch, self.zone, changes)
        return True

    def _pointed_at(self, rrsets) -> list[int | None]:
        """The generation every endpoint's alias (pointer TXT or CNAME) points at."""
        return [self._generation(contents[0].strip('"'))
                for (name, rtype), contents in rrsets.items() if contents and (
                    (rtype == "TXT" and name.endswith(".alias.plans." + self.zone))
                    or rtype == "CNAME")]

    def reset(self, endpoints, negative_ttl_s: int | None = None) -> int | None:
        """Remove every plan tree, alias, rollback record and endpoint record (run set-up);
        with ``negative_ttl_s``, the zone's SOA minimum (and SOA TTL) become it. Returns the
        negative TTL the zone now carries (None if it was left as it was)."""
        eps = {self.endpoint_name(e) for e in endpoints}
        rrsets = self._rrsets()
        changes = [{"name": name, "type": rtype, "changetype": "DELETE"}
                   for name, rtype in rrsets
                   if rtype == "CNAME" or ".plans." in name or name.startswith("_rollback.")
                   or (name in eps and rtype in ("A", "AAAA", "TXT"))]
        if negative_ttl_s is not None:
            for (name, rtype), contents in rrsets.items():
                if rtype == "SOA":
                    fields = contents[0].split()
                    fields[-1] = str(negative_ttl_s)
                    changes.append(_rrset(name, "SOA", negative_ttl_s, [" ".join(fields)]))
        if changes:
            self._call(self.api.patch, self.zone, changes)
        return negative_ttl_s

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
