"""The safety interlock at the DNS layer: a DnsBackend wrapping the real one that refuses
any change which would leave an endpoint with no addresses, or remove more than
``max_removed_fraction`` of an endpoint's capacity in one change (a velocity control).

Capacity is counted in addresses (one address per load balancer). Refusals raise
WriteRefused (the enactor records them); a refused clean-up deletion leaves the plan in
place. The checks read the backend, then write: on PowerDNS that is two requests (the API
has no conditional write); the deletion check uses the backend's own guarded deletion, which
is one transaction on CoreDNS.
"""

from lab.core.plan import Plan
from lab.core.ports import DnsBackend, WriteRefused


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
        if not new:
            raise WriteRefused(f"interlock: plan {plan.generation} would leave {endpoint} "
                               "with no addresses")
        current = self.inner.addresses(endpoint)
        if current:
            removed = len(current - new) / len(current)
            if removed > self.max_removed_fraction:
                raise WriteRefused(
                    f"interlock: plan {plan.generation} would remove {removed:.0%} of "
                    f"{endpoint}'s capacity at once (limit {self.max_removed_fraction:.0%})")
        self.inner.apply(endpoint, plan, previous, only_if_newer=only_if_newer, fence=fence)

    def delete_generation(self, generation: int, *, keep_if_referenced: bool = False) -> bool:
        users = [e for e in self.endpoints if self.inner.applied(e) == generation]
        if users or not self.inner.delete_generation(generation, keep_if_referenced=True):
            raise WriteRefused(f"interlock: deleting plan {generation} would leave "
                               f"{', '.join(users) or 'an endpoint'} with no addresses")
        return True
