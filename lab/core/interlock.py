"""The safety interlock at the DNS layer: a DnsBackend wrapping the real one that refuses
any change which would leave an endpoint with no addresses, or remove more than
``max_removed_fraction`` of an endpoint's capacity in one change (a velocity control).

Capacity is counted in addresses (one address per load balancer). The decision is
lab/core/guard.py's; this wrapper reads what it needs. Refusals raise
WriteRefused (the enactor records them); a refused clean-up deletion leaves the plan in
place. The checks read the backend, then write: on PowerDNS that is two requests (the API
has no conditional write); the deletion check uses the backend's own guarded deletion, which
is one transaction on CoreDNS.
"""

from lab.core.guard import decide_interlock_delete, decide_interlock_write
from lab.core.plan import Plan
from lab.core.ports import DnsBackend


class SafetyInterlock:
    def __init__(self, inner: DnsBackend, endpoints, *, max_removed_fraction: float = 0.5):
        self.inner = inner
        self.endpoints = list(endpoints)
        self.max_removed_fraction = max_removed_fraction

    # reads pass through
    def applied(self, endpoint: str) -> int | None:
        return self.inner.applied(endpoint)

    def intact(self, endpoint: str) -> bool:
        return self.inner.intact(endpoint)

    def addresses(self, endpoint: str) -> set[str]:
        return self.inner.addresses(endpoint)

    def generations(self) -> set[int]:
        return self.inner.generations()

    def apply(self, endpoint: str, plan: Plan, previous: int | None, *,
              only_if_newer: bool = False, fence: int | None = None) -> None:
        new = {t.address for t in plan.tree_of(endpoint)}
        # An empty plan is refused without reading the endpoint (a read is a request).
        decide_interlock_write(endpoint, plan.generation, new=new,
                               current=self.inner.addresses(endpoint) if new else set(),
                               max_removed_fraction=self.max_removed_fraction)
        self.inner.apply(endpoint, plan, previous, only_if_newer=only_if_newer, fence=fence)

    def delete_generation(self, generation: int, *, keep_if_referenced: bool = False) -> bool:
        users = [e for e in self.endpoints if self.inner.applied(e) == generation]
        decide_interlock_delete(generation, users)
        decide_interlock_delete(generation, [], kept=not self.inner.delete_generation(
            generation, keep_if_referenced=True))
        return True
