"""DNS plans: per plan tree, a set of weighted addresses; per endpoint, the tree it uses.

As in the real system, one *regional* tree is shared by several endpoints (the regional
endpoint and the IPv6 endpoint), so one stale plan can take out both.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    """One load balancer address with its weight."""

    address: str
    weight: int

    def __init__(self, address: str, weight: int):    # frozen; a planner makes ~20 a plan
        d = self.__dict__
        d["address"] = address
        d["weight"] = weight

    @property
    def rtype(self) -> str:
        return "AAAA" if ":" in self.address else "A"


@dataclass(frozen=True)
class Plan:
    """Generation ``generation`` of the DNS plan."""

    generation: int
    trees: dict[str, tuple[Target, ...]]   # tree name -> targets
    endpoints: dict[str, str]              # endpoint name -> tree name

    def tree_of(self, endpoint: str) -> tuple[Target, ...]:
        return self.trees[self.endpoints[endpoint]]

    def to_json(self) -> dict:
        return {"generation": self.generation,
                "trees": {t: [[x.address, x.weight] for x in xs] for t, xs in self.trees.items()},
                "endpoints": dict(self.endpoints)}

    @staticmethod
    def from_json(obj: dict) -> "Plan":
        return Plan(int(obj["generation"]),
                    {t: tuple(Target(a, int(w)) for a, w in xs) for t, xs in obj["trees"].items()},
                    dict(obj["endpoints"]))


# The endpoints the lab serves, in the zone, and the tree each uses (names in the
# incident's own vocabulary; the zone is a lab-only .test zone).
DEFAULT_ENDPOINTS = {
    "dynamodb.us-east-1": "regional",        # the public regional endpoint
    "dynamodb.us-east-1.api": "regional",    # the newer IPv6 endpoint (dual-stack)
    "dynamodb-streams.us-east-1": "streams",
}
