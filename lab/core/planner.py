"""The DNS Planner: watches a simulated fleet of load balancers whose health and capacity
drift under a seed, and publishes a new plan generation each period."""

from dataclasses import dataclass
from typing import Protocol

from lab.core.history import History, Kind
from lab.core.plan import DEFAULT_ENDPOINTS, Plan, Target
from lab.core.ports import PlanStore


class Rng(Protocol):
    def random(self) -> float: ...


@dataclass
class LoadBalancer:
    addresses: tuple[str, ...]   # documentation-range addresses; never contacted
    healthy: bool = True
    capacity: int = 100          # 10..100, becomes the weight


def default_fleet() -> dict[str, list[LoadBalancer]]:
    """Per plan tree, its load balancers: the regional tree is dual-stack."""
    return {
        "regional": [LoadBalancer((f"198.51.100.{10 + i}", f"2001:db8::{10 + i:x}"))
                     for i in range(8)],
        "streams": [LoadBalancer((f"203.0.113.{10 + i}",)) for i in range(4)],
    }


def cascade_fleet(addresses: tuple[str, ...]) -> dict[str, list[LoadBalancer]]:
    """The fleet when a lease service stands behind the regional endpoint (the cascade): one
    load balancer per service address (dual-stack: its lab IPv4 address, and a documentation
    IPv6 address nothing contacts), always healthy -- a plan's weights still drift, so a new
    generation comes every period as before; the streams endpoint is unchanged."""
    fleet = default_fleet()
    fleet["regional"] = [LoadBalancer((a, f"2001:db8::{10 + i:x}"))
                         for i, a in enumerate(addresses)]
    return fleet


class Planner:
    def __init__(self, store: PlanStore, history: History, rng: Rng, *,
                 fleet: dict[str, list[LoadBalancer]] | None = None,
                 endpoints: dict[str, str] | None = None, flip_chance: float = 0.05,
                 min_healthy: int = 2):
        self.store = store
        self.history = history
        self.rng = rng
        self.fleet = fleet or default_fleet()
        self.endpoints = dict(endpoints or DEFAULT_ENDPOINTS)
        self.flip_chance = flip_chance
        self.min_healthy = min_healthy

    def drift(self) -> None:
        """One period of fleet weather: health flips and capacity wanders, but every tree
        keeps at least ``min_healthy`` healthy load balancers."""
        random, flip_chance = self.rng.random, self.flip_chance
        for lbs in self.fleet.values():
            for lb in lbs:
                if random() < flip_chance:
                    healthy_now = sum(x.healthy for x in lbs)
                    if not lb.healthy or healthy_now > self.min_healthy:
                        lb.healthy = not lb.healthy
                capacity = lb.capacity + int((random() - 0.5) * 20)
                lb.capacity = 10 if capacity < 10 else 100 if capacity > 100 else capacity

    def next_plan(self, generation: int) -> Plan:
        trees = {name: tuple([Target(a, lb.capacity) for lb in lbs if lb.healthy
                              for a in lb.addresses])
                 for name, lbs in self.fleet.items()}
        return Plan(generation, trees, dict(self.endpoints))

    def publish(self) -> Plan:
        newest = self.store.newest()
        self.drift()
        plan = self.next_plan((newest.generation if newest else 0) + 1)
        self.store.put(plan)
        self.history.append("planner", Kind.PLAN_PUBLISHED, generation=plan.generation)
        return plan
